//! The churn scenario: while intents flow, a share of the nodes leaves every minute (stopped
//! without a word, as a crashed or disconnected node) and as many new nodes join, each
//! bootstrapping from random live nodes. Measured: the share of intents delivered to the nodes
//! that were up (and had been for a join grace) from publication until the delivery timeout,
//! time to reach them, and how the population turned over.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use mesh_core::{Capability, Intent, IntentId};
use rand::Rng;
use rand::seq::IteratorRandom;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::net::NodeSettings;
use crate::population::Population;
use crate::propagation::median;

/// The capability every node offers and subscribes to.
pub const CAPABILITY: &str = "sim";

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Params {
    /// Nodes at any time.
    pub nodes: usize,
    /// Share of the nodes replaced per minute, in `[0, 1]`.
    pub churn_per_minute: f64,
    /// How long intents flow while nodes churn.
    pub duration: Duration,
    /// One intent is published this often, by a random node that has been up for the grace.
    pub intent_interval: Duration,
    /// A node counts as a subscriber from this long after it joined.
    pub join_grace: Duration,
    /// An intent counts as delivered to a subscriber if it arrives within this long.
    pub intent_timeout: Duration,
    /// How every node and link is set up.
    pub settings: NodeSettings,
    /// Random live nodes each node bootstraps from.
    pub degree: usize,
    /// Seed.
    pub seed: u64,
    /// The clock.
    pub clock: Clock,
    /// How long the network settles before churn starts.
    pub settle: Duration,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            nodes: 100,
            churn_per_minute: 0.1,
            duration: Duration::from_secs(120),
            intent_interval: Duration::from_secs(1),
            join_grace: Duration::from_secs(10),
            intent_timeout: Duration::from_secs(10),
            settings: NodeSettings::default(),
            degree: 3,
            seed: 7,
            clock: Clock::Virtual,
            settle: Duration::from_secs(10),
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Nodes at any time.
    pub nodes: usize,
    /// Share replaced per minute.
    pub churn_per_minute: f64,
    /// Seconds of churn.
    pub duration_s: f64,
    /// One-way link latency, ms.
    pub latency_ms: f64,
    /// Seed.
    pub seed: u64,
    /// Nodes that left (as many joined).
    pub replaced: usize,
    /// Intents published.
    pub intents: usize,
    /// Deliveries expected: for each intent, the nodes up from `join_grace` before its
    /// publication until `intent_timeout` after it.
    pub expected: usize,
    /// Of those, delivered in time.
    pub delivered: usize,
    /// `delivered / expected`.
    pub delivery_ratio: f64,
    /// Intents that reached every expected node.
    pub complete_intents: usize,
    /// Median over intents of the time to reach 95% of the expected nodes, ms.
    pub median_t95_ms: Option<f64>,
    /// Median over complete intents of the time to reach all expected nodes, ms.
    pub median_t100_ms: Option<f64>,
    /// Deliveries to nodes younger than the grace (counted apart, not expected).
    pub early_deliveries: usize,
    /// Each intent: when it was published (s from the start of churn), the nodes expected to
    /// get it and those that did.
    pub per_intent: Vec<ChurnIntent>,
}

/// One intent of a churn run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnIntent {
    /// Seconds from the start of churn to its publication.
    pub at_s: f64,
    /// Nodes expected to receive it.
    pub expected: usize,
    /// Of those, the ones that did in time.
    pub delivered: usize,
}

/// One published intent.
pub struct Published {
    /// Its id.
    pub id: IntentId,
    /// The index of the node that published it.
    pub publisher: usize,
    /// When it was published.
    pub at: Instant,
}

/// First arrivals of each intent at each node.
pub type Arrivals = HashMap<IntentId, HashMap<usize, Instant>>;

/// Moves what [`listen`] forwarded so far into `arrivals`, keeping each node's first copy.
pub fn drain(rx: &mut mpsc::Receiver<(usize, IntentId, Instant)>, arrivals: &mut Arrivals) {
    while let Ok((node, id, at)) = rx.try_recv() {
        arrivals.entry(id).or_default().entry(node).or_insert(at);
    }
}

