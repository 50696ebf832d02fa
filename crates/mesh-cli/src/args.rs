//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use libp2p::{Multiaddr, PeerId};
use mesh_core::Capability;

/// MESH: a peer-to-peer network where AI agents find each other by capability and trade work.
#[derive(Debug, Parser)]
#[command(name = "mesh", version, propagate_version = true)]
pub struct Cli {
    /// The node's home directory (identity, API token, API address).
    /// Default: the XDG data directory, e.g. ~/.local/share/mesh
    #[arg(long, global = true, env = "MESH_HOME")]
    pub home: Option<PathBuf>,
    /// More log output (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create this node's identity (an Ed25519 key) in its home.
    Init {
        /// Replace an existing identity.
        #[arg(long)]
        force: bool,
        /// Keep the key encrypted with a passphrase (argon2id, XChaCha20-Poly1305). The
        /// passphrase comes from --passphrase-file, else MESH_KEY_PASSPHRASE, else is asked
        /// twice on the terminal.
        #[arg(long)]
        encrypt: bool,
        /// File holding the passphrase (its content less one trailing newline).
        #[arg(long, value_name = "FILE", requires = "encrypt")]
        passphrase_file: Option<PathBuf>,
    },
    /// Run a node until Ctrl-C.
    Node(NodeArgs),
    /// Encrypt or decrypt the identity key in place; the peer id stays the same.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Show this node's peer id and addresses.
    Id {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List connected peers.
    Peers {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publish and watch intents.
    #[command(subcommand)]
    Intents(IntentsCommand),
    /// Find agents.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Bid, haggle, agree, deliver and receipt; export and verify transcripts.
    #[command(subcommand)]
    Negotiations(NegotiationsCommand),
    /// Inspect the node's store (with the node stopped).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Show this node's view of a peer's reputation: the figure discovery and the offer
    /// strategy use, and what it rests on (receipts, this node's own observations).
    Reputation {
        /// The peer's id, as `mesh peers` shows it (12D3KooW...).
        #[arg(value_name = "PEER_ID", value_parser = parse_peer_id)]
        peer: PeerId,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Explain this node's reachability in plain words: AutoNAT's verdict and why, the NAT,
    /// addresses, relay reservations, each peer direct or relayed, and what to do.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the local API's OpenAPI document (the same one a node serves at /openapi.json).
    Openapi,
    /// Start a small local mesh and narrate discovery and intent flow.
    Demo {
        /// Leave the mesh running until Ctrl-C, to try the other commands on it.
        #[arg(long)]
        keep_running: bool,
    },
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Address to listen on (repeatable). Default: a free TCP and QUIC port on all interfaces.
    #[arg(long = "listen", value_name = "MULTIADDR", value_parser = parse_multiaddr)]
    pub listen: Vec<Multiaddr>,
    /// Bootstrap peer to dial at start (repeatable), e.g. /ip4/127.0.0.1/tcp/7701/p2p/12D3Koo...
    #[arg(long = "bootstrap", value_name = "MULTIADDR", value_parser = parse_multiaddr)]
    pub bootstrap: Vec<Multiaddr>,
    /// Capability this node offers (repeatable), e.g. text-generation.
    #[arg(long = "capability", value_name = "NAME", value_parser = parse_capability)]
    pub capabilities: Vec<Capability>,
    /// Display name advertised in the agent record.
    #[arg(long)]
    pub name: Option<String>,
    /// Where the local API listens (loopback only; port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0", value_parser = parse_api_addr)]
    pub api: SocketAddr,
    /// Do not discover peers on the local network with mDNS.
    #[arg(long)]
    pub no_mdns: bool,
    /// Stop when standard input closes: a program that starts the node as a child with a pipe
    /// on its stdin takes the node down with it, even if it is killed.
    #[arg(long)]
    pub exit_on_stdin_close: bool,
    /// Intents one publisher may send through this node per minute (bursts as large), this
    /// node's own included. A network parameter: every node of a network should use the same.
    #[arg(long, value_name = "N", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    pub intent_quota: u32,
    /// Proof-of-work stamp every intent must carry, in leading zero bits (0 for none, at most
    /// 32): intents below it are rejected, and this node stamps its own (about 2^N hashes
    /// each: 20 bits is a fraction of a second). A network parameter: every node of a network
    /// must use the same.
    #[arg(long, value_name = "BITS", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=32))]
    pub proof_of_work_bits: u8,
    #[command(flatten)]
    pub reach: ReachArgs,
    #[command(flatten)]
    pub reputation: ReputationArgs,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

/// Reputation from receipts: whom `mesh node` trusts from the start, and whether it shares its
/// receipts.
#[derive(Debug, Args)]
pub struct ReputationArgs {
    /// A peer whose receipts count from the start, as this node's own do (repeatable, at most
    /// 64): an operator's seed identity you know, e.g. 12D3KooW... Without it, only this
    /// node's own receipts, and those of agents they vouch for, count.
    #[arg(long = "trust-peer", value_name = "PEER_ID", value_parser = parse_peer_id)]
    pub trust_peers: Vec<PeerId>,
    /// Do not publish the attestations of this node's completed negotiations on the receipts
    /// topic (they still count here).
    #[arg(long)]
    pub no_share_receipts: bool,
}

/// Role, NAT traversal and discovery sources of `mesh node`.
#[derive(Debug, Args)]
pub struct ReachArgs {
    /// agent (default): publishes and fulfils intents, uses relays when behind a NAT.
    /// coordinator: also serves rendezvous, circuit relay v2, AutoNAT and the DHT for others.
    #[arg(long, value_name = "ROLE", default_value = "agent", value_parser = parse_role)]
    pub role: mesh_net::Role,
    /// Relay to reserve a slot at from the start, e.g. /ip4/203.0.113.7/tcp/7700/p2p/12D3Koo...
    /// (repeatable). Without it, an agent reserves at the coordinators it is connected to once
    /// AutoNAT finds it behind a NAT.
    #[arg(long = "relay", value_name = "MULTIADDR", value_parser = parse_multiaddr)]
    pub relays: Vec<Multiaddr>,
    /// An address this node is reachable at from outside (repeatable), e.g. the public address
    /// of a coordinator behind a 1:1 NAT.
    #[arg(long = "external-address", value_name = "MULTIADDR", value_parser = parse_multiaddr)]
    pub external_addresses: Vec<Multiaddr>,
    /// Do not ask the router for a port mapping with UPnP (agents ask by default).
    #[arg(long)]
    pub no_upnp: bool,
    /// Let AutoNAT use peers and addresses on private IP ranges: for private networks and
    /// test beds whose "public" side has private addresses.
    #[arg(long)]
    pub autonat_private_ips: bool,
    /// Do not look agents up in the DHT (rendezvous only).
    #[arg(long)]
    pub no_dht_discovery: bool,
    /// Do not register at or ask rendezvous points (DHT only).
    #[arg(long)]
    pub no_rendezvous: bool,
    /// Connected peers to aim for; below it the node walks the DHT for more.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub target_peers: usize,
}

/// Where the passphrase of an encrypted identity key comes from.
#[derive(Debug, Args)]
pub struct PassphraseArgs {
    /// File holding the passphrase of the identity key (its content less one trailing
    /// newline). Without it: MESH_KEY_PASSPHRASE, else a prompt when standard input is a
    /// terminal. A plaintext key needs none.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Encrypt the plaintext identity key with a new passphrase (asked twice on a terminal).
    Encrypt(PassphraseArgs),
    /// Decrypt the identity key, storing it in plain text (mode 0600) again.
    Decrypt(PassphraseArgs),
}

#[derive(Debug, Subcommand)]
pub enum IntentsCommand {
    /// Sign and publish an intent; prints its id.
    Publish(PublishArgs),
    /// Print intents as they arrive, until Ctrl-C.
    Watch {
        /// Only intents needing this capability (repeatable); the node joins its topic.
        #[arg(long = "capability", value_name = "NAME", value_parser = parse_capability)]
        capabilities: Vec<Capability>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// List intents this node knows with their status: its own first, then open ones.
    List {
        /// Most intents listed.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show one intent and where it stands.
    Show {
        /// Intent id (64 hex digits).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel an intent this node published that nobody was awarded yet.
    Cancel {
        /// Intent id (64 hex digits).
        id: String,
        /// Why, for the agents.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Choose among the offers on an intent this node published: the lowest price among
    /// eligible agents wins, the others are rejected.
    Award(AwardArgs),
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Check every invariant of the store; exit code 0 only when it is consistent.
    Check,
}

#[derive(Debug, Args)]
pub struct AwardArgs {
    /// Intent id (64 hex digits).
    pub id: String,
    /// Collect offers this long before choosing, e.g. 10s (default: choose now).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub window: Duration,
    /// Lowest reputation of an eligible agent (default: the intent's own minimum).
    #[arg(long, value_parser = parse_unit)]
    pub min_reputation: Option<f64>,
    /// Counter the chosen offer at this price when it asks more, e.g. "1.50 USD".
    #[arg(long, value_name = "PRICE")]
    pub counter_at: Option<String>,
    /// How long to wait for the answer to a counter.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub answer_wait: Duration,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Capability the work needs (repeatable, at least one).
    #[arg(long = "capability", value_name = "NAME", required = true, value_parser = parse_capability)]
    pub capabilities: Vec<Capability>,
    /// Short summary.
    #[arg(long)]
    pub title: String,
    /// Longer description.
    #[arg(long)]
    pub description: Option<String>,
    /// Budget, e.g. "2.50 USD" (currency defaults to USD).
    #[arg(long, value_name = "AMOUNT")]
    pub budget: Option<String>,
    /// How long the intent stays open, e.g. 10m, 2h (default 1h, at most 7d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ttl: Option<Duration>,
    /// File whose content travels inline with the intent (at most 48 KiB).
    #[arg(long, value_name = "FILE")]
    pub payload_file: Option<PathBuf>,
    /// Media type of the payload.
    #[arg(long, default_value = "application/octet-stream")]
    pub content_type: String,
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Find agents offering every named capability, best first.
    Discover {
        /// Capability wanted (repeatable, at least one).
        #[arg(long = "capability", value_name = "NAME", required = true, value_parser = parse_capability)]
        capabilities: Vec<Capability>,
        /// Lowest local reputation accepted, in [0, 1].
        #[arg(long, default_value_t = 0.0, value_parser = parse_unit)]
        min_reputation: f64,
        /// Most agents listed.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum NegotiationsCommand {
    /// List this node's negotiations.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one negotiation; with --json, the exportable signed transcript.
    Show {
        /// Negotiation id (64 hex digits).
        id: String,
        /// Print JSON (save it to a file for `mesh negotiations verify`).
        #[arg(long)]
        json: bool,
    },
    /// Print negotiation messages as this node sends and receives them, until Ctrl-C.
    Watch {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Verify an exported transcript offline: exit code 0 only for a valid chain.
    Verify {
        /// A file written from `mesh negotiations show ID --json`.
        file: PathBuf,
    },
    /// Bid on an intent this node has received.
    Offer {
        /// The intent id (64 hex digits), as `mesh intents watch` shows it.
        #[arg(long)]
        intent: String,
        #[command(flatten)]
        terms: TermsArgs,
    },
    /// Propose other terms to the agent (publisher).
    Counter {
        /// Negotiation id.
        id: String,
        #[command(flatten)]
        terms: TermsArgs,
    },
    /// Accept the other party's outstanding proposal.
    Accept {
        /// Negotiation id.
        id: String,
    },
    /// Reject the other party's outstanding proposal, ending the negotiation.
    Reject {
        /// Negotiation id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Withdraw before an agreement.
    Withdraw {
        /// Negotiation id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Cancel an agreement whose delivery is overdue (publisher); the intent may then be
    /// awarded again.
    Cancel {
        /// Negotiation id.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Deliver the agreed work (agent): a file inline (at most 48 KiB), or a location.
    Deliver {
        /// Negotiation id.
        id: String,
        /// File whose content is the result.
        #[arg(long, value_name = "FILE", conflicts_with = "location")]
        result_file: Option<PathBuf>,
        /// Media type of the result file.
        #[arg(long, default_value = "text/plain")]
        content_type: String,
        /// Where the result can be fetched (with --digest).
        #[arg(long, requires = "digest")]
        location: Option<String>,
        /// SHA-256 of the result at --location, 64 hex digits.
        #[arg(long)]
        digest: Option<String>,
    },
    /// Rate the delivery, completing the negotiation (publisher).
    Receipt {
        /// Negotiation id.
        id: String,
        /// Rating in [0, 1].
        #[arg(long, value_parser = parse_unit)]
        rating: f64,
        /// Comment.
        #[arg(long, default_value = "")]
        comment: String,
    },
}

#[derive(Debug, Args)]
pub struct TermsArgs {
    /// Price, e.g. "2.50 USD" (currency defaults to USD).
    #[arg(long)]
    pub price: String,
    /// Delivery within this long of the agreement, e.g. 30m.
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub eta: Duration,
    /// Free-text conditions.
    #[arg(long, default_value = "")]
    pub terms: String,
}

fn parse_multiaddr(s: &str) -> Result<Multiaddr, String> {
    s.parse::<Multiaddr>().map_err(|e| {
        format!("{e}; a multiaddr looks like /ip4/127.0.0.1/tcp/7700 or /ip4/127.0.0.1/tcp/7700/p2p/12D3Koo...")
    })
}

/// A loopback socket address: the local API is a control interface, never a public one.
fn parse_api_addr(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s.parse().map_err(|e| {
        format!("{e}; use e.g. 127.0.0.1:7070 or [::1]:7070 (port 0 picks a free one)")
    })?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address: the local API is a control interface, not a public one; use 127.0.0.1:PORT or [::1]:PORT"
        ));
    }
    Ok(addr)
}

fn parse_peer_id(s: &str) -> Result<PeerId, String> {
    s.parse::<PeerId>().map_err(|e| {
        format!(
            "{s:?} is not a peer id ({e}); use the base58 id `mesh id` or `mesh peers` shows, e.g. 12D3KooW..."
        )
    })
}

fn parse_role(s: &str) -> Result<mesh_net::Role, String> {
    s.parse()
}

fn parse_capability(s: &str) -> Result<Capability, String> {
    Capability::new(s).map_err(|e| e.to_string())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e}; use e.g. 90s, 10m, 2h"))
}

fn parse_unit(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number; use a value in [0, 1] such as 0.8"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside [0, 1]"))
    }
}
