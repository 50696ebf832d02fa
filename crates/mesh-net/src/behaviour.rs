//! The composed libp2p behaviour of a MESH node and the swarm that drives it.

use std::time::Duration;

use libp2p::gossipsub::{self, MessageAuthenticity, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::kad::{self, store::MemoryStore, store::MemoryStoreConfig};
use libp2p::request_response::{self};
use libp2p::swarm::{NetworkBehaviour, behaviour::toggle::Toggle};
use libp2p::{
    StreamProtocol, Swarm, SwarmBuilder, autonat, connection_limits, dcutr, identify, mdns, noise,
    ping, relay, rendezvous, tcp, upnp, yamux,
};
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};

use crate::config::NetConfig;
use crate::error::NetError;

/// Largest gossipsub frame: one intent envelope or receipt attestation (with its delivery),
/// whichever is larger, plus gossipsub's own framing.
pub(crate) const MAX_GOSSIP_TRANSMIT_BYTES: usize = max(
    mesh_core::intent::MAX_INTENT_ENVELOPE_BYTES,
    mesh_core::trust::MAX_ATTESTATION_BYTES,
) + 4096;

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}
/// Kademlia protocol id of the MESH DHT.
pub const KAD_PROTOCOL: &str = "/mesh/kad/1.0.0";
/// Identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/mesh/1.0.0";
/// How often a node refreshes its DHT routing table (a lookup of its own id, then one in
/// each farther bucket), counted from its last refresh; the first falls at the node's own
/// share of it after the start (`adp::spread`). Ten minutes, as the IPFS DHT's routing table
/// refresh: each refresh is several lookups (about 15 requests a node-minute at 300 nodes
/// every 5 minutes, 40% of a settled node's DHT traffic), while every lookup a node makes or
/// answers keeps its routing table current in between, and peers that fail are dropped from
/// it when they do.
pub(crate) const DHT_REFRESH_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Largest Kademlia packet.
pub(crate) const MAX_KAD_PACKET_BYTES: usize = 64 * 1024;

/// All protocols of a MESH node.
#[derive(NetworkBehaviour)]
pub struct MeshBehaviour {
    /// Refuses dials and inbound attempts before their handshake at the connection limit, and
    /// inbound ones beyond the cap per IP address.
    pub gate: crate::connections::gate::Behaviour,
    /// Connection limits, checked before any other behaviour sees a connection.
    pub limits: connection_limits::Behaviour,
    /// Identify: exchange listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// Ping: liveness and RTT.
    pub ping: ping::Behaviour,
    /// Kademlia DHT on `/mesh/kad/1.0.0`.
    pub kad: kad::Behaviour<MemoryStore>,
    /// Gossipsub with application validation.
    pub gossipsub: gossipsub::Behaviour,
    /// IDP catch-up: open intents for a joining node.
    pub catchup: request_response::Behaviour<crate::idp::CatchupCodec>,
    /// Receipts catch-up (`/mesh/receipts/1.0.0`): receipt attestations for a joining node.
    pub receipt_catchup: request_response::Behaviour<crate::receipt_catchup::ReceiptsCodec>,
    /// INP: negotiation messages between publisher and agent.
    pub inp: request_response::Behaviour<crate::inp::InpCodec>,
    /// mDNS, when enabled.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Circuit relay v2 server (hop), on coordinators.
    pub relay_server: Toggle<relay::Behaviour>,
    /// Circuit relay v2 client: reservations and relayed connections (absent on transports
    /// that cannot carry it, such as the simulator's).
    pub relay_client: Toggle<relay::client::Behaviour>,
    /// DCUtR: upgrades a relayed connection to a direct one by hole punching.
    pub dcutr: dcutr::Behaviour,
    /// AutoNAT (v1): asks peers to dial back to learn whether this node is reachable, and
    /// answers their dial-back requests.
    pub autonat: autonat::Behaviour,
    /// UPnP IGD port mapping on the local router, when enabled.
    pub upnp: Toggle<upnp::tokio::Behaviour>,
    /// Rendezvous server, on coordinators.
    pub rendezvous_server: Toggle<rendezvous::server::Behaviour>,
    /// Rendezvous client: registers this agent's capabilities and discovers others.
    pub rendezvous: rendezvous::client::Behaviour,
    /// ADP record fetch: asks an agent found at a rendezvous point for its signed record.
    pub agent_record: request_response::Behaviour<crate::record_fetch::AgentRecordCodec>,
}

