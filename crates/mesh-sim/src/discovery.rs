//! The discovery scenario: a few nodes offer a rare capability; other nodes look for agents
//! offering it through the DHT (`discover_agents`): how many lookup requests and rounds until
//! the first matching agent turns up, how long the whole query takes, and whether it finds them.

use std::time::Duration;

use libp2p::PeerId;
use mesh_core::Capability;
use mesh_net::AgentQuery;
use rand::seq::IteratorRandom;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::clock::Clock;
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

/// MESH's counts of the providers a discovery's lookups named, of the agent records asked of
/// the agent itself, and of those that did not arrive.
const PROVIDERS_SEEN: &str = "mesh_discovery_providers_seen_total";
const RECORD_FALLBACKS: &str = "mesh_discovery_record_fallbacks_total";
const RECORD_FETCH_FAILURES: &str = "mesh_discovery_record_fetch_failures_total";
/// MESH's count of the agents a discovery learned of from another agent of the capability.
const MEMBERS_NAMED: &str = "mesh_discovery_members_named_total";
/// The histogram of requests sent when the first provider arrived, `_sum` and `_count`.
const FIRST_PROVIDER_SUM: &str = "mesh_discovery_first_provider_requests_sum";
const FIRST_PROVIDER_COUNT: &str = "mesh_discovery_first_provider_requests_count";
const FIRST_AGENT_SUM: &str = "mesh_discovery_first_agent_seconds_sum";
const FIRST_AGENT_COUNT: &str = "mesh_discovery_first_agent_seconds_count";
/// libp2p's count of connections established.
const CONNECTIONS: &str = "libp2p_swarm_connections_established_total";
/// MESH's counts of finished DHT queries (each once, by kind and purpose) and of the requests
/// they sent. (libp2p's `libp2p_kad_query_result_num_requests` histogram records every
/// progress step of a query, a provider lookup's each batch of providers and a bootstrap's
/// each bucket, with the requests so far: it counts such queries many times over.)
const KAD_REQUESTS: &str = "mesh_dht_query_requests_total";
const KAD_QUERIES: &str = "mesh_dht_queries_total";
/// MESH's count of connections refused, by reason, and its gauge of connected peers.
const REFUSED: &str = "mesh_connections_refused_total";
const CONNECTED: &str = "mesh_connected_peers";
/// libp2p's histogram of connection lifetimes: its count is the connections closed.
const CONNECTIONS_CLOSED: &str = "libp2p_swarm_connections_duration_seconds_count";

/// The [`REPLICATION`] of `peers` truly closest to `key` (a record key's bytes), by XOR of the
/// SHA-256 keys as Kademlia measures.
fn truly_closest(peers: impl IntoIterator<Item = PeerId>, key: &[u8]) -> Vec<PeerId> {
    use libp2p::kad::{KBucketKey, RecordKey};
    let target = KBucketKey::new(RecordKey::new(&key));
    let mut ids: Vec<_> = peers
        .into_iter()
        .map(|p| (KBucketKey::from(p).distance(&target), p))
        .collect();
    ids.sort_by_key(|(d, _)| *d);
    ids.into_iter().take(REPLICATION).map(|(_, p)| p).collect()
}

/// The sum of per-node totals.
fn sum_of(per_node: &std::collections::HashMap<usize, Totals>) -> Totals {
    let mut total = Totals::default();
    for t in per_node.values() {
        total.add(t);
    }
    total
}

/// Each live node's totals, by node index.
fn per_node(population: &Population) -> std::collections::HashMap<usize, Totals> {
    population
        .live()
        .filter_map(|i| population.get(i).map(|n| (i, Totals::read_node(n))))
        .collect()
}

/// Connections each node refused at its limit between two readings, for the nodes in both.
fn refusals_at_limit(
    from: &std::collections::HashMap<usize, Totals>,
    to: &std::collections::HashMap<usize, Totals>,
) -> Vec<f64> {
    to.iter()
        .filter_map(|(i, t)| {
            let f = from.get(i)?;
            let limit = |t: &Totals| t.by_label(REFUSED, "reason").get("limit").copied();
            Some(limit(t).unwrap_or(0.0) - limit(f).unwrap_or(0.0))
        })
        .collect()
}

