//! The negotiation scenario: publishers spread over the network publish intents at once; a few
//! agents (chosen by the intent id, so about `bidders` per intent) bid on each; each publisher
//! awards its intents with the default strategy (lowest price) after an offer window; the
//! winner delivers, the publisher sends a receipt. Measured: negotiations completed, completed
//! per second of the run's clock, time from publication to receipt, INP messages.

use std::collections::HashMap;
use std::time::Duration;

use mesh_core::negotiation::{Delivery, Eta, Price, Proposal, Receipt, StateKind};
use mesh_core::{Capability, Intent, IntentId};
use mesh_net::{
    AwardError, AwardPolicy, LowestPrice, MeshHandle, NegotiateError, NegotiationEventKind,
    NetError, PublishError,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::net::NodeSettings;
use crate::population::Population;
use crate::propagation::median;

/// The capability every node offers.
pub const CAPABILITY: &str = "sim";

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Params {
    /// Nodes.
    pub nodes: usize,
    /// Nodes that publish (the first of every `nodes / publishers`).
    pub publishers: usize,
    /// Intents each publisher publishes, all at once.
    pub intents_per_publisher: usize,
    /// Agents that bid on each intent, on average.
    pub bidders: usize,
    /// How long a publisher collects offers before it awards.
    pub window: Duration,
    /// How every node and link is set up.
    pub settings: NodeSettings,
    /// Random live nodes each node bootstraps from.
    pub degree: usize,
    /// Seed.
    pub seed: u64,
    /// The clock.
    pub clock: Clock,
    /// How long the network settles after the nodes started.
    pub settle: Duration,
    /// How long the whole measured run may take.
    pub timeout: Duration,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            nodes: 100,
            publishers: 10,
            intents_per_publisher: 5,
            bidders: 3,
            window: Duration::from_secs(1),
            settings: NodeSettings::default(),
            degree: 3,
            seed: 7,
            clock: Clock::Virtual,
            // Long enough for the nodes to trim their connections under the limit once.
            settle: Duration::from_secs(20),
            timeout: Duration::from_secs(120),
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Nodes.
    pub nodes: usize,
    /// Publishers.
    pub publishers: usize,
    /// Intents published.
    pub intents: usize,
    /// One-way link latency, ms.
    pub latency_ms: f64,
    /// The offer window, ms.
    pub window_ms: f64,
    /// Seed.
    pub seed: u64,
    /// Offers made.
    pub offers: usize,
    /// Negotiations that reached a receipt.
    pub completed: usize,
    /// Intents no offer was accepted for.
    pub unawarded: usize,
    /// Intents whose publication, award or receipt failed.
    pub failed: usize,
    /// Intents at least one agent is chosen to bid on (the choice follows from the intent's
    /// and the agents' ids alone, so this needs nothing from the network).
    #[serde(default)]
    pub intents_with_chosen_bidder: usize,
    /// Intents at least one agent bid on: it received the intent and sent an offer, which
    /// may or may not have arrived.
    #[serde(default)]
    pub intents_with_bid: usize,
    /// Intents whose publisher held at least one offer when it awarded.
    #[serde(default)]
    pub intents_with_offer: usize,
    /// Completed negotiations over intents with an offer: the share of intents a publisher
    /// could award that ended with a receipt.
    #[serde(default)]
    pub completed_per_intent_with_offer: f64,
    /// Failed calls (offer, award, deliver, receipt), by the error's text.
    pub errors: HashMap<String, usize>,
    /// Seconds from the first publication to the last receipt.
    pub run_s: f64,
    /// `completed / run_s`.
    pub completed_per_s: f64,
    /// Signed INP messages taken into the publishers' transcripts per second.
    pub inp_messages_per_s: f64,
    /// Median time from publication to receipt, ms.
    pub median_publish_to_receipt_ms: Option<f64>,
    /// The same minus the offer window, in link round trips.
    pub median_beyond_window_rtts: Option<f64>,
    /// Time from publication to receipt of each completed negotiation, ms, sorted.
    pub publish_to_receipt_ms: Vec<f64>,
}

/// What the tasks of a run report.
enum Outcome {
    /// An agent chose to bid on an intent it received.
    Bidding(IntentId),
    /// An agent's offer was taken in by the publisher.
    Offered,
    /// An agent's offer or delivery failed.
    AgentFailed(String),
    /// An intent's negotiation reached its receipt.
    Completed {
        id: IntentId,
        publish_to_receipt: Duration,
    },
    /// No offer on an intent was accepted; the publisher held `offers` when it awarded.
    Unawarded { id: IntentId, offers: usize },
    /// Publishing, awarding or receipting an intent failed.
    IntentFailed(String),
}

/// Runs the scenario.
pub async fn run(p: &Params) -> anyhow::Result<Report> {
    anyhow::ensure!(
        p.publishers >= 1 && p.publishers < p.nodes,
        "--publishers must be at least 1 and fewer than --nodes"
    );
    anyhow::ensure!(p.bidders >= 1, "--bidders must be at least 1");
    let capability = Capability::new(CAPABILITY)?;
    let mut population = Population::new(p.settings.clone(), p.seed);
    population
        .start_many(p.nodes, p.degree, |_| vec![capability.clone()])
        .await?;
    let stride = p.nodes / p.publishers;
    let publishers: Vec<usize> = (0..p.publishers).map(|k| k * stride).collect();
    tokio::time::sleep(p.settle).await;

    let (tx, mut rx) = mpsc::channel::<Outcome>(4096);
    let mut tasks = JoinSet::new();
    // Agents: bid on the intents chosen for them, deliver what they are awarded.
    let share = (p.bidders as f64 / (p.nodes - 1) as f64).min(1.0);
    let agents: Vec<usize> = population
        .live()
        .filter(|i| !publishers.contains(i))
        .collect();
    let agent_ids: Vec<Vec<u8>> = agents
        .iter()
        .filter_map(|i| population.get(*i))
        .map(|n| n.handle.peer_id().to_bytes())
        .collect();
    for i in agents {
        let price_seed = population.rng().r#gen::<u64>();
        let Some(node) = population.get(i) else {
            continue;
        };
        tasks.spawn(agent(node.handle.clone(), share, price_seed, tx.clone()));
    }

    let started = Instant::now();
    let mut awards = JoinSet::new();
    for &i in &publishers {
        let Some(node) = population.get(i) else {
            continue;
        };
        for k in 0..p.intents_per_publisher {
            let handle = node.handle.clone();
            let tx = tx.clone();
            let window = p.window;
            awards.spawn(async move {
                let outcome = publish_and_award(&handle, i, k, window).await;
                let _ = tx.send(outcome.unwrap_or_else(Outcome::IntentFailed)).await;
            });
        }
    }
    drop(tx);

    let intents = p.publishers * p.intents_per_publisher;
    let mut report_offers = 0;
    let mut completed = Vec::new();
    let mut unawarded = 0;
    let mut failed = 0;
    let mut published: Vec<IntentId> = Vec::new();
    let mut with_offer = 0;
    let mut with_bid: std::collections::HashSet<IntentId> = std::collections::HashSet::new();
    let mut errors: HashMap<String, usize> = HashMap::new();
    let mut last = started;
    let deadline = started + p.timeout;
    while completed.len() + unawarded + failed < intents {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Outcome::Bidding(id))) => {
                with_bid.insert(id);
            }
            Ok(Some(Outcome::Offered)) => report_offers += 1,
            Ok(Some(Outcome::Completed {
                id,
                publish_to_receipt,
            })) => {
                completed.push(publish_to_receipt);
                published.push(id);
                with_offer += 1;
                last = Instant::now();
            }
            Ok(Some(Outcome::Unawarded { id, offers })) => {
                unawarded += 1;
                published.push(id);
                if offers > 0 {
                    with_offer += 1;
                }
            }
            Ok(Some(Outcome::IntentFailed(e))) => {
                failed += 1;
                *errors.entry(e).or_default() += 1;
            }
            Ok(Some(Outcome::AgentFailed(e))) => *errors.entry(e).or_default() += 1,
            Ok(None) | Err(_) => break,
        }
    }
    let run_s = last.duration_since(started).as_secs_f64();
    let mut inp_messages = 0usize;
    for &i in &publishers {
        if let Some(node) = population.get(i) {
            for n in node.handle.negotiations().await? {
                inp_messages += n.messages;
            }
        }
    }
    awards.abort_all();
    tasks.abort_all();
    population.stop_all().await;

    let rtt_ms = 2.0 * p.settings.link.latency.as_secs_f64() * 1e3;
    let window_ms = p.window.as_secs_f64() * 1e3;
    let mut publish_to_receipt_ms: Vec<f64> =
        completed.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    publish_to_receipt_ms.sort_by(f64::total_cmp);
    let median_ms = median(publish_to_receipt_ms.iter().map(|m| Some(*m)));
    let per_s = |n: usize| if run_s > 0.0 { n as f64 / run_s } else { 0.0 };
    let chosen = |id: &IntentId| {
        agent_ids
            .iter()
            .any(|a| (mix(id, a) as f64 / u64::MAX as f64) < share)
    };
    Ok(Report {
        nodes: p.nodes,
        publishers: p.publishers,
        intents,
        latency_ms: p.settings.link.latency.as_secs_f64() * 1e3,
        window_ms,
        seed: p.seed,
        offers: report_offers,
        completed: completed.len(),
        unawarded,
        failed,
        intents_with_chosen_bidder: published.iter().filter(|id| chosen(id)).count(),
        intents_with_bid: published.iter().filter(|id| with_bid.contains(id)).count(),
        intents_with_offer: with_offer,
        completed_per_intent_with_offer: if with_offer > 0 {
            completed.len() as f64 / with_offer as f64
        } else {
            0.0
        },
        errors,
        run_s,
        completed_per_s: per_s(completed.len()),
        inp_messages_per_s: per_s(inp_messages),
        median_publish_to_receipt_ms: median_ms,
        median_beyond_window_rtts: median_ms
            .filter(|_| rtt_ms > 0.0)
            .map(|m| (m - window_ms) / rtt_ms),
        publish_to_receipt_ms,
    })
}

