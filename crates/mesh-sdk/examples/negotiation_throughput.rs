//! Negotiation throughput: one publisher and K agents in one process over loopback TCP.
//!
//! ```text
//! cargo run --release -p mesh-sdk --example negotiation_throughput
//! cargo run --release -p mesh-sdk --example negotiation_throughput -- --agents 4 --intents 100
//! ```
//!
//! The publisher and K agents (default 8, capability `bench`, bootstrapped from the publisher)
//! start as [`MeshNetwork`]s on 127.0.0.1 with mDNS off and temporary homes. Once a warm-up
//! intent has reached every agent, the clock starts and the publisher publishes M intents
//! (default 50) back to back. Every agent bids on every intent as soon as it arrives, each bid in
//! its own task, at a price that rotates the cheapest agent from one intent to the next. When all
//! K offers on an intent are in, the publisher awards it with [`LowestPrice`] (accepts one,
//! rejects the others); the winner delivers as soon as it sees the accept; the publisher sends a
//! receipt as soon as it sees the delivery. A negotiation is complete when the receipt's call
//! returns, i.e. once the agent has taken the receipt in. The clock stops when all M are complete
//! and every award's rejections have returned.
//!
//! Reported: completed negotiations per second and INP messages per second (every signed
//! message taken into a transcript: K offers, 1 accept, K-1 rejects, 1 delivery and 1 receipt
//! per intent, counted from the publisher's event stream, which sees all of them), and the time
//! from an intent's publication to its receipt. Flags: `--agents K`, `--intents M`, `--json`.

use std::collections::HashMap;
use std::error::Error;
use std::time::{Duration, Instant};

use futures::StreamExt;
use mesh_sdk::{
    Delivery, Eta, Intent, IntentId, IntentStream, LowestPrice, MeshNetwork, NegotiationEventKind,
    NegotiationId, Price, Proposal, Receipt, StateKind,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

type BoxError = Box<dyn Error + Send + Sync>;

const CAPABILITY: &str = "bench";
/// Title prefix of the intents that only check that every agent is reachable.
const WARMUP: &str = "warm-up ";
/// Title prefix of the measured intents, followed by the intent's index.
const PROBE: &str = "throughput probe ";
/// How long the measured run may take in all.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// An intent with fewer than K offers this long after its first one is awarded anyway.
const OFFER_GRACE: Duration = Duration::from_secs(5);

struct Args {
    agents: usize,
    intents: usize,
    json: bool,
}

fn args() -> Result<Args, BoxError> {
    let mut out = Args {
        agents: 8,
        intents: 50,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--agents" => out.agents = it.next().ok_or("--agents needs a value")?.parse()?,
            "--intents" => out.intents = it.next().ok_or("--intents needs a value")?.parse()?,
            "--json" => out.json = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; use --agents K, --intents M, --json"
                )
                .into());
            }
        }
    }
    if out.agents == 0 || out.intents == 0 {
        return Err("--agents and --intents must be at least 1".into());
    }
    Ok(out)
}

/// The publisher's view of one intent.
#[derive(Default)]
struct Tracked {
    published: Option<Instant>,
    offers: usize,
    first_offer: Option<Instant>,
    awarded: bool,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = args()?;
    let (k, m) = (args.agents, args.intents);
    let scratch = tempfile::tempdir()?;

    let publisher = agent(scratch.path(), "publisher", &[], None)?;
    publisher.connect().await?;
    let hub = publisher.info().await?.listen_addrs[0].clone();
    let mut agents: Vec<(MeshNetwork, IntentStream)> = Vec::with_capacity(k);
    for j in 0..k {
        let name = format!("agent-{j}");
        let network = agent(scratch.path(), &name, &[CAPABILITY], Some(&hub))?;
        network.connect().await?;
        let intents = network.subscribe_to_intents();
        agents.push((network, intents));
    }