/// The share of the sum of `values` held by the tenth of them that are largest (at least one);
/// 0 when they sum to 0.
fn top_tenth_share(mut values: Vec<f64>) -> f64 {
    let total: f64 = values.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    values.sort_by(|a, b| b.total_cmp(a));
    let top = values.len().div_ceil(10).max(1);
    values.iter().take(top).sum::<f64>() / total
}

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
            // Long enough for records to be announced and connections trimmed once.
            settle: Duration::from_secs(30),
        }
    }
}

/// One query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryResult {
    /// Matching agents returned.
    pub found: usize,
    /// DHT requests the provider lookup had sent when the first provider arrived.
    pub first_provider_requests: Option<f64>,
    /// Lookup rounds until then: requests / α, rounded up.
    pub first_provider_rounds: Option<f64>,
    /// Time until `discover_agents` returned (provider lookup and record fetches), ms.
    pub latency_ms: f64,
    /// Time until the querying node held its first verified agent record, ms.
    #[serde(default)]
    pub first_agent_ms: Option<f64>,
    /// The same in round trips of one link: on the virtual clock, where processing is free
    /// and every link has the same latency, the rounds of requests made one after another
    /// (a provider lookup's steps, then the agent record's), counted rather than estimated.
    #[serde(default)]
    pub first_agent_rounds: Option<f64>,
    /// Providers the DHT lookup named.
    #[serde(default)]
    pub providers_seen: f64,
    /// Agent records the DHT did not hold, asked of the agent itself.
    #[serde(default)]
    pub record_fallbacks: f64,
    /// Record fetches from agents that did not arrive (fallbacks, and agents asked for the
    /// members of the capability's topic).
    #[serde(default)]
    pub record_fetch_failures: f64,
    /// Agents the discovery learned of from another agent of the capability (its topic's
    /// members), not from the DHT.
    #[serde(default)]
    pub members_named: f64,
    /// Of the peers a closest-peers lookup of the capability's key from this node ended on,
    /// those among the 20 truly closest live nodes.
    #[serde(default)]
    pub lookup_reached_closest: usize,
    /// Peers that lookup ended on.
    #[serde(default)]
    pub lookup_peers: usize,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Lookup rounds until the first provider at the 90th percentile and at most.
    #[serde(default)]
    pub p90_first_provider_rounds: Option<f64>,
    /// See `p90_first_provider_rounds`.
    #[serde(default)]
    pub max_first_provider_rounds: Option<f64>,
    /// Round trips until the querying node held its first agent record: median, p90, most
    /// (see `QueryResult::first_agent_rounds`).
    #[serde(default)]
    pub median_first_agent_rounds: Option<f64>,
    /// See `median_first_agent_rounds`.
    #[serde(default)]
    pub p90_first_agent_rounds: Option<f64>,
    /// See `median_first_agent_rounds`.
    #[serde(default)]
    pub max_first_agent_rounds: Option<f64>,
    /// Median time of a whole discovery query, ms.
    pub median_latency_ms: Option<f64>,
    /// The whole query's time at the 90th percentile and at most, ms.
    #[serde(default)]
    pub p90_latency_ms: Option<f64>,
    /// See `p90_latency_ms`.
    #[serde(default)]
    pub max_latency_ms: Option<f64>,
    /// The same in round trips of one link.
    pub median_latency_rtts: Option<f64>,
    /// `p90_latency_ms` in round trips of one link.
    #[serde(default)]
    pub p90_latency_rtts: Option<f64>,
    /// What the network did at rest, before the queries.
    pub background: Background,
    /// Where the DHT held the rare capability's records when the queries started.
    #[serde(default)]
    pub placement: Placement,
    /// Connections refused by reason over all nodes while the queries ran.
    #[serde(default)]
    pub refused_during_queries: std::collections::BTreeMap<String, f64>,
    /// Each query.
    pub queries: Vec<QueryResult>,
}

