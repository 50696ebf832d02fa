//! The intent propagation scenario: one publisher, every other node subscribed to the intent's
//! capability; how long intents take to reach 50%, 95% and 100% of the subscribers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mesh_core::{Capability, Intent, IntentId, Keypair};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::net::{SimNode, start};

/// The capability every simulated subscriber offers.
pub const CAPABILITY: &str = "sim";

/// Memory ports already handed out in this process.
static NEXT_PORT: AtomicU64 = AtomicU64::new(1);

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Params {
    /// Nodes, the publisher included.
    pub nodes: usize,
    /// One-way latency of every link.
    pub latency: Duration,
    /// Intents measured.
    pub intents: usize,
    /// Inline payload of each intent, bytes (at most 48 KiB).
    pub payload_bytes: usize,
    /// Earlier nodes each node bootstraps from.
    pub degree: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// How long one intent may take to reach everyone before it counts as not delivered.
    pub intent_timeout: Duration,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            nodes: 100,
            latency: Duration::from_millis(25),
            intents: 10,
            payload_bytes: 0,
            degree: 3,
            seed: 7,
            intent_timeout: Duration::from_secs(30),
        }
    }
}

/// One intent's spread.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Nodes.
    pub nodes: usize,
    /// Subscribers (every node but the publisher).
    pub subscribers: usize,
    /// One-way link latency, ms.
    pub latency_ms: f64,
    /// Payload per intent, bytes.
    pub payload_bytes: usize,
    /// Seed.
    pub seed: u64,
    /// Seconds to start the nodes and form the mesh.
    pub setup_s: f64,
    /// Hops from the publisher to the furthest node in the connection graph.
    pub eccentricity: usize,
    /// The ideal time to reach everyone: eccentricity × latency, ms.
    pub ideal_ms: f64,
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
    /// Each intent.
    pub intents: Vec<IntentResult>,
}

/// Runs the scenario.
pub async fn run(p: &Params) -> anyhow::Result<Report> {
    anyhow::ensure!(
        p.nodes >= 2,
        "at least two nodes: a publisher and a subscriber"
    );
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(p.seed);
    let capability = Capability::new(CAPABILITY)?;
    let base = NEXT_PORT.fetch_add(p.nodes as u64, Ordering::Relaxed) * 1_000_000;
    let mut nodes: Vec<SimNode> = Vec::with_capacity(p.nodes);
    for i in 0..p.nodes {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let key = Keypair::ed25519_from_bytes(secret)?;
        let mut earlier: Vec<usize> = (0..i).collect();
        earlier.shuffle(&mut rng);
        let bootstrap = earlier
            .iter()
            .take(p.degree)
            .map(|j| nodes[*j].addr.clone())
            .collect();
        nodes.push(start(
            key,
            base + i as u64,
            &capability,
            true,
            bootstrap,
            p.latency,
        )?);
    }

    // Every subscriber's receipts, with the instant each arrived.
    let (tx, mut rx) = mpsc::channel::<(usize, IntentId, Instant)>(65_536);
    for (i, node) in nodes.iter().enumerate().skip(1) {
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
    let publisher = &nodes[0].handle;

    // Warm up until one intent reaches every subscriber: the mesh has formed.
    let ready_by = Instant::now() + Duration::from_secs(120);
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
    anyhow::ensure!(ready, "the mesh did not form within 120 s");
    let setup_s = started.elapsed().as_secs_f64();
    let eccentricity = eccentricity(&nodes).await?;

    let mut results = Vec::with_capacity(p.intents);
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
    }
    let delivered: usize = results.iter().map(|r| r.delivered).sum();
    let ideal_ms = eccentricity as f64 * p.latency.as_secs_f64() * 1e3;
    let median_t100_ms = median(results.iter().map(|r| r.t100_ms));
    for n in &nodes {
        let _ = n.handle.shutdown().await;
    }
    Ok(Report {
        nodes: p.nodes,
        subscribers,
        latency_ms: p.latency.as_secs_f64() * 1e3,
        payload_bytes: p.payload_bytes,
        seed: p.seed,
        setup_s,
        eccentricity,
        ideal_ms,
        delivery_ratio: delivered as f64 / (subscribers * p.intents.max(1)) as f64,
        median_t50_ms: median(results.iter().map(|r| r.t50_ms)),
        median_t95_ms: median(results.iter().map(|r| r.t95_ms)),
        median_t100_ms,
        t100_over_ideal: median_t100_ms
            .filter(|_| ideal_ms > 0.0)
            .map(|t| t / ideal_ms),
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

/// Hops from node 0 to the furthest node, over the connections the nodes report.
async fn eccentricity(nodes: &[SimNode]) -> anyhow::Result<usize> {
    let index: HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.handle.peer_id().to_string(), i))
        .collect();
    let mut edges = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for peer in n.handle.peers().await? {
            if let Some(j) = index.get(&peer.peer_id) {
                edges[i].push(*j);
            }
        }
    }
    let mut depth = vec![usize::MAX; nodes.len()];
    depth[0] = 0;
    let mut queue = VecDeque::from([0usize]);
    while let Some(i) = queue.pop_front() {
        for &j in &edges[i] {
            if depth[j] == usize::MAX {
                depth[j] = depth[i] + 1;
                queue.push_back(j);
            }
        }
    }
    Ok(depth
        .into_iter()
        .filter(|d| *d != usize::MAX)
        .max()
        .unwrap_or(0))
}

fn median(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let mut v: Vec<f64> = values.flatten().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}
