//! `mesh-sim`: run a MESH scenario with many nodes in one process.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mesh_net::GossipDegree;
use mesh_sim::clock::{Clock, Measured};
use mesh_sim::delay::LinkModel;
use mesh_sim::memory::Memory;
use mesh_sim::net::NodeSettings;
use mesh_sim::{churn, discovery, flash, negotiation, propagation, suite};
use serde::Serialize;

/// Many real MESH nodes in one process, over in-memory links with a latency and a loss rate.
#[derive(Debug, Parser)]
#[command(name = "mesh-sim", version)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

/// Settings every scenario shares.
#[derive(Debug, Args)]
struct Common {
    /// Nodes.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// One-way latency of every link, ms.
    #[arg(long, default_value_t = 25)]
    latency_ms: u64,
    /// Probability that a chunk read from a link was lost and arrives a retransmission
    /// timeout (200 ms + one round trip) late.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Most connections per node.
    #[arg(long, default_value_t = 48)]
    max_connections: u32,
    /// Gossip mesh degree (gossipsub's D) of every node.
    #[arg(long, default_value_t = 6)]
    gossip_degree: usize,
    /// Gossip messages above this many bytes make a node send IDONTWANT to its mesh peers
    /// (MESH's default: gossipsub's 1000).
    #[arg(long, default_value_t = 1000)]
    idontwant_above: usize,
    /// Publishers send their intents only to their gossip mesh, not to every peer on the
    /// topic (gossipsub's flood publishing, MESH's default).
    #[arg(long)]
    no_flood_publish: bool,
    /// Random live nodes each node bootstraps from.
    #[arg(long, default_value_t = 3)]
    degree: usize,
    /// Seconds (of the run's clock) after which a connection nothing uses closes. Short ones make
    /// DHT queries dial again and again, each dial a handshake.
    #[arg(long, default_value_t = 30)]
    idle_timeout_secs: u64,
    /// Seconds (of the run's clock) a DHT query or a discovery may take, half of it for one
    /// request. Longer lets lookups finish on a loaded machine with `--clock real`, but keeps
    /// more requests and connections open at once.
    #[arg(long, alias = "wall-timeout-secs", default_value_t = 30)]
    timeout_secs: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// `virtual`: latencies exact and processing free; `real`: wall clock on every core.
    #[arg(long, value_enum, default_value_t = Clock::Virtual)]
    clock: Clock,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

impl Common {
    /// Runs a scenario on this run's clock, prints its report and the process's peak memory per
    /// node, and writes them with the clock to `--json` when given.
    fn measure<R: Serialize>(
        &self,
        scenario: impl Future<Output = anyhow::Result<R>>,
        print: fn(&R, Clock),
    ) -> anyhow::Result<()> {
        let report = self.clock.runtime()?.block_on(scenario)?;
        let memory = Memory::measure();
        print(&report, self.clock);
        if let Some(m) = memory {
            println!("{m}");
        }
        if let Some(path) = &self.json {
            let measured = Measured {
                clock: self.clock,
                provenance: Some(mesh_sim::provenance::Provenance::current()),
                memory,
                report: &report,
            };
            std::fs::write(path, serde_json::to_string_pretty(&measured)?)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            println!("report written to {}", path.display());
        }
        Ok(())
    }