/// Traffic of the network at rest, per node and minute of the run's clock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Background {
    /// Connections established.
    pub connections_per_node_minute: f64,
    /// DHT requests sent by this node's queries.
    pub dht_requests_per_node_minute: f64,
    /// DHT queries finished.
    pub dht_queries_per_node_minute: f64,
    /// The same by kind of query (`bootstrap`, `closest_peers`, `providers`,
    /// `start_providing`, `put_record`, ...), and by purpose (`for discovery`,
    /// `for topic_peers`, `for find_peer`, `for random_walk`, `for node`: the DHT's upkeep
    /// and the node's announcements).
    #[serde(default)]
    pub dht_queries_per_node_minute_by_type: std::collections::BTreeMap<String, f64>,
    /// DHT requests by the kind and purpose of the query that sent them, as
    /// `dht_queries_per_node_minute_by_type`.
    #[serde(default)]
    pub dht_requests_per_node_minute_by_type: std::collections::BTreeMap<String, f64>,
    /// Connections refused by reason (`limit`, `dial_at_limit`, `limit_after_handshake`,
    /// `per_ip`).
    #[serde(default)]
    pub refused_per_node_minute: std::collections::BTreeMap<String, f64>,
    /// Peers connected per node when the queries start, mean.
    #[serde(default)]
    pub connected_peers_per_node: f64,
    /// Connections open per node when the queries start, mean (two nodes may hold more than
    /// one between them, and the connection limit counts connections).
    #[serde(default)]
    pub connections_per_node: f64,
    /// Share of nodes that refused a connection at their limit while at rest.
    #[serde(default)]
    pub refusing_nodes_share: f64,
    /// Share of the refusals at the limit made by the tenth of nodes that refused most.
    #[serde(default)]
    pub refusals_by_top_tenth: f64,
}

/// Where the DHT holds the rare capability's records when the queries start, against the
/// ideal that needs no trust in the system: the [`REPLICATION`] live nodes whose ids are truly
/// closest (XOR of the SHA-256 keys, as Kademlia measures) to each key, computed from every
/// node's id. A lookup ends on those peers; records stored elsewhere it meets only by chance.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Placement {
    /// Live nodes holding a provider record of the rare capability.
    pub provider_record_holders: usize,
    /// Of the nodes truly closest to the capability's key, those holding a provider record.
    pub closest_holding_providers: usize,
    /// For each provider: of the nodes truly closest to the capability's key, those holding
    /// its provider record.
    pub closest_holding_each_provider: Vec<usize>,
    /// For each provider: live nodes holding its agent record.
    pub agent_record_holders: Vec<usize>,
    /// For each provider: of the nodes truly closest to its agent record's key, those holding
    /// it.
    pub closest_holding_agent_record: Vec<usize>,
    /// Peers in a node's DHT routing table, mean over live nodes.
    #[serde(default)]
    pub routing_table_mean: f64,
    /// Share of a node's [`REPLICATION`] truly closest live peers that its routing table holds:
    /// a lookup converges on a key only through nodes that know their own neighbourhood.
    /// Mean, 10th percentile and least over live nodes.
    #[serde(default)]
    pub neighbours_known: NeighboursKnown,
}

/// See [`Placement::neighbours_known`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NeighboursKnown {
    /// Mean share.
    pub mean: f64,
    /// 10th percentile.
    pub p10: f64,
    /// Least.
    pub min: f64,
}

/// Kademlia's replication factor (libp2p's default `k`): records are stored at this many of
/// the nodes closest to their key.
pub const REPLICATION: usize = 20;