/// Builds the swarm: TCP + Noise + Yamux, QUIC, DNS, with bandwidth metrics in `registry`.
pub fn build_swarm(
    keypair: Keypair,
    config: &NetConfig,
    registry: &mut Registry,
) -> Result<Swarm<MeshBehaviour>, NetError> {
    let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        .with_quic()
        .with_other_transport(|key| webrtc_transport(key, config))
        .map_err(|e| setup(&e))?
        .with_dns()
        .map_err(|e| setup(&e))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| setup(&e))?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key, relay_client| {
            build_behaviour(key, config, registry, Some(relay_client))
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();
    Ok(swarm)
}

/// WebRTC-direct with the configured certificate, or nothing without one.
fn webrtc_transport(
    key: &Keypair,
    config: &NetConfig,
) -> Result<
    libp2p::core::transport::OptionalTransport<BoxedTransport>,
    Box<dyn std::error::Error + Send + Sync>,
> {
    use libp2p::core::Transport as _;
    let Some(pem) = &config.webrtc_certificate else {
        return Ok(libp2p::core::transport::OptionalTransport::none());
    };
    // Installed once per process; later calls find it there.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certificate = libp2p_webrtc::tokio::Certificate::from_pem(pem)?;
    let transport = libp2p_webrtc::tokio::Transport::new(key.clone(), certificate)
        .map(|(peer, conn), _| (peer, libp2p::core::muxing::StreamMuxerBox::new(conn)))
        .boxed();
    Ok(libp2p::core::transport::OptionalTransport::some(transport))
}

/// A transport a swarm can run on: authenticated and multiplexed, as `SwarmBuilder` makes them.
pub type BoxedTransport =
    libp2p::core::transport::Boxed<(libp2p::PeerId, libp2p::core::muxing::StreamMuxerBox)>;

/// Builds the swarm on `transport` instead of TCP and QUIC (for example an in-memory transport
/// in a simulation), with the same behaviours and their metrics in `registry`.
pub(crate) fn build_swarm_on(
    keypair: Keypair,
    config: &NetConfig,
    registry: &mut Registry,
    transport: BoxedTransport,
) -> Result<Swarm<MeshBehaviour>, NetError> {
    let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|_| transport)
        .map_err(|e| setup(&e))?
        .with_behaviour(|key| build_behaviour(key, config, registry, None))
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();
    Ok(swarm)
}

