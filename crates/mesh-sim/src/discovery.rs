//! The discovery scenario: a few nodes offer a rare capability; other nodes look for agents
//! offering it through the DHT (`discover_agents`): how many lookup requests and rounds until
//! the first matching agent turns up, how long the whole query takes, and whether it finds them.

use std::time::Duration;

use mesh_core::Capability;
use mesh_net::AgentQuery;
use rand::seq::IteratorRandom;
use serde::Serialize;
use tokio::time::Instant;

use crate::clock::{self, Clock};
use crate::net::NodeSettings;
use crate::observe::Totals;
use crate::population::Population;
use crate::propagation::median;

/// The capability every node offers.
pub const COMMON: &str = "sim";
/// The capability only the providers offer.
pub const RARE: &str = "rare-skill";
/// Requests Kademlia keeps in flight per lookup (libp2p's default `α`).
pub const PARALLELISM: u32 = 3;

/// The histogram of requests sent when the first provider arrived, `_sum` and `_count`.
const FIRST_PROVIDER_SUM: &str = "mesh_discovery_first_provider_requests_sum";
const FIRST_PROVIDER_COUNT: &str = "mesh_discovery_first_provider_requests_count";

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Params {
    /// Nodes.
    pub nodes: usize,
    /// Nodes offering the rare capability.
    pub providers: usize,
    /// Discovery queries, each from a different random node that is not a provider.
    pub queries: usize,
    /// How every node and link is set up.
    pub settings: NodeSettings,
    /// Random live nodes each node bootstraps from.
    pub degree: usize,
    /// Seed.
    pub seed: u64,
    /// The clock.
    pub clock: Clock,
    /// How long the network settles after the nodes started (records and provider records
    /// are announced meanwhile).
    pub settle: Duration,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            nodes: 100,
            providers: 5,
            queries: 20,
            settings: NodeSettings::default(),
            degree: 3,
            seed: 7,
            clock: Clock::Virtual,
            settle: Duration::from_secs(10),
        }
    }
}

/// One query.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    /// Matching agents returned.
    pub found: usize,
    /// DHT requests the provider lookup had sent when the first provider arrived.
    pub first_provider_requests: Option<f64>,
    /// Lookup rounds until then: requests / α, rounded up.
    pub first_provider_rounds: Option<f64>,
    /// Time until `discover_agents` returned (provider lookup and record fetches), ms.
    pub latency_ms: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Nodes.
    pub nodes: usize,
    /// Providers of the rare capability.
    pub providers: usize,
    /// One-way link latency, ms.
    pub latency_ms: f64,
    /// Seed.
    pub seed: u64,
    /// Queries that found at least one provider, over all queries.
    pub success_ratio: f64,
    /// Queries that found every provider, over all queries.
    pub complete_ratio: f64,
    /// Median DHT requests until the first provider.
    pub median_first_provider_requests: Option<f64>,
    /// Median lookup rounds until the first provider: requests / α, rounded up.
    pub median_first_provider_rounds: Option<f64>,
    /// Median time of a whole discovery query, ms.
    pub median_latency_ms: Option<f64>,
    /// The same in round trips of one link.
    pub median_latency_rtts: Option<f64>,
    /// Each query.
    pub queries: Vec<QueryResult>,
}

/// Runs the scenario.
pub async fn run(p: &Params) -> anyhow::Result<Report> {
    anyhow::ensure!(
        p.providers >= 1 && p.providers < p.nodes,
        "--providers must be at least 1 and fewer than --nodes"
    );
    let common = Capability::new(COMMON)?;
    let rare = Capability::new(RARE)?;
    let mut population = Population::new(p.settings.clone(), p.seed);
    // Providers are spread over the start order.
    let stride = p.nodes / p.providers;
    for i in 0..p.nodes {
        let mut caps = vec![common.clone()];
        if i % stride == stride / 2 && i / stride < p.providers {
            caps.push(rare.clone());
        }
        population.add(caps, p.degree)?;
    }
    let providers: Vec<usize> = (0..p.nodes)
        .filter(|i| i % stride == stride / 2 && i / stride < p.providers)
        .collect();
    clock::settle(p.clock, p.settle).await;

    let candidates: Vec<usize> = population
        .live()
        .filter(|i| !providers.contains(i))
        .collect();
    let askers: Vec<usize> = candidates
        .into_iter()
        .choose_multiple(population.rng(), p.queries);
    let mut queries = Vec::with_capacity(askers.len());
    for i in askers {
        let Some(node) = population.get(i) else {
            continue;
        };
        let before = Totals::read_node(node);
        let t0 = Instant::now();
        let found = node
            .handle
            .discover_agents(AgentQuery::new().capabilities([RARE]).limit(p.providers))
            .await?;
        let latency_ms = t0.elapsed().as_secs_f64() * 1e3;
        let spent = Totals::read_node(node).since(&before);
        let first_provider_requests =
            (spent.get(FIRST_PROVIDER_COUNT) > 0.0).then(|| spent.get(FIRST_PROVIDER_SUM));
        queries.push(QueryResult {
            found: found.len(),
            first_provider_requests,
            first_provider_rounds: first_provider_requests
                .map(|r| (r / f64::from(PARALLELISM)).ceil()),
            latency_ms,
        });
    }
    population.stop_all().await;

    let n = queries.len().max(1) as f64;
    let rtt_ms = 2.0 * p.settings.link.latency.as_secs_f64() * 1e3;
    let median_latency_ms = median(queries.iter().map(|q| Some(q.latency_ms)));
    let median_first_provider_requests = median(queries.iter().map(|q| q.first_provider_requests));
    Ok(Report {
        nodes: p.nodes,
        providers: p.providers,
        latency_ms: p.settings.link.latency.as_secs_f64() * 1e3,
        seed: p.seed,
        success_ratio: queries.iter().filter(|q| q.found > 0).count() as f64 / n,
        complete_ratio: queries.iter().filter(|q| q.found == p.providers).count() as f64 / n,
        median_first_provider_rounds: median(queries.iter().map(|q| q.first_provider_rounds)),
        median_first_provider_requests,
        median_latency_rtts: median_latency_ms
            .filter(|_| rtt_ms > 0.0)
            .map(|l| l / rtt_ms),
        median_latency_ms,
        queries,
    })
}