    fn settings(&self) -> anyhow::Result<NodeSettings> {
        anyhow::ensure!(
            (0.0..1.0).contains(&self.loss),
            "--loss must be in [0, 1), for example 0.01 for 1%"
        );
        Ok(NodeSettings {
            link: LinkModel {
                latency: Duration::from_millis(self.latency_ms),
                loss: self.loss,
            },
            max_connections: self.max_connections,
            gossip_degree: GossipDegree::new(self.gossip_degree)?,
            idontwant_above: self.idontwant_above,
            flood_publish: !self.no_flood_publish,
            idle_connection_timeout: Duration::from_secs(self.idle_timeout_secs),
            timeout: Duration::from_secs(self.timeout_secs),
        })
    }
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// How fast intents reach every subscriber, copies received, bytes sent.
    Propagation {
        #[command(flatten)]
        common: Common,
        /// Intents measured.
        #[arg(long, default_value_t = 10)]
        intents: usize,
        /// Inline payload per intent, bytes (at most 49152).
        #[arg(long, default_value_t = 0)]
        payload_bytes: usize,
        /// Simulated seconds the network settles once the mesh has formed, before the
        /// measurement: longer lets the DHT's start-up traffic die down.
        #[arg(long, default_value_t = 5)]
        settle_secs: u64,
    },
    /// How many DHT requests and rounds a node needs to find agents of a rare capability.
    Discovery {
        #[command(flatten)]
        common: Common,
        /// Nodes offering the rare capability.
        #[arg(long, default_value_t = 5)]
        providers: usize,
        /// Discovery queries, each from a different node.
        #[arg(long, default_value_t = 20)]
        queries: usize,
        /// Simulated seconds the network settles after the last node started, before the
        /// queries; its second half is measured as the network at rest.
        #[arg(long, default_value_t = 30)]
        settle_secs: u64,
    },
    /// Negotiations from intent to receipt: completed per second, time to receipt.
    Negotiation {
        #[command(flatten)]
        common: Common,
        /// Nodes that publish intents.
        #[arg(long, default_value_t = 10)]
        publishers: usize,
        /// Intents each publisher publishes at once.
        #[arg(long, default_value_t = 5)]
        intents_per_publisher: usize,
        /// Agents bidding on each intent, on average.
        #[arg(long, default_value_t = 3)]
        bidders: usize,
        /// How long a publisher collects offers before it awards, ms.
        #[arg(long, default_value_t = 1000)]
        window_ms: u64,
    },
    /// Every scenario at one size: JSON, SVG charts and a report against the targets.
    Suite {
        #[command(flatten)]
        common: Common,
        /// Directory for the JSON files, the charts and report.md.
        #[arg(long, default_value = "sim-report")]
        out: PathBuf,
        /// Gossip degrees measured besides --gossip-degree, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "3,4")]
        degrees: Vec<usize>,
        /// Seconds of churn.
        #[arg(long, default_value_t = 120)]
        churn_duration_s: u64,
        /// Parts this run measures, comma-separated; the others are read from --out when they
        /// are there (so two processes can measure different parts into one directory).
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "propagation,degrees,large,discovery,negotiation,churn"
        )]
        parts: Vec<suite::Part>,
        /// Read the parts already in --out instead of measuring them again (after a stopped
        /// run, or to write the report from parts measured by other runs).
        #[arg(long)]
        resume: bool,
    },
    /// Covert flash: attackers join the honest nodes' meshes, forward for a while, then stop;
    /// honest delivery in both phases and how fast each attacker's score falls below zero.
    /// `--nodes` counts the honest nodes.
    Flash {
        #[command(flatten)]
        common: Common,
        /// Attackers.
        #[arg(long, default_value_t = 20)]
        attackers: usize,
        /// Honest nodes each attacker dials.
        #[arg(long, default_value_t = 8)]
        attacker_links: usize,
        /// Seconds the attackers forward, while intents flow.
        #[arg(long, default_value_t = 20)]
        behave_s: u64,
        /// Seconds intents flow after they stop.
        #[arg(long, default_value_t = 45)]
        flash_s: u64,
        /// One intent every this many ms, from a random honest node.
        #[arg(long, default_value_t = 500)]
        intent_interval_ms: u64,
        /// Seconds the network settles (meshes form) before intents flow.
        #[arg(long, default_value_t = 10)]
        settle_s: u64,
    },
    /// Delivery while a share of the nodes leaves and joins every minute.
    Churn {
        #[command(flatten)]
        common: Common,
        /// Share of the nodes replaced per minute.
        #[arg(long, default_value_t = 0.1)]
        churn_per_minute: f64,
        /// Seconds of churn while intents flow.
        #[arg(long, default_value_t = 120)]
        duration_s: u64,
        /// One intent every this many ms, from a random node.
        #[arg(long, default_value_t = 1000)]
        intent_interval_ms: u64,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "error".to_owned()))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().scenario {
        Scenario::Propagation {
            common,
            intents,
            payload_bytes,
            settle_secs,
        } => {
            let params = propagation::Params {
                settle: Duration::from_secs(settle_secs),
                nodes: common.nodes,
                settings: common.settings()?,
                intents,
                payload_bytes,
                degree: common.degree,
                seed: common.seed,
                clock: common.clock,
                ..propagation::Params::default()
            };
            common.measure(propagation::run(&params), print_propagation)?;
        }
        Scenario::Discovery {
            common,
            providers,
            queries,
            settle_secs,
        } => {
            anyhow::ensure!(settle_secs >= 2, "--settle-secs must be at least 2");
            let params = discovery::Params {
                nodes: common.nodes,
                providers,
                queries,
                settings: common.settings()?,
                degree: common.degree,
                seed: common.seed,
                clock: common.clock,
                settle: Duration::from_secs(settle_secs),
            };
            common.measure(discovery::run(&params), print_discovery)?;
        }
        Scenario::Negotiation {
            common,
            publishers,
            intents_per_publisher,
            bidders,
            window_ms,
        } => {
            let params = negotiation::Params {
                nodes: common.nodes,
                publishers,
                intents_per_publisher,
                bidders,
                window: Duration::from_millis(window_ms),
                settings: common.settings()?,
                degree: common.degree,
                seed: common.seed,
                clock: common.clock,
                ..negotiation::Params::default()
            };
            common.measure(negotiation::run(&params), print_negotiation)?;
        }
        Scenario::Suite {
            common,
            out,
            degrees,
            churn_duration_s,
            parts,
            resume,
        } => {
            let mut params = suite::Params::at(common.nodes, out.clone());
            params.settings = common.settings()?;
            params.degrees = degrees;
            params.churn_duration = Duration::from_secs(churn_duration_s);
            params.seed = common.seed;
            params.clock = common.clock;
            params.parts = parts;
            params.resume = resume;
            if common
                .clock
                .runtime()?
                .block_on(suite::run(&params))?
                .is_none()
            {
                return Ok(());
            }
            println!(
                "{}",
                std::fs::read_to_string(out.join("report.md")).unwrap_or_default()
            );
            println!("report, charts and JSON written to {}", out.display());
        }
        Scenario::Flash {
            common,
            attackers,
            attacker_links,
            behave_s,
            flash_s,
            intent_interval_ms,
            settle_s,
        } => {
            anyhow::ensure!(
                intent_interval_ms > 0,
                "--intent-interval-ms must be at least 1"
            );
            let params = flash::Params {
                settle: Duration::from_secs(settle_s),
                nodes: common.nodes,
                attackers,
                attacker_links,
                behave: Duration::from_secs(behave_s),
                flash: Duration::from_secs(flash_s),
                intent_interval: Duration::from_millis(intent_interval_ms),
                settings: common.settings()?,
                degree: common.degree,
                seed: common.seed,
                clock: common.clock,
                ..flash::Params::default()
            };
            common.measure(flash::run(&params), print_flash)?;
        }
        Scenario::Churn {
            common,
            churn_per_minute,
            duration_s,
            intent_interval_ms,
        } => {
            anyhow::ensure!(
                intent_interval_ms > 0,
                "--intent-interval-ms must be at least 1"
            );
            let params = churn::Params {
                nodes: common.nodes,
                churn_per_minute,
                duration: Duration::from_secs(duration_s),
                intent_interval: Duration::from_millis(intent_interval_ms),
                settings: common.settings()?,
                degree: common.degree,
                seed: common.seed,
                clock: common.clock,
                ..churn::Params::default()
            };
            common.measure(churn::run(&params), print_churn)?;
        }
    }
    Ok(())
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |v| format!("{v:.1}"))
}

