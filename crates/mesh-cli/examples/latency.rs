//! Latency of one intent between two `mesh node` processes on loopback.
//!
//! Node A (no capability) and node B (capability `bench`, bootstrapped to A) run as separate
//! `mesh node` processes with mDNS off. This program opens B's event stream
//! (`GET /v1/intents/stream?capabilities=bench`), then publishes intents one at a time through
//! A's local API (`POST /v1/intents`) and waits for each to arrive on B's stream before sending
//! the next. The latency of an intent is wall-clock time in this process, from just before the
//! POST to the moment the SSE event carrying the intent's id is read: one clock, microsecond
//! resolution. The nodes' own `received_at_ms - created_at_ms` is printed too, but only has
//! millisecond resolution.
//!
//! Baselines measured in the same run, interleaved with the intents: the round trip of A's own
//! API without the network (`GET /v1/health`, and `GET /v1/info`, which also passes through the
//! node's event loop), and the libp2p ping RTT between A and B as `GET /v1/peers` reports it.
//!
//! The `mesh` binary must be built first, in the same profile:
//!
//! ```text
//! cargo build --release -p mesh-cli
//! cargo run --release -p mesh-cli --example latency -- --count 200
//! ```
//!
//! Flags: `--count N` (default 200), `--warmup N` (default 20), `--payload-bytes N` (inline
//! payload size, default 0), `--ping-samples N` (wait for N ping RTTs per node, one per 15 s;
//! default 1), `--json` (with `--raw`: every sample too), `--mesh PATH` (default: `mesh` in the directory above this example,
//! i.e. `target/<profile>/mesh`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::Parser;
use mesh_net::{NodeInfo, PublishOutcome};
use mesh_node::views::{PayloadView, PublishIntentRequest};
use serde::Serialize;
use tokio::sync::mpsc;

mod common;
use common::*;

#[derive(Debug, Parser)]
#[command(about = "Intent latency between two `mesh node` processes on loopback")]
struct Args {
    /// Intents measured.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Intents sent and discarded once B is reachable, before measuring.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Size of the inline payload of each intent, in bytes (at most 49152).
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// Wait after the run until each node has reported this many distinct ping RTTs (the nodes
    /// ping every 15 s, so each sample past the first adds about 15 s).
    #[arg(long, default_value_t = 1)]
    ping_samples: usize,
    /// Print JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// With --json, also list every intent's latency in ms, in the order sent.
    #[arg(long)]
    raw: bool,
    /// The `mesh` binary (default: target/<profile>/mesh next to this example).
    #[arg(long, value_name = "PATH")]
    mesh: Option<PathBuf>,
}

/// One measured intent.
struct Sample {
    /// POST start to SSE event read.
    latency: Duration,
    /// POST start to POST response.
    post: Duration,
    /// `received_at_ms - created_at_ms` as the nodes stamped it (ms resolution).
    stamped_ms: Option<i64>,
}

/// Publishes one intent on A and waits for it on B's stream.
async fn round(
    a: &Api,
    rx: &mut mpsc::Receiver<Arrival>,
    request: &PublishIntentRequest,
    timeout: Duration,
) -> anyhow::Result<Option<Sample>> {
    let start = Instant::now();
    let outcome: PublishOutcome = a.post("/v1/intents", request).await?;
    let post = start.elapsed();
    Ok(arrival_of(rx, &outcome.id, timeout)
        .await?
        .map(|arrival| Sample {
            latency: arrival.at.saturating_duration_since(start),
            post,
            stamped_ms: arrival
                .view
                .received_at_ms
                .map(|r| r as i64 - arrival.view.created_at_ms as i64),
        }))
}

#[derive(Debug, Serialize)]
struct Report {
    count: usize,
    lost: usize,
    warmup: usize,
    payload_bytes: usize,
    /// POST start on A to SSE event read from B.
    intent_latency_ms: Option<Summary>,
    /// POST /v1/intents on A: request to response.
    publish_response_ms: Option<Summary>,
    /// received_at_ms - created_at_ms as the nodes stamped them (ms resolution).
    stamped_latency_ms: Option<Summary>,
    /// Baseline: GET /v1/health on A.
    api_health_rtt_ms: Option<Summary>,
    /// Baseline: GET /v1/info on A (through A's event loop).
    api_info_rtt_ms: Option<Summary>,
    /// Baseline: libp2p ping RTT of B as seen by A, each distinct value reported.
    ping_rtt_a_to_b_ms: Vec<f64>,
    /// Baseline: libp2p ping RTT of A as seen by B, each distinct value reported.
    ping_rtt_b_to_a_ms: Vec<f64>,
    mesh_binary: String,
    /// Every intent's latency in ms, in the order sent (with --raw).
    #[serde(skip_serializing_if = "Option::is_none")]
    intent_latency_samples_ms: Option<Vec<f64>>,
}