fn build_behaviour(
    key: &Keypair,
    config: &NetConfig,
    registry: &mut Registry,
    relay_client: Option<relay::client::Behaviour>,
) -> Result<MeshBehaviour, Box<dyn std::error::Error + Send + Sync>> {
    let peer_id = key.public().to_peer_id();

    let limits = connection_limits::ConnectionLimits::default()
        // The gate refuses at `max_connections`, but lets dials for work use its reserve.
        .with_max_established(Some(config.max_connections.saturating_add(
            crate::connections::gate::reserve_for(config.max_connections as usize) as u32,
        )))
        .with_max_established_per_peer(Some(config.max_connections_per_peer))
        .with_max_pending_incoming(Some(config.max_pending_connections))
        .with_max_pending_outgoing(Some(config.max_pending_connections));

    let identify = identify::Behaviour::new(
        identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
            .with_agent_version(format!("mesh/{}", env!("CARGO_PKG_VERSION"))),
    );

    let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
    kad_config
        .set_query_timeout(config.dht_query_timeout)
        .set_substreams_timeout(config.request_timeout)
        .set_record_filtering(kad::StoreInserts::FilterBoth)
        .set_record_ttl(Some(mesh_core::agent_record::RECORD_TTL))
        .set_publication_interval(None)
        .set_provider_record_ttl(Some(Duration::from_secs(3 * 3600)))
        .set_provider_publication_interval(Some(Duration::from_secs(3600)))
        .set_max_packet_size(MAX_KAD_PACKET_BYTES)
        .set_periodic_bootstrap_interval(Some(DHT_REFRESH_INTERVAL));
    let store = MemoryStore::with_config(
        peer_id,
        MemoryStoreConfig {
            max_records: 4096,
            max_value_bytes: mesh_core::agent_record::MAX_AGENT_RECORD_BYTES,
            max_providers_per_key: 64,
            max_provided_keys: 1024,
        },
    );
    let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
    // Serve the DHT from the start: nodes on private networks and loopback cannot confirm an
    // external address, and a MESH network of such nodes must still work.
    kad.set_mode(Some(kad::Mode::Server));

    let gossip_config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_millis(700))
        .mesh_n(config.gossip_degree.target())
        .mesh_n_low(config.gossip_degree.low())
        .mesh_n_high(config.gossip_degree.high())
        .mesh_outbound_min(config.gossip_degree.outbound_min())
        .gossip_lazy(config.gossip_degree.lazy())
        .idontwant_message_size_threshold(config.gossip_idontwant_above)
        .flood_publish(config.gossip_flood_publish)
        // Every intent and cancellation is a signed envelope that application validation checks
        // at each hop: gossipsub's own author signature would be a second signature check per
        // hop and about a hundred bytes per message for nothing. Messages carry no author,
        // sequence number or signature, and ids come from their content.
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .max_transmit_size(MAX_GOSSIP_TRANSMIT_BYTES)
        // Peer exchange on prune: a pruned peer learns other peers of the topic; PX is taken
        // only from peers whose score reaches `accept_px_threshold`.
        .do_px()
        .duplicate_cache_time(config.gossip_duplicate_cache)
        .message_id_fn(|m: &gossipsub::Message| {
            let mut h = Sha256::new();
            h.update(m.topic.as_str().as_bytes());
            h.update([0u8]);
            h.update(&m.data);
            gossipsub::MessageId::from(h.finalize().to_vec())
        })
        .build()?;
    // Per-topic counters of messages received with and without duplicates, sent, published,
    // and of the mesh: bounded by `MetricsConfig`'s topic limit.
    let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config)?
        .with_metrics(
            registry.sub_registry_with_prefix("gossipsub"),
            gossipsub::MetricsConfig::default(),
        );
    gossipsub.with_peer_score(
        crate::scoring::peer_score_params(),
        crate::scoring::peer_score_thresholds(),
    )?;

    let mdns = if config.mdns {
        Some(mdns::tokio::Behaviour::new(
            mdns::Config::default(),
            peer_id,
        )?)
    } else {
        None
    };

    let catchup = crate::idp::catchup_behaviour(config.request_timeout);

    let inp = crate::inp::behaviour(2 * config.request_timeout);

    Ok(MeshBehaviour {
        gate: crate::connections::gate::Behaviour::new(
            config.max_connections as usize,
            config.max_inbound_per_ip as usize,
            config.ip_limit_exempt.clone(),
        ),
        limits: connection_limits::Behaviour::new(limits),
        identify,
        ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(15))),
        kad,
        gossipsub,
        catchup,
        receipt_catchup: crate::receipt_catchup::behaviour(config.request_timeout),
        inp,
        mdns: Toggle::from(mdns),
        relay_server: Toggle::from(config.role.serves_relay().then(|| {
            let mut relay =
                relay::Behaviour::new(peer_id, crate::reachability::relay_config(config));
            // A coordinator serves the relay by its role: libp2p would wait for a confirmed
            // external address, which a coordinator on a private network never gets.
            relay.set_status(Some(relay::Status::Enable));
            relay
        })),
        relay_client: Toggle::from(relay_client),
        dcutr: dcutr::Behaviour::new(peer_id),
        autonat: autonat::Behaviour::new(peer_id, crate::reachability::autonat_config(config)),
        upnp: Toggle::from(config.nat.upnp.then(upnp::tokio::Behaviour::default)),
        rendezvous_server: Toggle::from(
            config
                .role
                .serves_rendezvous()
                .then(|| rendezvous::server::Behaviour::new(rendezvous::server::Config::default())),
        ),
        rendezvous: rendezvous::client::Behaviour::new(key.clone()),
        agent_record: crate::record_fetch::behaviour(config.request_timeout),
    })
}