fn print_propagation(r: &propagation::Report, clock: Clock) {
    println!(
        "propagation: {} nodes, {} ms links, loss {}, {} intents of {} B payload, seed {}, {} clock",
        r.nodes,
        r.latency_ms,
        r.loss,
        r.intents.len(),
        r.payload_bytes,
        r.seed,
        clock
    );
    println!("| measure | value |\n|---|---:|");
    println!("| setup (start + mesh formed), s | {:.1} |", r.setup_s);
    println!(
        "| connections / mesh peers per node | {:.1} / {:.1} |",
        r.mean_connections, r.mean_mesh_peers
    );
    println!("| delivery ratio | {:.4} |", r.delivery_ratio);
    println!(
        "| time to 50% / 95% / 100%, median ms | {} / {} / {} |",
        ms(r.median_t50_ms),
        ms(r.median_t95_ms),
        ms(r.median_t100_ms)
    );
    println!(
        "| ideal (gossip hops {} x latency), ms | {:.1} |",
        r.gossip_hops, r.ideal_ms
    );
    println!(
        "| time to 100% / ideal | {} |",
        r.t100_over_ideal
            .map_or("-".to_owned(), |v| format!("{v:.2}"))
    );
    println!(
        "| physical limit (shortest path over connections, {} hops x latency), ms | {:.1} |",
        r.connection_hops, r.connection_ideal_ms
    );
    println!(
        "| time to 100% / physical limit | {} |",
        r.t100_over_connection_ideal
            .map_or("-".to_owned(), |v| format!("{v:.2}"))
    );
    println!(
        "| copies received per delivery | {} |",
        r.copies_per_delivery
            .map_or("-".to_owned(), |v| format!("{v:.2}"))
    );
    println!(
        "| bytes sent per node per intent (all traffic / at the quiet window's rate) | {:.0} / {:.0} |",
        r.bytes_per_node_per_intent, r.background_bytes_per_node_per_intent
    );
    println!(
        "| signed intent as gossiped, bytes | {} |",
        r.intent_bytes.map_or("-".to_owned(), |v| format!("{v:.0}"))
    );
    println!(
        "| bytes per node per intent, less the quiet window, / intent | {} |",
        r.intent_cost_over_intent_bytes
            .map_or("-".to_owned(), |v| format!("{v:.2}"))
    );
}