    // Publish warm-up intents until each agent has received one: then the publisher knows every
    // agent's subscription.
    let ready_by = Instant::now() + Duration::from_secs(60);
    let mut ready = vec![false; k];
    let mut warmups = 0;
    while ready.contains(&false) {
        if Instant::now() > ready_by {
            let missing = ready.iter().filter(|r| !**r).count();
            return Err(
                format!("{missing} of {k} agents received no warm-up intent in 60 s").into(),
            );
        }
        warmups += 1;
        publisher
            .publish_intent(intent(&format!("{WARMUP}{warmups}")))
            .await?;
        for (j, (_, intents)) in agents.iter_mut().enumerate() {
            if !ready[j]
                && let Ok(Some(_)) =
                    tokio::time::timeout(Duration::from_secs(2), intents.next()).await
            {
                ready[j] = true;
            }
        }
    }

    // The agents run on their own; errors come back on this channel.
    let (error_tx, mut error_rx) = mpsc::channel::<String>(1024);
    let mut agent_tasks = JoinSet::new();
    let mut networks = Vec::with_capacity(k);
    for (j, (network, intents)) in agents.into_iter().enumerate() {
        networks.push(network.clone());
        agent_tasks.spawn(run_agent(j, k, network, intents, error_tx.clone()));
    }