/// Publishes one intent, awards it after `window`, and sends the receipt once the winner has
/// delivered.
async fn publish_and_award(
    handle: &MeshHandle,
    publisher: usize,
    k: usize,
    window: Duration,
) -> Result<Outcome, String> {
    let mut events = handle.subscribe_negotiations();
    let t0 = Instant::now();
    let intent = Intent::new(format!("job {publisher}/{k}"))
        .capabilities([CAPABILITY])
        .ttl(Duration::from_secs(600));
    let id: IntentId = handle
        .publish_intent(&intent)
        .await
        .map_err(|e| format!("publish: {}", publish_kind(&e)))?
        .id
        .parse()
        .map_err(|e| format!("intent id: {e}"))?;
    let policy = AwardPolicy {
        window,
        ..AwardPolicy::default()
    };
    let outcome = mesh_net::award::award(handle, id, &policy, &LowestPrice::new(0.0))
        .await
        .map_err(|e| format!("award: {}", award_kind(&e)))?;
    let Some(accepted) = outcome.accepted else {
        return Ok(Outcome::Unawarded {
            id,
            offers: outcome.offers,
        });
    };
    // Wait for the winner's delivery, then rate it.
    loop {
        match events.recv().await {
            Ok(e)
                if e.negotiation_id == accepted
                    && e.kind == NegotiationEventKind::Deliver
                    && e.received =>
            {
                break;
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                if let Some(n) = handle
                    .negotiations()
                    .await
                    .map_err(|e| format!("negotiations: {e}"))?
                    .into_iter()
                    .find(|n| n.negotiation_id == accepted)
                    && n.state == StateKind::Delivered
                {
                    break;
                }
            }
            Err(e) => return Err(format!("negotiation events: {e}")),
        }
    }
    let negotiation = accepted
        .parse()
        .map_err(|e| format!("negotiation id: {e}"))?;
    handle
        .receipt(negotiation, Receipt::new(0.9))
        .await
        .map_err(|e| format!("receipt: {}", kind(&e)))?;
    Ok(Outcome::Completed {
        id,
        publish_to_receipt: t0.elapsed(),
    })
}

