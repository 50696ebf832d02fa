//! The covert flash attack at simulator scale: attackers (plain libp2p swarms, see
//! [`crate::attacker`]) join the intent topic's meshes of honest MESH nodes, forward every
//! intent for a while, then stop forwarding while staying connected. Intents flow from random
//! honest nodes all along.
//!
//! Measured: the share of intents that reach every honest node before and after the stop,
//! their latency, and for every honest node that had an attacker in its mesh at the stop (a
//! *judge*), how long until it scored that attacker below zero (or dropped it).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libp2p::PeerId;
use mesh_core::{Capability, Intent, IntentId, Keypair};
use rand::seq::IteratorRandom;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::attacker::Attacker;
use crate::churn::{Arrivals, Published, drain, listen};
use crate::clock::Clock;
use crate::net::NodeSettings;
use crate::population::Population;
use crate::propagation::median;

/// The capability every honest node offers, and whose topic the attackers join.
pub const CAPABILITY: &str = "sim";
/// MESH's gossipsub heartbeat.
pub const HEARTBEAT: Duration = Duration::from_millis(700);

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Params {
    /// Honest MESH nodes.
    pub nodes: usize,
    /// Attackers.
    pub attackers: usize,
    /// Honest nodes each attacker dials.
    pub attacker_links: usize,
    /// How long the attackers behave, while intents flow.
    pub behave: Duration,
    /// How long intents flow after they stop.
    pub flash: Duration,
    /// One intent every this long, from a random honest node.
    pub intent_interval: Duration,
    /// An intent counts as delivered to a node if it arrives within this long.
    pub intent_timeout: Duration,
    /// How every node and link is set up.
    pub settings: NodeSettings,
    /// Random live nodes each honest node bootstraps from.
    pub degree: usize,
    /// Seed.
    pub seed: u64,
    /// The clock.
    pub clock: Clock,
    /// How long the network settles (meshes form) before intents flow.
    pub settle: Duration,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            nodes: 200,
            attackers: 20,
            attacker_links: 8,
            behave: Duration::from_secs(20),
            flash: Duration::from_secs(45),
            intent_interval: Duration::from_millis(500),
            intent_timeout: Duration::from_secs(10),
            settings: NodeSettings::default(),
            degree: 3,
            seed: 7,
            clock: Clock::Virtual,
            settle: Duration::from_secs(10),
        }
    }
}

/// Delivery during one phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Phase {
    /// Intents published.
    pub intents: usize,
    /// Deliveries expected: intents × honest nodes but the publisher.
    pub expected: usize,
    /// Deliveries within the intent timeout.
    pub delivered: usize,
    /// `delivered / expected`.
    pub delivery_ratio: f64,
    /// Median and 99th percentile of publish → arrival, ms of the run's clock.
    pub p50_ms: Option<f64>,
    /// See `p50_ms`.
    pub p99_ms: Option<f64>,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Honest nodes.
    pub nodes: usize,
    /// Attackers.
    pub attackers: usize,
    /// One-way link latency, ms.
    pub latency_ms: f64,
    /// Seed.
    pub seed: u64,
    /// Attackers in at least one honest mesh when they stopped.
    pub attackers_in_meshes: usize,
    /// (honest node, attacker) mesh links when they stopped.
    pub judges: usize,
    /// Judges that scored their attacker below zero, or dropped it, before the run ended.
    pub judges_fallen: usize,
    /// The slowest judge's time from the stop to its fall, seconds of the run's clock.
    pub slowest_fall_s: Option<f64>,
    /// `slowest_fall_s` in gossipsub heartbeats.
    pub slowest_fall_heartbeats: Option<f64>,
    /// Honest nodes' scores of honest peers below zero at the end.
    pub honest_scored_below_zero: usize,
    /// Delivery while the attackers forward.
    pub behaved: Phase,
    /// Delivery after they stopped.
    pub flashed: Phase,
}