    // Subscribe before the first intent, so that no offer can be missed.
    let mut events = Box::pin(publisher.negotiation_events());
    let (published_tx, mut published_rx) = mpsc::channel::<(String, Instant)>(m);
    let started = Instant::now();
    let deadline = started + RUN_TIMEOUT;
    let publishing = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            for i in 0..m {
                let outcome = publisher
                    .publish_intent(intent(&format!("{PROBE}{i}")))
                    .await?;
                let _ = published_tx.send((outcome.id, Instant::now())).await;
            }
            Ok::<_, BoxError>(())
        })
    };

    let mut tracked: HashMap<String, Tracked> = HashMap::new();
    let mut awards: JoinSet<Result<(), BoxError>> = JoinSet::new();
    let mut receipts: JoinSet<Result<(String, Instant), BoxError>> = JoinSet::new();
    let mut messages = 0usize;
    let mut late_awards = 0usize;
    let mut completed = 0usize;
    let mut errors = Vec::new();
    let mut to_receipt = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    while completed < m || !awards.is_empty() {
        if Instant::now() > deadline {
            errors.push(format!(
                "timed out after {} s with {completed} of {m} negotiations complete",
                RUN_TIMEOUT.as_secs()
            ));
            break;
        }
        tokio::select! {
            Some(e) = events.next() => {
                messages += 1;
                if !e.received {
                    continue;
                }
                if e.kind == NegotiationEventKind::Offer {
                    let t = tracked.entry(e.intent_id.clone()).or_default();
                    t.offers += 1;
                    t.first_offer.get_or_insert_with(Instant::now);
                    if t.offers == k && !t.awarded {
                        t.awarded = true;
                        awards.spawn(award(publisher.clone(), e.intent_id.clone()));
                    }
                } else if e.kind == NegotiationEventKind::Deliver {
                    let publisher = publisher.clone();
                    receipts.spawn(async move {
                        let id: NegotiationId = e.negotiation_id.parse()?;
                        let done = publisher
                            .receipt(id, Receipt::new(0.9).with_comment("benchmark"))
                            .await?;
                        if done.state != StateKind::Completed {
                            return Err(format!("receipt left {} {}", id, done.state).into());
                        }
                        Ok((e.intent_id, Instant::now()))
                    });
                }
            }
            Some((id, at)) = published_rx.recv() => {
                tracked.entry(id).or_default().published = Some(at);
            }
            Some(result) = awards.join_next() => {
                if let Err(e) = result.map_err(BoxError::from).and_then(|r| r) {
                    errors.push(format!("award: {e}"));
                }
            }
            Some(result) = receipts.join_next() => {
                match result.map_err(BoxError::from).and_then(|r| r) {
                    Ok(done) => {
                        completed += 1;
                        to_receipt.push(done);
                    }
                    Err(e) => errors.push(format!("receipt: {e}")),
                }
            }
            Some(e) = error_rx.recv() => errors.push(e),
            _ = tick.tick() => {
                // An intent some agent missed: award it with the offers it has.
                for (id, t) in tracked.iter_mut() {
                    if !t.awarded && t.first_offer.is_some_and(|f| f.elapsed() > OFFER_GRACE) {
                        t.awarded = true;
                        late_awards += 1;
                        awards.spawn(award(publisher.clone(), id.clone()));
                    }
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let messages_in_run = messages;
    // Messages still queued when the clock stopped (none expected).
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), events.next()).await {
        messages += 1;
    }
    publishing.await??;
    while let Ok(e) = error_rx.try_recv() {
        errors.push(e);
    }

    let mut latencies: Vec<f64> = to_receipt
        .iter()
        .filter_map(|(id, done)| {
            tracked
                .get(id)
                .and_then(|t| t.published)
                .map(|p| done.saturating_duration_since(p).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let n = latencies.len();
        if n == 0 {
            f64::NAN
        } else {
            latencies[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1]
        }
    };
    let secs = elapsed.as_secs_f64();
    let report = serde_json_like(&[
        ("agents", k.to_string()),
        ("intents", m.to_string()),
        ("completed", completed.to_string()),
        ("elapsed_s", format!("{secs:.3}")),
        (
            "negotiations_per_s",
            format!("{:.1}", completed as f64 / secs),
        ),
        ("inp_messages", messages_in_run.to_string()),
        ("inp_messages_expected", (m * (2 * k + 2)).to_string()),
        ("inp_messages_after_drain", messages.to_string()),
        (
            "inp_messages_per_s",
            format!("{:.1}", messages_in_run as f64 / secs),
        ),
        ("intents_per_s", format!("{:.1}", m as f64 / secs)),
        ("publish_to_receipt_p50_ms", format!("{:.1}", pct(50.0))),
        ("publish_to_receipt_p90_ms", format!("{:.1}", pct(90.0))),
        ("publish_to_receipt_max_ms", format!("{:.1}", pct(100.0))),
        ("late_awards", late_awards.to_string()),
        ("warmup_intents", warmups.to_string()),
        ("errors", errors.len().to_string()),
        (
            "cores",
            std::thread::available_parallelism()
                .map_or(0, |n| n.get())
                .to_string(),
        ),
        ("cpu", cpu_model()),
    ]);

    agent_tasks.abort_all();
    for network in &networks {
        network.shutdown().await;
    }
    publisher.shutdown().await;

    if args.json {
        println!("{report}");
    } else {
        println!(
            "Negotiation throughput, 1 publisher + {k} agents in one process, loopback TCP, {m} intents, every agent bids on every intent\n"
        );
        println!("| measurement | value |");
        println!("|---|---:|");
        println!("| completed negotiations (receipt acknowledged) | {completed} of {m} |");
        println!("| wall time, first publish -> last receipt and rejection | {secs:.3} s |");
        println!(
            "| **completed negotiations per second** | **{:.1}** |",
            completed as f64 / secs
        );
        println!(
            "| INP messages (offers, accepts, rejects, deliveries, receipts) | {messages_in_run} (expected {}) |",
            m * (2 * k + 2)
        );
        println!(
            "| **INP messages per second** | **{:.1}** |",
            messages_in_run as f64 / secs
        );
        println!(
            "| intent published -> receipt acknowledged, p50 / p90 / max | {:.1} / {:.1} / {:.1} ms |",
            pct(50.0),
            pct(90.0),
            pct(100.0)
        );
        println!("| intents awarded with fewer than {k} offers | {late_awards} |");
        println!("\nmachine: {}, {} cores", cpu_model(), report_cores());
    }
    for e in errors.iter().take(10) {
        eprintln!("error: {e}");
    }
    if errors.len() > 10 {
        eprintln!("... and {} more errors", errors.len() - 10);
    }
    if !errors.is_empty() || completed < m {
        return Err(format!("{} errors, {completed} of {m} complete", errors.len()).into());
    }
    Ok(())
}

/// One agent: bids on every measured intent, delivers every accepted one.
async fn run_agent(
    j: usize,
    k: usize,
    network: MeshNetwork,
    mut intents: IntentStream,
    errors: mpsc::Sender<String>,
) {
    // Subscribed before any bid, so that no answer can be missed.
    let mut events = Box::pin(network.negotiation_events());
    let mut tasks: JoinSet<Result<(), BoxError>> = JoinSet::new();
    loop {
        tokio::select! {
            Some(intent) = intents.next() => {
                let Some(i) = intent
                    .title()
                    .strip_prefix(PROBE)
                    .and_then(|s| s.parse::<usize>().ok())
                else {
                    continue;
                };
                // Agent (i mod K) is the cheapest on intent i.
                let amount = format!("{}.00", 1 + (j + k - i % k) % k);
                let network = network.clone();
                tasks.spawn(async move {
                    let proposal = Proposal::new(
                        Price::new(&amount, "USD")?,
                        Eta::Within(Duration::from_secs(60)),
                    )
                    .with_terms("benchmark");
                    network.bid(intent.id, proposal).await?;
                    Ok(())
                });
            }
            Some(e) = events.next() => {
                if e.received && e.kind == NegotiationEventKind::Accept {
                    let network = network.clone();
                    tasks.spawn(async move {
                        let id: NegotiationId = e.negotiation_id.parse()?;
                        network
                            .deliver(id, Delivery::inline("text/plain", "benchmark result"))
                            .await?;
                        Ok(())
                    });
                }
            }
            Some(result) = tasks.join_next() => {
                if let Err(e) = result.map_err(BoxError::from).and_then(|r| r) {
                    // Bounded: past 1024 queued errors, the rest are dropped.
                    let _ = errors.try_send(format!("agent-{j}: {e}"));
                }
            }
            else => return,
        }
    }
}

/// Awards an intent with the lowest price.
async fn award(publisher: MeshNetwork, intent_id: String) -> Result<(), BoxError> {
    let id: IntentId = intent_id.parse()?;
    match publisher.award(id, &LowestPrice::new(0.0)).await? {
        Some(_) => Ok(()),
        None => Err(format!("no offer chosen on {intent_id}").into()),
    }
}

fn intent(title: &str) -> Intent {
    Intent::new(title)
        .capabilities([CAPABILITY])
        .ttl(Duration::from_secs(600))
}

fn agent(
    dir: &std::path::Path,
    name: &str,
    capabilities: &[&str],
    bootstrap: Option<&str>,
) -> Result<MeshNetwork, mesh_sdk::Error> {
    MeshNetwork::builder()
        .home(dir.join(name))
        .name(name)
        .capabilities(capabilities.iter().copied())
        .bootstrap_peers(bootstrap)
        .listen_addresses(["/ip4/127.0.0.1/tcp/0"])
        .mdns(false)
        .connect_timeout(Duration::from_secs(30))
        // A benchmark publishes far faster than an agent: lift the per-publisher quota.
        .intent_quota(1_000_000)
        .build()
}

fn report_cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// `model name` of the first CPU in /proc/cpuinfo, if there is one.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// A flat JSON object of already formatted values (numbers stay numbers; the CPU is a string).
fn serde_json_like(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            if v == "NaN" {
                format!("  \"{k}\": null")
            } else if v.parse::<f64>().is_ok() {
                format!("  \"{k}\": {v}")
            } else {
                format!("  \"{k}\": {v:?}")
            }
        })
        .collect();
    format!("{{\n{}\n}}", body.join(",\n"))
}