/// Asks every live node what it holds for the DHT and compares it with the ideal placement.
async fn placement(
    population: &Population,
    rare: &Capability,
    providers: &[PeerId],
) -> anyhow::Result<Placement> {
    use libp2p::kad::KBucketKey;
    let mut held = Vec::new();
    for i in population.live() {
        if let Some(node) = population.get(i) {
            let h = node
                .handle
                .held_by_dht(rare.clone(), providers.to_vec())
                .await?;
            held.push((node.handle.peer_id(), h));
        }
    }
    let closest = |key: &[u8]| truly_closest(held.iter().map(|(p, _)| *p), key);
    let near_cap = closest(&rare.provider_key());
    // Each node's own neighbourhood against its routing table.
    let keys: Vec<_> = held.iter().map(|(p, _)| KBucketKey::from(*p)).collect();
    let mut known: Vec<f64> = held
        .iter()
        .enumerate()
        .map(|(i, (_, h))| {
            let mut by_distance: Vec<_> = (0..held.len())
                .filter(|j| *j != i)
                .map(|j| (keys[i].distance(&keys[j]), held[j].0))
                .collect();
            by_distance.sort_by_key(|(d, _)| *d);
            let table: std::collections::HashSet<_> = h.routing_table.iter().collect();
            let near = by_distance.iter().take(REPLICATION);
            let n = near.len().max(1) as f64;
            near.filter(|(_, p)| table.contains(p)).count() as f64 / n
        })
        .collect();
    known.sort_by(f64::total_cmp);
    let neighbours_known = NeighboursKnown {
        mean: known.iter().sum::<f64>() / known.len().max(1) as f64,
        p10: quantile(known.iter().map(|k| Some(*k)), 0.1).unwrap_or(0.0),
        min: known.first().copied().unwrap_or(0.0),
    };
    let routing_table_mean = held
        .iter()
        .map(|(_, h)| h.routing_table.len() as f64)
        .sum::<f64>()
        / held.len().max(1) as f64;
    let held_near_cap = || held.iter().filter(|(p, _)| near_cap.contains(p));
    let mut out = Placement {
        provider_record_holders: held.iter().filter(|(_, h)| !h.providers.is_empty()).count(),
        closest_holding_providers: held_near_cap()
            .filter(|(_, h)| !h.providers.is_empty())
            .count(),
        routing_table_mean,
        neighbours_known,
        ..Placement::default()
    };
    for provider in providers {
        out.closest_holding_each_provider.push(
            held_near_cap()
                .filter(|(_, h)| h.providers.contains(provider))
                .count(),
        );
        let near = closest(&mesh_core::agent_record::agent_record_key(provider));
        let holding = || {
            held.iter()
                .filter(|(_, h)| h.agent_records.contains(provider))
        };
        out.agent_record_holders.push(holding().count());
        out.closest_holding_agent_record
            .push(holding().filter(|(p, _)| near.contains(p)).count());
    }
    Ok(out)
}