/// Runs the scenario.
pub async fn run(p: &Params) -> anyhow::Result<Report> {
    anyhow::ensure!(p.nodes >= 3, "at least three honest nodes");
    anyhow::ensure!(p.attackers >= 1, "at least one attacker");
    anyhow::ensure!(
        p.attacker_links >= 1 && p.attacker_links <= p.nodes,
        "--attacker-links must be between 1 and the number of honest nodes"
    );
    let capability = Capability::new(CAPABILITY)?;
    let mut population = Population::new(p.settings.clone(), p.seed);
    population
        .start_many(p.nodes, p.degree, |_| vec![capability.clone()])
        .await?;
    let (tx, mut rx) = mpsc::channel::<(usize, IntentId, Instant)>(1 << 16);
    for i in population.live().collect::<Vec<_>>() {
        listen(&population, i, &tx);
    }
    drop(tx);
    let attackers = spawn_attackers(&mut population, p, &capability).await?;
    let attacker_ids: HashSet<PeerId> = attackers.iter().map(|a| a.peer_id).collect();
    eprintln!(
        "flash: {} honest nodes and {} attackers started; settling for {} s",
        p.nodes,
        p.attackers,
        p.settle.as_secs()
    );
    tokio::time::sleep(p.settle).await;

    let mut arrivals = Arrivals::new();
    let behaved = publish_for(
        &mut population,
        p,
        "behaved",
        p.behave,
        &mut rx,
        &mut arrivals,
        &mut async || {},
    )
    .await?;

    let mut judges: Vec<(usize, PeerId)> = Vec::new();
    for i in population.live().collect::<Vec<_>>() {
        let Some(node) = population.get(i) else {
            continue;
        };
        for peer in node.handle.topic_peers(capability.clone()).await?.mesh {
            if attacker_ids.contains(&peer) {
                judges.push((i, peer));
            }
        }
    }
    let attackers_in_meshes = judges.iter().map(|(_, a)| *a).collect::<HashSet<_>>().len();
    for attacker in &attackers {
        attacker.stop_forwarding();
    }
    let stopped = Instant::now();
    eprintln!(
        "flash: attackers stopped forwarding; {} (node, attacker) mesh links, {attackers_in_meshes} \
         attackers in meshes",
        judges.len()
    );
    // Each judging node with the attackers in its mesh, and its handle.
    let mut benches: HashMap<usize, (mesh_net::MeshHandle, Vec<PeerId>)> = HashMap::new();
    for (i, attacker) in &judges {
        if let Some(node) = population.get(*i) {
            benches
                .entry(*i)
                .or_insert_with(|| (node.handle.clone(), Vec::new()))
                .1
                .push(*attacker);
        }
    }
    // When each judge's score of its attacker fell, after the stop.
    let mut fell: HashMap<(usize, PeerId), Duration> = HashMap::new();
    let flashed = publish_for(
        &mut population,
        p,
        "flash",
        p.flash,
        &mut rx,
        &mut arrivals,
        &mut async || {
            for (i, (handle, attackers)) in &benches {
                if attackers.iter().all(|a| fell.contains_key(&(*i, *a))) {
                    continue;
                }
                // One look at the node's peers for all the attackers it judges.
                let Ok(peers) = handle.peers().await else {
                    continue;
                };
                let scores: HashMap<&str, Option<f64>> = peers
                    .iter()
                    .map(|info| (info.peer_id.as_str(), info.gossip_score))
                    .collect();
                for attacker in attackers {
                    let score = scores.get(attacker.to_string().as_str()).copied();
                    // Below zero, or no longer connected (it can no longer harm this node).
                    if score.is_none_or(|s| s.is_none_or(|s| s < 0.0)) {
                        fell.entry((*i, *attacker)).or_insert(stopped.elapsed());
                    }
                }
            }
        },
    )
    .await?;
    tokio::time::sleep(p.intent_timeout).await;
    drain(&mut rx, &mut arrivals);

    let honest_ids: HashSet<String> = population
        .live()
        .filter_map(|i| population.get(i).map(|n| n.peer_id.to_string()))
        .collect();
    let mut honest_scored_below_zero = 0;
    for i in population.live().collect::<Vec<_>>() {
        let Some(node) = population.get(i) else {
            continue;
        };
        honest_scored_below_zero += node
            .handle
            .peers()
            .await?
            .iter()
            .filter(|info| honest_ids.contains(&info.peer_id))
            .filter(|info| info.gossip_score.is_some_and(|s| s < 0.0))
            .count();
    }
    drop(attackers);
    population.stop_all().await;

    let slowest = fell.values().max().copied();
    Ok(Report {
        nodes: p.nodes,
        attackers: p.attackers,
        latency_ms: p.settings.link.latency.as_secs_f64() * 1e3,
        seed: p.seed,
        attackers_in_meshes,
        judges: judges.len(),
        judges_fallen: fell.len(),
        slowest_fall_s: slowest.map(|s| s.as_secs_f64()),
        slowest_fall_heartbeats: slowest.map(|s| s.as_secs_f64() / HEARTBEAT.as_secs_f64()),
        honest_scored_below_zero,
        behaved: phase(&behaved, &arrivals, p),
        flashed: phase(&flashed, &arrivals, p),
    })
}