fn print_discovery(r: &discovery::Report, clock: Clock) {
    println!(
        "discovery: {} nodes, {} providers, {} ms links, {} queries, seed {}, {} clock",
        r.nodes,
        r.providers,
        r.latency_ms,
        r.queries.len(),
        r.seed,
        clock
    );
    println!("| measure | value |\n|---|---:|");
    println!(
        "| queries finding a provider / all providers | {:.2} / {:.2} |",
        r.success_ratio, r.complete_ratio
    );
    println!(
        "| DHT requests until the first provider, median | {} |",
        ms(r.median_first_provider_requests)
    );
    println!(
        "| lookup rounds until the first provider (requests / {}), median | {} |",
        discovery::PARALLELISM,
        ms(r.median_first_provider_rounds)
    );
    println!(
        "| round trips until the first agent record held (counted), median / p90 / max | {} / {} / {} |",
        ms(r.median_first_agent_rounds),
        ms(r.p90_first_agent_rounds),
        ms(r.max_first_agent_rounds)
    );
    println!(
        "| lookup rounds until the first provider, p90 / max | {} / {} |",
        ms(r.p90_first_provider_rounds),
        ms(r.max_first_provider_rounds)
    );
    println!(
        "| whole query, median ms (round trips) | {} ({}) |",
        ms(r.median_latency_ms),
        ms(r.median_latency_rtts)
    );
    println!(
        "| whole query, p90 / max ms | {} / {} |",
        ms(r.p90_latency_ms),
        ms(r.max_latency_ms)
    );
    let b = &r.background;
    println!(
        "| at rest, per node and minute: connections / DHT queries / DHT requests | {:.1} / {:.1} / {:.1} |",
        b.connections_per_node_minute,
        b.dht_queries_per_node_minute,
        b.dht_requests_per_node_minute
    );
    for (kind, n) in &b.dht_queries_per_node_minute_by_type {
        println!("| at rest, DHT queries per node and minute: {kind} | {n:.2} |");
    }
    for (kind, n) in &b.dht_requests_per_node_minute_by_type {
        println!("| at rest, DHT requests per node and minute: {kind} | {n:.1} |");
    }
    println!(
        "| at rest, peers connected per node | {:.1} |",
        b.connected_peers_per_node
    );
    println!(
        "| at rest, connections open per node | {:.1} |",
        b.connections_per_node
    );
    println!(
        "| at rest, nodes refusing at their limit / refusals by the top tenth of nodes | {:.2} / {:.2} |",
        b.refusing_nodes_share, b.refusals_by_top_tenth
    );
    for (reason, n) in &b.refused_per_node_minute {
        println!("| at rest, connections refused per node and minute: {reason} | {n:.2} |");
    }
    let sum = |f: fn(&discovery::QueryResult) -> f64| r.queries.iter().map(f).sum::<f64>();
    println!(
        "| over all queries: agents returned / providers the DHT named / agents named by other agents / records asked of the agent / fetches from agents failed | {} / {} / {} / {} / {} |",
        r.queries.iter().map(|q| q.found).sum::<usize>(),
        sum(|q| q.providers_seen),
        sum(|q| q.members_named),
        sum(|q| q.record_fallbacks),
        sum(|q| q.record_fetch_failures)
    );
    println!(
        "| over all queries: peers a closest-peers lookup of the key ended on / of them among the {} truly closest | {} / {} |",
        discovery::REPLICATION,
        r.queries.iter().map(|q| q.lookup_peers).sum::<usize>(),
        r.queries
            .iter()
            .map(|q| q.lookup_reached_closest)
            .sum::<usize>()
    );
    let pl = &r.placement;
    let list = |v: &[usize]| {
        v.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "| provider records: nodes holding one / of the {} truly closest to the key | {} / {} |",
        discovery::REPLICATION,
        pl.provider_record_holders,
        pl.closest_holding_providers
    );
    println!(
        "| each provider's record at the {} truly closest | {} |",
        discovery::REPLICATION,
        list(&pl.closest_holding_each_provider)
    );
    println!(
        "| each agent record: nodes holding it | {} |",
        list(&pl.agent_record_holders)
    );
    println!(
        "| each agent record at the {} truly closest to its key | {} |",
        discovery::REPLICATION,
        list(&pl.closest_holding_agent_record)
    );
    println!(
        "| routing table, peers per node (mean) | {:.1} |",
        pl.routing_table_mean
    );
    println!(
        "| a node's {} truly closest peers in its routing table: mean / p10 / least | {:.2} / {:.2} / {:.2} |",
        discovery::REPLICATION,
        pl.neighbours_known.mean,
        pl.neighbours_known.p10,
        pl.neighbours_known.min
    );
}

