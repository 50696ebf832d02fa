//! Latency of a negotiation between two `mesh node` processes on loopback.
//!
//! Node A (the publisher, no capability) and node B (the agent, capability `bench`, bootstrapped
//! to A) run as separate `mesh node` processes with mDNS off. This program opens B's event stream
//! (`GET /v1/intents/stream?capabilities=bench`), then, one intent at a time: publishes an intent
//! through A's local API, waits until it is read from B's stream, and drives one whole
//! negotiation through the two APIs:
//!
//! 1. B: `POST /v1/negotiations/offer` (answers once A has taken the signed offer in),
//! 2. A: `POST /v1/negotiations/{id}/accept` (once B has taken the accept in),
//! 3. B: `POST /v1/negotiations/{id}/deliver` (inline result),
//! 4. A: `POST /v1/negotiations/{id}/receipt`, which completes it.
//!
//! Each step is timed in this process, one clock, from just before the request to its response;
//! the whole negotiation is timed from just before the offer to the receipt's response. Baselines
//! from the same run, after each negotiation: `GET /v1/health` on A and on B (the local API round
//! trip without the network), and the libp2p ping RTT between A and B as `GET /v1/peers`
//! reports it.
//!
//! The `mesh` binary must be built first, in the same profile:
//!
//! ```text
//! cargo build --release -p mesh-cli
//! cargo run --release -p mesh-cli --example negotiation_latency -- --count 100
//! ```
//!
//! Flags: `--count N` (negotiations measured, default 100), `--warmup N` (default 10),
//! `--result-bytes N` (size of the inline delivery, default 64), `--ping-samples N` (default 1),
//! `--json` (with `--raw`: every full negotiation's time too), `--mesh PATH` (default: `mesh` in
//! the directory above this example, i.e. `target/<profile>/mesh`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::Parser;
use mesh_core::negotiation::StateKind;
use mesh_net::{NegotiationEvent, PublishOutcome};
use mesh_node::views::PublishIntentRequest;
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

mod common;
use common::*;

#[derive(Debug, Parser)]
#[command(about = "Negotiation latency between two `mesh node` processes on loopback")]
struct Args {
    /// Negotiations measured.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Negotiations run and discarded once B is reachable, before measuring.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Size of the inline result B delivers, in bytes.
    #[arg(long, default_value_t = 64)]
    result_bytes: usize,
    /// Wait after the run until each node has reported this many distinct ping RTTs (the nodes
    /// ping every 15 s, so each sample past the first adds about 15 s).
    #[arg(long, default_value_t = 1)]
    ping_samples: usize,
    /// Print JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// With --json, also list every full negotiation's time in ms, in order.
    #[arg(long)]
    raw: bool,
    /// The `mesh` binary (default: target/<profile>/mesh next to this example).
    #[arg(long, value_name = "PATH")]
    mesh: Option<PathBuf>,
}

/// Publishes one intent on A and waits until B's stream shows it. Returns its id, or `None` if
/// it did not arrive in time.
async fn publish(
    a: &Api,
    rx: &mut mpsc::Receiver<Arrival>,
    i: usize,
    timeout: Duration,
) -> anyhow::Result<Option<String>> {
    let request = PublishIntentRequest {
        capabilities: vec![CAPABILITY.to_owned()],
        title: format!("negotiation probe {i}"),
        description: Some("MESH negotiation latency benchmark".to_owned()),
        ttl_secs: Some(600),
        ..Default::default()
    };
    let outcome: PublishOutcome = a.post("/v1/intents", &request).await?;
    Ok(arrival_of(rx, &outcome.id, timeout)
        .await?
        .map(|_| outcome.id))
}

/// One measured negotiation: each step from request to response.
struct Sample {
    offer: Duration,
    accept: Duration,
    deliver: Duration,
    receipt: Duration,
    /// Just before the offer to the receipt's response.
    full: Duration,
    /// Times B's offer was answered 404 `unknown_intent` before it was taken.
    offer_retries: usize,
}