/// Starts the attackers, each subscribed to the topic and dialling random honest nodes.
async fn spawn_attackers(
    population: &mut Population,
    p: &Params,
    capability: &Capability,
) -> anyhow::Result<Vec<Attacker>> {
    let mut attackers = Vec::with_capacity(p.attackers);
    for k in 0..p.attackers {
        let mut secret = [0u8; 32];
        population.rng().fill_bytes(&mut secret);
        let key = Keypair::ed25519_from_bytes(secret)?;
        let seed = population.rng().r#gen::<u64>() ^ k as u64;
        let attacker = Attacker::spawn(key, p.settings.link, seed)?;
        attacker.subscribe(&capability.topic()).await?;
        let live: Vec<usize> = population.live().collect();
        let targets = live
            .into_iter()
            .choose_multiple(population.rng(), p.attacker_links);
        for i in targets {
            if let Some(node) = population.get(i) {
                attacker.dial(node.addr.clone()).await?;
            }
        }
        attackers.push(attacker);
    }
    Ok(attackers)
}

/// Publishes one intent per interval from a random honest node for `length`, calling `each`
/// after every publish.
async fn publish_for(
    population: &mut Population,
    p: &Params,
    round: &str,
    length: Duration,
    rx: &mut mpsc::Receiver<(usize, IntentId, Instant)>,
    arrivals: &mut Arrivals,
    each: &mut impl AsyncFnMut(),
) -> anyhow::Result<Vec<Published>> {
    let mut published = Vec::new();
    let end = Instant::now() + length;
    while Instant::now() < end {
        let live: Vec<usize> = population.live().collect();
        let k = population.rng().gen_range(0..live.len());
        if let Some(node) = population.get(live[k]) {
            let n = published.len();
            let intent = Intent::new(format!("{round} {n}")).capabilities([CAPABILITY]);
            let at = Instant::now();
            let id: IntentId = node.handle.publish_intent(&intent).await?.id.parse()?;
            published.push(Published {
                id,
                publisher: live[k],
                at,
            });
        }
        each().await;
        tokio::time::sleep(p.intent_interval).await;
        drain(rx, arrivals);
    }
    Ok(published)
}

fn phase(published: &[Published], arrivals: &Arrivals, p: &Params) -> Phase {
    let expected = published.len() * (p.nodes - 1);
    let mut latencies: Vec<f64> = Vec::new();
    for intent in published {
        let Some(got) = arrivals.get(&intent.id) else {
            continue;
        };
        latencies.extend(
            got.iter()
                .filter(|(node, at)| {
                    **node != intent.publisher && **at <= intent.at + p.intent_timeout
                })
                .map(|(_, at)| at.duration_since(intent.at).as_secs_f64() * 1e3),
        );
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
    };
    Phase {
        intents: published.len(),
        expected,
        delivered: latencies.len(),
        delivery_ratio: if expected > 0 {
            latencies.len() as f64 / expected as f64
        } else {
            0.0
        },
        p50_ms: median(latencies.iter().map(|l| Some(*l))),
        p99_ms: at(0.99),
    }
}
