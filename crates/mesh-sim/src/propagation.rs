//! The intent propagation scenario: one publisher, every other node subscribed to the intent's
//! capability; how long intents take to reach 50%, 95% and 100% of the subscribers, how many
//! copies each node receives, and how many bytes the nodes send.

use std::collections::HashSet;
use std::time::Duration;

use mesh_core::{Capability, Intent, IntentId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::net::NodeSettings;
use crate::observe::Totals;
use crate::population::Population;
use crate::topology;

/// The capability every simulated subscriber offers.
pub const CAPABILITY: &str = "sim";

/// gossipsub's count of topic messages received, duplicates included.
const RECEIVED_ALL: &str = "gossipsub_topic_msg_recv_counts_unfiltered_total";
/// gossipsub's count of topic messages received, first copies only.
const RECEIVED_FIRST: &str = "gossipsub_topic_msg_recv_counts_total";

/// gossipsub's count of the bytes of topic messages received, first copies only: the signed
/// intents themselves, as gossipsub carries them.
/// How long the network is watched with nothing published, for its background traffic.
const QUIET_WINDOW: Duration = Duration::from_secs(5);

/// How long after the last intent arrives its gossip still flows: gossipsub announces a
/// message (IHAVE) at the next three heartbeats, 700 ms apart.
const GOSSIP_TAIL: Duration = Duration::from_millis(2_500);

const RECEIVED_FIRST_BYTES: &str = "gossipsub_topic_msg_recv_bytes_total";

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Params {
    /// Nodes, the publisher included.
    pub nodes: usize,
    /// How every node and link is set up.
    pub settings: NodeSettings,
    /// Intents measured.
    pub intents: usize,
    /// Inline payload of each intent, bytes (at most 48 KiB).
    pub payload_bytes: usize,
    /// Random live nodes each node bootstraps from.
    pub degree: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// How long one intent may take to reach everyone before it counts as not delivered.
    pub intent_timeout: Duration,
    /// The clock the run is on.
    pub clock: Clock,
    /// How long the network settles once the mesh has formed, before the measurement.
    pub settle: Duration,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            nodes: 100,
            settings: NodeSettings::default(),
            intents: 10,
            payload_bytes: 0,
            degree: 3,
            seed: 7,
            intent_timeout: Duration::from_secs(30),
            clock: Clock::Virtual,
            settle: Duration::from_secs(5),
        }
    }
}

/// One intent's spread.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntentResult {
    /// Subscribers reached.
    pub delivered: usize,
    /// Time to reach half of the subscribers, ms.
    pub t50_ms: Option<f64>,
    /// Time to reach 95%, ms.
    pub t95_ms: Option<f64>,
    /// Time to reach all, ms.
    pub t100_ms: Option<f64>,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Nodes.
    pub nodes: usize,
    /// Subscribers (every node but the publisher).
    pub subscribers: usize,
    /// One-way link latency, ms.
    pub latency_ms: f64,
    /// Link loss probability.
    pub loss: f64,
    /// Payload per intent, bytes.
    pub payload_bytes: usize,
    /// Seed.
    pub seed: u64,
    /// Gossip mesh degree (`D`) of every node.
    pub gossip_degree: usize,
    /// Seconds (of the run's clock) to start the nodes and form the mesh.
    pub setup_s: f64,
    /// Mean connections per node when measuring.
    pub mean_connections: f64,
    /// Mean gossip mesh peers per node when measuring.
    pub mean_mesh_peers: f64,
    /// Hops from the publisher to the furthest node over connections.
    pub connection_hops: usize,
    /// Hops from the publisher to the furthest subscriber over the paths gossip takes: the
    /// publisher to its subscribed peers, then each node to its mesh peers.
    pub gossip_hops: usize,
    /// Subscribers the gossip paths reach.
    pub gossip_reach: usize,
    /// The time to reach everyone along the gossip paths the network built: gossip hops ×
    /// latency, ms. On the virtual clock eager push along the mesh takes exactly this, so it
    /// measures the mesh's depth, not how close delivery comes to the physical limit.
    pub ideal_ms: f64,
    /// The physical limit: the shortest path over the connection graph to the furthest node
    /// (every link has the same latency, so connection hops × latency), ms. No protocol on
    /// these connections can reach everyone sooner.
    #[serde(default)]
    pub connection_ideal_ms: f64,
    /// Deliveries over subscribers × intents.
    pub delivery_ratio: f64,
    /// Median over intents of the time to reach 50%, 95%, 100% of subscribers, ms.
    pub median_t50_ms: Option<f64>,
    /// See `median_t50_ms`.
    pub median_t95_ms: Option<f64>,
    /// See `median_t50_ms`.
    pub median_t100_ms: Option<f64>,
    /// `median_t100_ms / ideal_ms`.
    pub t100_over_ideal: Option<f64>,
    /// `median_t100_ms / connection_ideal_ms`: how far delivery is from the physical limit.
    #[serde(default)]
    pub t100_over_connection_ideal: Option<f64>,
    /// Copies of an intent a subscriber receives on average, the first included.
    pub copies_per_delivery: Option<f64>,
    /// Bytes each node sends per intent, all traffic from the first publication until the
    /// last intent's gossip is over included.
    pub bytes_per_node_per_intent: f64,
    /// Mean size of a signed intent as gossipsub carries it (its message data), bytes.
    #[serde(default)]
    pub intent_bytes: Option<f64>,
    /// Bytes each node would have sent in the measurement without the intents, per intent:
    /// the rate of a quiet window just before (heartbeats, DHT, identify) times the
    /// measurement's length.
    #[serde(default)]
    pub background_bytes_per_node_per_intent: f64,
    /// `bytes_per_node_per_intent` less the background, over `intent_bytes`: what one intent
    /// costs each node in multiples of the intent itself.
    #[serde(default)]
    pub intent_cost_over_intent_bytes: Option<f64>,
    /// Arrival times of the first measured intent at each subscriber it reached, ms, sorted.
    pub first_intent_arrivals_ms: Vec<f64>,
    /// Each intent.
    pub intents: Vec<IntentResult>,
}