fn request(i: usize, payload: &Option<PayloadView>) -> PublishIntentRequest {
    PublishIntentRequest {
        capabilities: vec![CAPABILITY.to_owned()],
        title: format!("latency probe {i}"),
        description: Some("MESH latency benchmark".to_owned()),
        ttl_secs: Some(600),
        payload: payload.clone(),
        ..Default::default()
    }
}

fn main() -> ExitCode {
    run_on_one_thread(run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mesh = mesh_binary(args.mesh.clone())?;
    let payload = (args.payload_bytes > 0).then(|| PayloadView {
        content_type: "application/octet-stream".to_owned(),
        data_base64: base64::engine::general_purpose::STANDARD
            .encode(vec![0x5a; args.payload_bytes]),
    });

    // Declared first so it is removed after the nodes are stopped.
    let dir = tempfile::tempdir()?;
    let mut pair = Pair::start(&mesh, dir.path(), CAPABILITY).await?;

    // Publish until one intent reaches B: then B's subscription is known to A.
    let (mut readiness, probe) = (Readiness::start(), request(0, &payload));
    let try_wait = Duration::from_secs(3);
    while round(&pair.a, &mut pair.rx, &probe, try_wait)
        .await?
        .is_none()
    {
        readiness.missed(&pair)?;
    }
    for i in 0..args.warmup {
        let warmup = request(i, &payload);
        round(&pair.a, &mut pair.rx, &warmup, ARRIVAL_TIMEOUT).await?;
    }

    let mut pings = Pings::default();
    pair.sample_pings(&mut pings).await?;

    let mut samples = Vec::with_capacity(args.count);
    let (mut health, mut info) = (Vec::new(), Vec::new());
    let mut lost = 0;
    for i in 0..args.count {
        match round(
            &pair.a,
            &mut pair.rx,
            &request(i, &payload),
            ARRIVAL_TIMEOUT,
        )
        .await?
        {
            Some(s) => samples.push(s),
            None => lost += 1,
        }
        let t = Instant::now();
        let _: serde_json::Value = pair.a.get("/v1/health").await?;
        health.push(ms(t.elapsed()));
        let t = Instant::now();
        let _: NodeInfo = pair.a.get("/v1/info").await?;
        info.push(ms(t.elapsed()));
        if i % 20 == 19 {
            pair.sample_pings(&mut pings).await?;
        }
    }
    pair.wait_for_pings(&mut pings, args.ping_samples).await?;

    let report = Report {
        count: args.count,
        lost,
        warmup: args.warmup,
        payload_bytes: args.payload_bytes,
        intent_latency_ms: Summary::of(samples.iter().map(|s| ms(s.latency)).collect()),
        publish_response_ms: Summary::of(samples.iter().map(|s| ms(s.post)).collect()),
        stamped_latency_ms: Summary::of(
            samples
                .iter()
                .filter_map(|s| s.stamped_ms)
                .map(|v| v as f64)
                .collect(),
        ),
        api_health_rtt_ms: Summary::of(health),
        api_info_rtt_ms: Summary::of(info),
        ping_rtt_a_to_b_ms: pings.a_to_b,
        ping_rtt_b_to_a_ms: pings.b_to_a,
        mesh_binary: mesh.display().to_string(),
        intent_latency_samples_ms: args.raw.then(|| {
            samples
                .iter()
                .map(|s| (ms(s.latency) * 1000.0).round() / 1000.0)
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
            "warning: {lost} of {} intents did not arrive within {ARRIVAL_TIMEOUT:?}",
            args.count
        );
    }
    Ok(())
}

fn print_table(r: &Report) {
    println!(
        "Intent latency, 2 `mesh node` processes on loopback: {} intents, one at a time, payload {} B, {} lost\n",
        r.count, r.payload_bytes, r.lost
    );
    let rows: [(&str, &Option<Summary>); 5] = [
        (
            "intent: POST on A -> SSE event read from B",
            &r.intent_latency_ms,
        ),
        ("POST /v1/intents on A (response)", &r.publish_response_ms),
        (
            "nodes' received_at_ms - created_at_ms (1 ms resolution)",
            &r.stamped_latency_ms,
        ),
        ("baseline: GET /v1/health on A", &r.api_health_rtt_ms),
        ("baseline: GET /v1/info on A", &r.api_info_rtt_ms),
    ];
    print_summaries(&rows);
    print_pings(&r.ping_rtt_a_to_b_ms, &r.ping_rtt_b_to_a_ms);
}