/// Runs the scenario.
pub async fn run(p: &Params) -> anyhow::Result<Report> {
    anyhow::ensure!(p.nodes >= 3, "at least three nodes");
    anyhow::ensure!(
        (0.0..=1.0).contains(&p.churn_per_minute),
        "--churn-per-minute must be in [0, 1], for example 0.1 for 10% of the nodes a minute"
    );
    let capability = Capability::new(CAPABILITY)?;
    let mut population = Population::new(p.settings.clone(), p.seed);
    let (tx, mut rx) = mpsc::channel::<(usize, IntentId, Instant)>(1 << 16);
    // Each node's time of joining and, once gone, of leaving.
    let mut joined: Vec<Instant> = Vec::new();
    let mut left: HashMap<usize, Instant> = HashMap::new();
    let start = Instant::now();
    population
        .start_many(p.nodes, p.degree, |_| vec![capability.clone()])
        .await?;
    for i in population.live().collect::<Vec<_>>() {
        listen(&population, i, &tx);
        joined.push(start - p.join_grace);
    }
    tokio::time::sleep(p.settle).await;

    let churn_every = (p.churn_per_minute > 0.0)
        .then(|| Duration::from_secs_f64(60.0 / (p.churn_per_minute * p.nodes as f64)));
    let began = Instant::now();
    let end = began + p.duration;
    let mut next_churn = churn_every.map(|d| began + d);
    let mut next_intent = began;
    let mut published: Vec<Published> = Vec::new();
    let mut replaced = 0;
    // Arrivals, first copy per node and intent.
    let mut arrivals = Arrivals::new();
    while Instant::now() < end {
        let now = Instant::now();
        if next_churn.is_some_and(|t| t <= now) {
            let live: Vec<usize> = population.live().collect();
            let leaving = live
                .into_iter()
                .choose(population.rng())
                .ok_or_else(|| anyhow::anyhow!("no live node to replace"))?;
            population.remove(leaving).await;
            left.insert(leaving, Instant::now());
            let i = population.add(vec![capability.clone()], p.degree)?;
            listen(&population, i, &tx);
            joined.push(Instant::now());
            replaced += 1;
            next_churn = next_churn.zip(churn_every).map(|(t, d)| t + d);
        }
        if next_intent <= now {
            let grown = |i: &usize| joined[*i] + p.join_grace <= now;
            let eligible: Vec<usize> = population.live().filter(grown).collect();
            let k = population.rng().gen_range(0..eligible.len().max(1));
            if let Some(node) = eligible.get(k).and_then(|i| population.get(*i)) {
                let n = published.len();
                let intent = Intent::new(format!("churn {n}")).capabilities([CAPABILITY]);
                let at = Instant::now();
                let id: IntentId = node.handle.publish_intent(&intent).await?.id.parse()?;
                published.push(Published {
                    id,
                    publisher: eligible[k],
                    at,
                });
            }
            next_intent += p.intent_interval;
        }
        let next = [Some(next_intent), next_churn, Some(end)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(end);
        tokio::time::sleep(next.saturating_duration_since(Instant::now())).await;
        drain(&mut rx, &mut arrivals);
    }
    tokio::time::sleep(p.intent_timeout).await;
    drain(&mut rx, &mut arrivals);
    drop(tx);
    population.stop_all().await;
    drain(&mut rx, &mut arrivals);
    let mut expected = 0;
    let mut delivered = 0;
    let mut early = 0;
    let mut complete = 0;
    let mut t95 = Vec::new();
    let mut t100 = Vec::new();
    let mut per_intent = Vec::with_capacity(published.len());
    for intent in &published {
        let deadline = intent.at + p.intent_timeout;
        let want: HashSet<usize> = (0..joined.len())
            .filter(|i| *i != intent.publisher)
            .filter(|i| joined[*i] + p.join_grace <= intent.at)
            .filter(|i| left.get(i).is_none_or(|l| *l >= deadline))
            .collect();
        let got = arrivals.remove(&intent.id).unwrap_or_default();
        let mut times: Vec<f64> = got
            .iter()
            .filter(|(i, at)| want.contains(i) && **at <= deadline)
            .map(|(_, at)| at.duration_since(intent.at).as_secs_f64() * 1e3)
            .collect();
        early += got.keys().filter(|i| !want.contains(i)).count();
        times.sort_by(f64::total_cmp);
        expected += want.len();
        delivered += times.len();
        per_intent.push(ChurnIntent {
            at_s: intent.at.duration_since(began).as_secs_f64(),
            expected: want.len(),
            delivered: times.len(),
        });
        let needed = (want.len() as f64 * 0.95).ceil() as usize;
        t95.push(times.get(needed.max(1) - 1).copied());
        if times.len() == want.len() {
            complete += 1;
            t100.push(times.last().copied());
        }
    }
    Ok(Report {
        nodes: p.nodes,
        churn_per_minute: p.churn_per_minute,
        duration_s: p.duration.as_secs_f64(),
        latency_ms: p.settings.link.latency.as_secs_f64() * 1e3,
        seed: p.seed,
        replaced,
        intents: published.len(),
        expected,
        delivered,
        delivery_ratio: if expected > 0 {
            delivered as f64 / expected as f64
        } else {
            0.0
        },
        complete_intents: complete,
        median_t95_ms: median(t95.into_iter()),
        median_t100_ms: median(t100.into_iter()),
        early_deliveries: early,
        per_intent,
    })
}

/// Forwards node `i`'s received intents, with their arrival instants, to `tx`.
pub fn listen(population: &Population, i: usize, tx: &mpsc::Sender<(usize, IntentId, Instant)>) {
    let Some(node) = population.get(i) else {
        return;
    };
    let mut intents = node.handle.subscribe_intents();
    let tx = tx.clone();
    tokio::spawn(async move {
        loop {
            match intents.recv().await {
                Ok(received) => {
                    if tx
                        .send((i, received.intent.id, Instant::now()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}