/// Runs the scenario.
pub async fn run(p: &Params) -> anyhow::Result<Report> {
    anyhow::ensure!(
        p.providers >= 1 && p.providers < p.nodes,
        "--providers must be at least 1 and fewer than --nodes"
    );
    let common = Capability::new(COMMON)?;
    let rare = Capability::new(RARE)?;
    let wall = std::time::Instant::now();
    let mut population = Population::new(p.settings.clone(), p.seed);
    // Providers are spread over the start order.
    let stride = p.nodes / p.providers;
    let is_provider = |i: usize| i % stride == stride / 2 && i / stride < p.providers;
    population
        .start_many(p.nodes, p.degree, |i| {
            let mut caps = vec![common.clone()];
            if is_provider(i) {
                caps.push(rare.clone());
            }
            caps
        })
        .await?;
    let providers: Vec<usize> = (0..p.nodes).filter(|i| is_provider(*i)).collect();
    eprintln!(
        "discovery: {} nodes started ({:.0} s wall); settling for {} s",
        p.nodes,
        wall.elapsed().as_secs_f64(),
        p.settle.as_secs()
    );
    // The second half of the settling time shows what the network costs at rest.
    tokio::time::sleep(p.settle / 2).await;
    let per_node_from = per_node(&population);
    let quiet_from = (sum_of(&per_node_from), Instant::now());
    tokio::time::sleep(p.settle / 2).await;
    let per_node_to = per_node(&population);
    let now = sum_of(&per_node_to);
    let quiet = now.since(&quiet_from.0);
    let refusals = refusals_at_limit(&per_node_from, &per_node_to);
    let quiet_minutes = quiet_from.1.elapsed().as_secs_f64() / 60.0 * p.nodes as f64;
    let background = Background {
        connections_per_node_minute: quiet.get(CONNECTIONS) / quiet_minutes,
        dht_requests_per_node_minute: quiet.get(KAD_REQUESTS) / quiet_minutes,
        dht_queries_per_node_minute: quiet.get(KAD_QUERIES) / quiet_minutes,
        dht_queries_per_node_minute_by_type: by_kind_and_purpose(
            &quiet,
            KAD_QUERIES,
            quiet_minutes,
        ),
        dht_requests_per_node_minute_by_type: by_kind_and_purpose(
            &quiet,
            KAD_REQUESTS,
            quiet_minutes,
        ),
        refused_per_node_minute: quiet
            .by_label(REFUSED, "reason")
            .into_iter()
            .map(|(reason, n)| (reason, n / quiet_minutes))
            .collect(),
        connected_peers_per_node: now.get(CONNECTED) / p.nodes as f64,
        connections_per_node: (now.get(CONNECTIONS) - now.get(CONNECTIONS_CLOSED)) / p.nodes as f64,
        refusing_nodes_share: refusals.iter().filter(|r| **r > 0.0).count() as f64
            / refusals.len().max(1) as f64,
        refusals_by_top_tenth: top_tenth_share(refusals),
    };
    let provider_ids: Vec<PeerId> = providers
        .iter()
        .filter_map(|i| population.get(*i))
        .map(|n| n.handle.peer_id())
        .collect();
    let placement = placement(&population, &rare, &provider_ids).await?;
    eprintln!("discovery: records at settling: {placement:?}");
    let queries_from = Totals::read(&population);

    eprintln!(
        "discovery: settled ({:.0} s wall); {} queries",
        wall.elapsed().as_secs_f64(),
        p.queries
    );
    let candidates: Vec<usize> = population
        .live()
        .filter(|i| !providers.contains(i))
        .collect();
    let askers: Vec<usize> = candidates
        .into_iter()
        .choose_multiple(population.rng(), p.queries);
    let near_rare = truly_closest(
        population
            .live()
            .filter_map(|i| population.get(i))
            .map(|n| n.handle.peer_id()),
        &rare.provider_key(),
    );
    let rtt_ms = 2.0 * p.settings.link.latency.as_secs_f64() * 1e3;
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
        let ended_on = node.handle.closest_peers(rare.provider_key()).await?;
        let lookup_reached_closest = ended_on.iter().filter(|p| near_rare.contains(p)).count();
        eprintln!(
            "discovery: a closest-peers lookup ended on {} peers, {lookup_reached_closest} of them among the {REPLICATION} truly closest",
            ended_on.len()
        );
        eprintln!(
            "discovery: query {} found {} of {} in {latency_ms:.0} ms ({:.0} s wall)",
            queries.len() + 1,
            found.len(),
            p.providers,
            wall.elapsed().as_secs_f64()
        );
        let first_provider_requests =
            (spent.get(FIRST_PROVIDER_COUNT) > 0.0).then(|| spent.get(FIRST_PROVIDER_SUM));
        let first_agent_ms =
            (spent.get(FIRST_AGENT_COUNT) > 0.0).then(|| spent.get(FIRST_AGENT_SUM) * 1e3);
        queries.push(QueryResult {
            first_agent_ms,
            first_agent_rounds: first_agent_ms.filter(|_| rtt_ms > 0.0).map(|t| t / rtt_ms),
            found: found.len(),
            first_provider_requests,
            first_provider_rounds: first_provider_requests
                .map(|r| (r / f64::from(PARALLELISM)).ceil()),
            latency_ms,
            providers_seen: spent.get(PROVIDERS_SEEN),
            record_fallbacks: spent.get(RECORD_FALLBACKS),
            record_fetch_failures: spent.get(RECORD_FETCH_FAILURES),
            members_named: spent.get(MEMBERS_NAMED),
            lookup_reached_closest,
            lookup_peers: ended_on.len(),
        });
    }
    let refused_during_queries = Totals::read(&population)
        .since(&queries_from)
        .by_label(REFUSED, "reason");
    population.stop_all().await;

    let n = queries.len().max(1) as f64;
    let first_agent_rounds = || queries.iter().map(|q| q.first_agent_rounds);
    let p90_latency_ms = quantile(queries.iter().map(|q| Some(q.latency_ms)), 0.9);
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
        p90_first_provider_rounds: quantile(queries.iter().map(|q| q.first_provider_rounds), 0.9),
        max_first_provider_rounds: quantile(queries.iter().map(|q| q.first_provider_rounds), 1.0),
        median_first_agent_rounds: median(first_agent_rounds()),
        p90_first_agent_rounds: quantile(first_agent_rounds(), 0.9),
        max_first_agent_rounds: quantile(first_agent_rounds(), 1.0),
        p90_latency_ms,
        max_latency_ms: quantile(queries.iter().map(|q| Some(q.latency_ms)), 1.0),
        median_first_provider_requests,
        median_latency_rtts: median_latency_ms
            .filter(|_| rtt_ms > 0.0)
            .map(|l| l / rtt_ms),
        p90_latency_rtts: p90_latency_ms.filter(|_| rtt_ms > 0.0).map(|l| l / rtt_ms),
        median_latency_ms,
        background,
        placement,
        refused_during_queries,
        queries,
    })
}