/// Runs the scenario.
pub async fn run(p: &Params) -> anyhow::Result<Report> {
    anyhow::ensure!(
        p.nodes >= 2,
        "at least two nodes: a publisher and a subscriber"
    );
    anyhow::ensure!(
        p.payload_bytes <= mesh_core::intent::MAX_PAYLOAD_BYTES,
        "--payload-bytes must be at most {}",
        mesh_core::intent::MAX_PAYLOAD_BYTES
    );
    let started = Instant::now();
    let capability = Capability::new(CAPABILITY)?;
    let mut population = Population::new(p.settings.clone(), p.seed);
    population
        .start_many(p.nodes, p.degree, |_| vec![capability.clone()])
        .await?;

    // Every subscriber's receipts, with the instant each arrived.
    let (tx, mut rx) = mpsc::channel::<(usize, IntentId, Instant)>(65_536);
    for i in population.live().skip(1) {
        let Some(node) = population.get(i) else {
            continue;
        };
        let mut intents = node.handle.subscribe_intents();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(received) = intents.recv().await {
                if tx
                    .send((i, received.intent.id, Instant::now()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
    drop(tx);
    let subscribers = p.nodes - 1;
    let publisher = population
        .get(0)
        .ok_or_else(|| anyhow::anyhow!("the publisher is not running"))?
        .handle
        .clone();

    // Warm up until one intent reaches every subscriber: the mesh has formed.
    let ready_by = Instant::now() + Duration::from_secs(300);
    let mut ready = false;
    while !ready && Instant::now() < ready_by {
        let id: IntentId = publisher
            .publish_intent(&Intent::new("warm-up").capabilities([CAPABILITY]))
            .await?
            .id
            .parse()?;
        ready = collect(&mut rx, id, subscribers, Duration::from_secs(5))
            .await
            .len()
            == subscribers;
    }
    anyhow::ensure!(ready, "the mesh did not form within 300 s");
    let setup_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(p.settle).await;

    let connections = topology::connections(&population).await?;
    let gossip = topology::gossip(&population, &capability, 0).await?;
    let gossip_depth = gossip.hops_from(0);
    let gossip_hops = gossip_depth.values().copied().max().unwrap_or(0);
    let connection_hops = connections
        .hops_from(0)
        .values()
        .copied()
        .max()
        .unwrap_or(0);
    let mesh_only = topology::gossip(&population, &capability, usize::MAX).await?;

    // A quiet window first: the traffic that flows without intents (heartbeats, DHT,
    // identify), as a rate.
    let quiet_from = Totals::read(&population);
    let quiet_started = Instant::now();
    tokio::time::sleep(QUIET_WINDOW).await;
    let quiet = Totals::read(&population).since(&quiet_from);
    let background_bytes_per_s = quiet.bytes_sent as f64 / quiet_started.elapsed().as_secs_f64();

    let before = Totals::read(&population);
    let measuring = Instant::now();
    let mut results = Vec::with_capacity(p.intents);
    let mut first_intent_arrivals_ms = Vec::new();
    let payload = vec![b'x'; p.payload_bytes];
    for k in 0..p.intents {
        let mut intent = Intent::new(format!("job {k}")).capabilities([CAPABILITY]);
        if !payload.is_empty() {
            intent = intent.payload("application/octet-stream", payload.clone());
        }
        let t0 = Instant::now();
        let id: IntentId = publisher.publish_intent(&intent).await?.id.parse()?;
        let mut times: Vec<f64> = collect(&mut rx, id, subscribers, p.intent_timeout)
            .await
            .into_iter()
            .map(|t| t.duration_since(t0).as_secs_f64() * 1e3)
            .collect();
        times.sort_by(f64::total_cmp);
        let at = |share: f64| {
            let needed = ((subscribers as f64) * share).ceil() as usize;
            times.get(needed.max(1) - 1).copied()
        };
        results.push(IntentResult {
            delivered: times.len(),
            t50_ms: at(0.5),
            t95_ms: at(0.95),
            t100_ms: at(1.0),
        });
        if k == 0 {
            first_intent_arrivals_ms = times;
        }
    }
    // The intents' gossip (IHAVE at the next heartbeats, IWANT, late copies) is theirs too.
    tokio::time::sleep(GOSSIP_TAIL).await;
    let spent = Totals::read(&population).since(&before);
    let background_bytes = background_bytes_per_s * measuring.elapsed().as_secs_f64();
    population.stop_all().await;

    let delivered: usize = results.iter().map(|r| r.delivered).sum();
    let ideal_ms = gossip_hops as f64 * p.settings.link.latency.as_secs_f64() * 1e3;
    let connection_ideal_ms = connection_hops as f64 * p.settings.link.latency.as_secs_f64() * 1e3;
    let median_t100_ms = median(results.iter().map(|r| r.t100_ms));
    let first_copies = spent.get(RECEIVED_FIRST);
    let intent_bytes = (first_copies > 0.0).then(|| spent.get(RECEIVED_FIRST_BYTES) / first_copies);
    let per_node_per_intent =
        |bytes: u64| bytes as f64 / (p.nodes as f64 * p.intents.max(1) as f64);
    let bytes_per_node_per_intent = per_node_per_intent(spent.bytes_sent);
    let background_bytes_per_node_per_intent = per_node_per_intent(background_bytes as u64);
    Ok(Report {
        nodes: p.nodes,
        subscribers,
        latency_ms: p.settings.link.latency.as_secs_f64() * 1e3,
        loss: p.settings.link.loss,
        payload_bytes: p.payload_bytes,
        seed: p.seed,
        gossip_degree: p.settings.gossip_degree.target(),
        setup_s,
        mean_connections: connections.mean_degree(p.nodes),
        mean_mesh_peers: mesh_only.mean_degree(p.nodes),
        connection_hops,
        gossip_hops,
        gossip_reach: gossip_depth.len().saturating_sub(1),
        ideal_ms,
        delivery_ratio: delivered as f64 / (subscribers * p.intents.max(1)) as f64,
        median_t50_ms: median(results.iter().map(|r| r.t50_ms)),
        median_t95_ms: median(results.iter().map(|r| r.t95_ms)),
        median_t100_ms,
        t100_over_ideal: median_t100_ms
            .filter(|_| ideal_ms > 0.0)
            .map(|t| t / ideal_ms),
        connection_ideal_ms,
        t100_over_connection_ideal: median_t100_ms
            .filter(|_| connection_ideal_ms > 0.0)
            .map(|t| t / connection_ideal_ms),
        copies_per_delivery: (first_copies > 0.0).then(|| spent.get(RECEIVED_ALL) / first_copies),
        bytes_per_node_per_intent,
        intent_bytes,
        background_bytes_per_node_per_intent,
        intent_cost_over_intent_bytes: intent_bytes.filter(|b| *b > 0.0).map(|b| {
            (bytes_per_node_per_intent - background_bytes_per_node_per_intent).max(0.0) / b
        }),
        first_intent_arrivals_ms,
        intents: results,
    })
}

/// Arrival instants of intent `id` at distinct subscribers, until all `want` have it or
/// `timeout` passes. Receipts of other intents are dropped.
async fn collect(
    rx: &mut mpsc::Receiver<(usize, IntentId, Instant)>,
    id: IntentId,
    want: usize,
    timeout: Duration,
) -> Vec<Instant> {
    let deadline = Instant::now() + timeout;
    let mut seen = HashSet::new();
    let mut times = Vec::new();
    while seen.len() < want {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((node, got, at))) if got == id => {
                if seen.insert(node) {
                    times.push(at);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    times
}

/// The median of the values present.
pub fn median(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let mut v: Vec<f64> = values.flatten().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}