fn print_negotiation(r: &negotiation::Report, clock: Clock) {
    println!(
        "negotiation: {} nodes, {} publishers, {} intents, {} ms links, {} ms window, seed {}, {} clock",
        r.nodes, r.publishers, r.intents, r.latency_ms, r.window_ms, r.seed, clock
    );
    println!("| measure | value |\n|---|---:|");
    println!("| offers taken in | {} |", r.offers);
    println!(
        "| completed / unawarded / failed | {} / {} / {} |",
        r.completed, r.unawarded, r.failed
    );
    println!(
        "| intents with a chosen bidder / a bid / an offer at the publisher | {} / {} / {} |",
        r.intents_with_chosen_bidder, r.intents_with_bid, r.intents_with_offer
    );
    println!(
        "| completed per intent with an offer | {:.3} |",
        r.completed_per_intent_with_offer
    );
    println!("| run, s | {:.2} |", r.run_s);
    println!(
        "| completed negotiations per second | {:.1} |",
        r.completed_per_s
    );
    println!("| INP messages per second | {:.1} |", r.inp_messages_per_s);
    println!(
        "| publish to receipt, median ms | {} |",
        ms(r.median_publish_to_receipt_ms)
    );
    println!(
        "| beyond the offer window, median round trips | {} |",
        ms(r.median_beyond_window_rtts)
    );
    let mut errors: Vec<_> = r.errors.iter().collect();
    errors.sort();
    for (what, n) in errors {
        println!("| error: {what} | {n} |");
    }
}

fn print_churn(r: &churn::Report, clock: Clock) {
    println!(
        "churn: {} nodes, {:.0}% replaced per minute for {:.0} s, {} ms links, seed {}, {} clock",
        r.nodes,
        r.churn_per_minute * 100.0,
        r.duration_s,
        r.latency_ms,
        r.seed,
        clock
    );
    println!("| measure | value |\n|---|---:|");
    println!("| nodes replaced | {} |", r.replaced);
    println!("| intents published | {} |", r.intents);
    println!(
        "| delivered / expected | {} / {} ({:.4}) |",
        r.delivered, r.expected, r.delivery_ratio
    );
    println!(
        "| intents reaching every expected node | {} of {} |",
        r.complete_intents, r.intents
    );
    println!(
        "| time to 95% / 100%, median ms | {} / {} |",
        ms(r.median_t95_ms),
        ms(r.median_t100_ms)
    );
    println!(
        "| deliveries to nodes still joining | {} |",
        r.early_deliveries
    );
}

fn print_flash(r: &flash::Report, clock: Clock) {
    println!(
        "covert flash: {} honest nodes, {} attackers, {} ms links, seed {}, {} clock",
        r.nodes, r.attackers, r.latency_ms, r.seed, clock
    );
    println!("| measure | while the attackers forward | after they stop |\n|---|---:|---:|");
    let (b, f) = (&r.behaved, &r.flashed);
    println!("| intents published | {} | {} |", b.intents, f.intents);
    println!(
        "| delivered / expected | {} / {} ({:.4}) | {} / {} ({:.4}) |",
        b.delivered, b.expected, b.delivery_ratio, f.delivered, f.expected, f.delivery_ratio
    );
    println!(
        "| latency p50 / p99, ms | {} / {} | {} / {} |",
        ms(b.p50_ms),
        ms(b.p99_ms),
        ms(f.p50_ms),
        ms(f.p99_ms)
    );
    println!(
        "attackers in honest meshes at the stop: {} of {}; (node, attacker) mesh links: {}; \
         fallen below zero or dropped: {}",
        r.attackers_in_meshes, r.attackers, r.judges, r.judges_fallen
    );
    println!(
        "slowest fall: {} s = {} heartbeats; honest peers scored below zero: {}",
        ms(r.slowest_fall_s),
        ms(r.slowest_fall_heartbeats),
        r.honest_scored_below_zero
    );
}