/// The `q` quantile (0 to 1) of the values present, nearest rank: the smallest value at or
/// above which a share `q` of them lies; `None` when none is present.
pub fn quantile(values: impl Iterator<Item = Option<f64>>, q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.flatten().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize;
    v.get(rank.max(1) - 1).copied()
}

/// Sample `name` per node and minute, by its `kind` label and by its `purpose` label (the
/// latter as `for <purpose>`); zero series left out.
fn by_kind_and_purpose(
    totals: &Totals,
    name: &str,
    node_minutes: f64,
) -> std::collections::BTreeMap<String, f64> {
    totals
        .by_label(name, "kind")
        .into_iter()
        .chain(
            totals
                .by_label(name, "purpose")
                .into_iter()
                .map(|(purpose, n)| (format!("for {purpose}"), n)),
        )
        .filter(|(_, n)| *n > 0.0)
        .map(|(kind, n)| (kind, n / node_minutes))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_tenth_share_of_refusals() {
        // Twenty nodes: the two that refused most made 90 of 100 refusals.
        let mut v = vec![0.0; 18];
        v.extend([40.0, 50.0]);
        v[0] = 10.0;
        assert!((top_tenth_share(v) - 0.9).abs() < 1e-9);
        assert_eq!(top_tenth_share(vec![0.0; 5]), 0.0);
        assert_eq!(top_tenth_share(Vec::new()), 0.0);
        // Fewer than ten nodes: the top tenth is the one node that refused most.
        assert!((top_tenth_share(vec![1.0, 3.0]) - 0.75).abs() < 1e-9);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v = |xs: &[f64]| xs.iter().map(|x| Some(*x)).collect::<Vec<_>>().into_iter();
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(v(&ten), 0.9), Some(9.0));
        assert_eq!(quantile(v(&ten), 1.0), Some(10.0));
        assert_eq!(quantile(v(&ten), 0.5), Some(5.0));
        assert_eq!(quantile(v(&[3.0]), 0.9), Some(3.0));
        assert_eq!(quantile(std::iter::empty(), 0.9), None);
        assert_eq!(
            quantile([None, Some(2.0), None].into_iter(), 1.0),
            Some(2.0),
            "absent values are left out"
        );
    }
}