/// An agent: bids on each intent whose id picks it (a `share` of all), at a price drawn from
/// its seed, and delivers each accepted offer at once.
async fn agent(handle: MeshHandle, share: f64, price_seed: u64, tx: mpsc::Sender<Outcome>) {
    let mut intents = handle.subscribe_intents();
    let mut events = handle.subscribe_negotiations();
    let me = handle.peer_id().to_bytes();
    let mut work = JoinSet::new();
    loop {
        tokio::select! {
            received = intents.recv() => {
                let id = match received {
                    Ok(received) => received.intent.id,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let pick = mix(&id, &me);
                if (pick as f64 / u64::MAX as f64) >= share {
                    continue;
                }
                let cents = 100 + (pick ^ price_seed) % 400;
                let (handle, tx) = (handle.clone(), tx.clone());
                let _ = tx.send(Outcome::Bidding(id)).await;
                work.spawn(async move {
                    let _ = tx.send(bid(&handle, id, cents).await).await;
                });
            }
            event = events.recv() => {
                let event = match event {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if event.kind != NegotiationEventKind::Accept || !event.received {
                    continue;
                }
                let Ok(negotiation) = event.negotiation_id.parse() else { continue };
                let (handle, tx) = (handle.clone(), tx.clone());
                work.spawn(async move {
                    let delivery = Delivery::inline("text/plain", b"done".to_vec());
                    if let Err(e) = handle.deliver(negotiation, delivery).await {
                        let _ = tx.send(Outcome::AgentFailed(format!("deliver: {}", kind(&e)))).await;
                    }
                });
            }
            Some(_) = work.join_next(), if !work.is_empty() => {}
        }
    }
}

/// Offers `cents` / 100 USD on intent `id`.
async fn bid(handle: &MeshHandle, id: IntentId, cents: u64) -> Outcome {
    let price = match Price::new(format!("{}.{:02}", cents / 100, cents % 100), "USD") {
        Ok(price) => price,
        Err(e) => return Outcome::AgentFailed(format!("price: {e}")),
    };
    let proposal = Proposal::new(price, Eta::Within(Duration::from_secs(60)));
    match handle.offer(id, proposal).await {
        Ok(_) => Outcome::Offered,
        Err(e) => Outcome::AgentFailed(format!("offer: {}", kind(&e))),
    }
}

/// A short, stable name for a negotiation step's error, to count failures by.
fn kind(e: &NegotiateError) -> String {
    match e {
        NegotiateError::Inp(e) => e.code().to_owned(),
        NegotiateError::Refused { code, .. } => format!("refused {code}"),
        NegotiateError::Unreachable { reason, .. } => format!("unreachable {reason}"),
        NegotiateError::Busy { what, .. } => format!("busy {what}"),
        NegotiateError::Stopped => "stopped".to_owned(),
        other => other.to_string(),
    }
}

/// A short, stable name for a publish's error, to count failures by.
fn publish_kind(e: &PublishError) -> String {
    match e {
        PublishError::Busy { what, .. } => format!("busy {what}"),
        PublishError::Stopped => "stopped".to_owned(),
        other => other.to_string(),
    }
}

/// A short, stable name for an award's error, to count failures by.
fn award_kind(e: &AwardError) -> String {
    match e {
        AwardError::Negotiate(e) => kind(e),
        AwardError::Net(NetError::Stopped) => "stopped".to_owned(),
        other => other.to_string(),
    }
}

/// A number from an intent id and an agent id, spread evenly over `u64`.
fn mix(id: &IntentId, agent: &[u8]) -> u64 {
    let digest = Sha256::new()
        .chain_update(id.0)
        .chain_update(agent)
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}