/// Runs one negotiation on an intent B has received.
async fn negotiate(
    a: &Api,
    b: &Api,
    intent_id: &str,
    result: &serde_json::Value,
) -> anyhow::Result<Sample> {
    let offer_body = json!({
        "intent_id": intent_id,
        "amount": "1.00",
        "currency": "USD",
        "eta_secs": 60,
        "terms": "benchmark",
    });
    let mut offer_retries = 0;
    let (start, offer, event) = loop {
        let start = Instant::now();
        let (status, value) = b.post_raw("/v1/negotiations/offer", &offer_body).await?;
        let offer = start.elapsed();
        if status == reqwest::StatusCode::NOT_FOUND
            && value["error"]["code"] == "unknown_intent"
            && offer_retries < 100
        {
            // B's stream showed the intent, so this should not happen; retry if it does.
            offer_retries += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        if !status.is_success() {
            bail!("offer on B: {status} {value}");
        }
        let event: NegotiationEvent = serde_json::from_value(value)?;
        break (start, offer, event);
    };
    expect_state(&event, StateKind::Offered)?;
    let id = event.negotiation_id;

    let (accept, event) = timed(a.post(&format!("/v1/negotiations/{id}/accept"), &json!({}))).await;
    expect_state(&event?, StateKind::Agreed)?;
    let (deliver, event) = timed(b.post(&format!("/v1/negotiations/{id}/deliver"), result)).await;
    expect_state(&event?, StateKind::Delivered)?;
    let receipt_body = json!({"rating": 0.9, "comment": "benchmark"});
    let (receipt, event) =
        timed(a.post(&format!("/v1/negotiations/{id}/receipt"), &receipt_body)).await;
    let full = start.elapsed();
    expect_state(&event?, StateKind::Completed)?;
    Ok(Sample {
        offer,
        accept,
        deliver,
        receipt,
        full,
        offer_retries,
    })
}

async fn timed<T>(fut: impl Future<Output = T>) -> (Duration, T) {
    let start = Instant::now();
    let out = fut.await;
    (start.elapsed(), out)
}

fn expect_state(event: &NegotiationEvent, state: StateKind) -> anyhow::Result<()> {
    if event.state != state {
        bail!(
            "negotiation {} is {} after {}, expected {state}",
            event.negotiation_id,
            event.state,
            event.kind
        );
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct Report {
    count: usize,
    /// Intents that did not reach B in time (no negotiation run for them).
    lost: usize,
    warmup: usize,
    result_bytes: usize,
    /// Offers answered 404 unknown_intent and retried (B's stream had shown the intent).
    offer_retries: usize,
    /// POST /v1/negotiations/offer on B: request to response (after A took the offer in).
    offer_ms: Option<Summary>,
    /// POST /v1/negotiations/{id}/accept on A: request to response.
    accept_ms: Option<Summary>,
    /// POST /v1/negotiations/{id}/deliver on B: request to response.
    deliver_ms: Option<Summary>,
    /// POST /v1/negotiations/{id}/receipt on A: request to response.
    receipt_ms: Option<Summary>,
    /// Just before the offer to the receipt's response.
    negotiation_ms: Option<Summary>,
    /// Baseline: GET /v1/health on A.
    api_health_a_ms: Option<Summary>,
    /// Baseline: GET /v1/health on B.
    api_health_b_ms: Option<Summary>,
    /// Baseline: libp2p ping RTT of B as seen by A, each distinct value reported.
    ping_rtt_a_to_b_ms: Vec<f64>,
    /// Baseline: libp2p ping RTT of A as seen by B, each distinct value reported.
    ping_rtt_b_to_a_ms: Vec<f64>,
    /// Negotiations completed per second over the measured part (one at a time, including the
    /// intent's publication and arrival and the baselines between negotiations).
    sequential_negotiations_per_s: f64,
    mesh_binary: String,
    /// Every full negotiation's time in ms, in order (with --raw).
    #[serde(skip_serializing_if = "Option::is_none")]
    negotiation_samples_ms: Option<Vec<f64>>,
}

fn main() -> ExitCode {
    run_on_one_thread(run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mesh = mesh_binary(args.mesh.clone())?;
    let result = json!({
        "content_type": "application/octet-stream",
        "data_base64": base64::engine::general_purpose::STANDARD.encode(vec![0x5a; args.result_bytes]),
    });

    // Declared first so it is removed after the nodes are stopped.
    let dir = tempfile::tempdir()?;
    let mut pair = Pair::start(&mesh, dir.path(), CAPABILITY).await?;

    // Publish until one intent reaches B: then B's subscription is known to A.
    let mut readiness = Readiness::start();
    let first = loop {
        if let Some(id) = publish(&pair.a, &mut pair.rx, 0, Duration::from_secs(3)).await? {
            break id;
        }
        readiness.missed(&pair)?;
    };
    let (a, b) = (&pair.a, &pair.b);
    negotiate(a, b, &first, &result).await?;
    for i in 0..args.warmup {
        if let Some(id) = publish(a, &mut pair.rx, i, ARRIVAL_TIMEOUT).await? {
            negotiate(a, b, &id, &result).await?;
        }
    }

    let mut pings = Pings::default();
    pair.sample_pings(&mut pings).await?;

    let mut samples = Vec::with_capacity(args.count);
    let (mut health_a, mut health_b) = (Vec::new(), Vec::new());
    let mut lost = 0;
    let started = Instant::now();
    for i in 0..args.count {
        match publish(a, &mut pair.rx, i, ARRIVAL_TIMEOUT).await? {
            Some(id) => samples.push(
                negotiate(a, b, &id, &result)
                    .await
                    .with_context(|| format!("negotiation {i}"))?,
            ),
            None => lost += 1,
        }
        let t = Instant::now();
        let _: serde_json::Value = a.get("/v1/health").await?;
        health_a.push(ms(t.elapsed()));
        let t = Instant::now();
        let _: serde_json::Value = b.get("/v1/health").await?;
        health_b.push(ms(t.elapsed()));
        if i % 20 == 19 {
            pair.sample_pings(&mut pings).await?;
        }
    }
    let elapsed = started.elapsed();
    pair.wait_for_pings(&mut pings, args.ping_samples).await?;

    let of = |f: fn(&Sample) -> Duration| Summary::of(samples.iter().map(|s| ms(f(s))).collect());
    let report = Report {
        count: args.count,
        lost,
        warmup: args.warmup,
        result_bytes: args.result_bytes,
        offer_retries: samples.iter().map(|s| s.offer_retries).sum(),
        offer_ms: of(|s| s.offer),
        accept_ms: of(|s| s.accept),
        deliver_ms: of(|s| s.deliver),
        receipt_ms: of(|s| s.receipt),
        negotiation_ms: of(|s| s.full),
        api_health_a_ms: Summary::of(health_a),
        api_health_b_ms: Summary::of(health_b),
        ping_rtt_a_to_b_ms: pings.a_to_b,
        ping_rtt_b_to_a_ms: pings.b_to_a,
        sequential_negotiations_per_s: (samples.len() as f64 / elapsed.as_secs_f64() * 10.0)
            .round()
            / 10.0,
        mesh_binary: mesh.display().to_string(),
        negotiation_samples_ms: args.raw.then(|| {
            samples
                .iter()
                .map(|s| (ms(s.full) * 1000.0).round() / 1000.0)
                .collect()
        }),
    };
    drop(pair);

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    if lost > 0 {
        eprintln!(
            "warning: {lost} of {} intents did not reach B within {ARRIVAL_TIMEOUT:?}",
            args.count
        );
    }
    Ok(())
}

fn print_table(r: &Report) {
    println!(
        "Negotiation latency, 2 `mesh node` processes on loopback: {} negotiations, one at a time, result {} B, {} intents lost, {} offers retried\n",
        r.count, r.result_bytes, r.lost, r.offer_retries
    );
    let rows: [(&str, &Option<Summary>); 7] = [
        (
            "negotiation: offer -> accept -> deliver -> receipt (start of offer -> receipt response)",
            &r.negotiation_ms,
        ),
        ("offer: POST /v1/negotiations/offer on B", &r.offer_ms),
        ("accept: POST .../accept on A", &r.accept_ms),
        ("deliver: POST .../deliver on B", &r.deliver_ms),
        ("receipt: POST .../receipt on A", &r.receipt_ms),
        ("baseline: GET /v1/health on A", &r.api_health_a_ms),
        ("baseline: GET /v1/health on B", &r.api_health_b_ms),
    ];
    print_summaries(&rows);
    print_pings(&r.ping_rtt_a_to_b_ms, &r.ping_rtt_b_to_a_ms);
    println!(
        "sequential: {} negotiations/s (each with its intent's publication and the baselines)",
        r.sequential_negotiations_per_s
    );
}
