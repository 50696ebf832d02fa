//! Intent propagation across K `mesh node` processes on loopback.
//!
//! K nodes (default 30) run as separate `mesh node` processes on 127.0.0.1 over TCP with mDNS
//! off, every one with `--capability bench`. They start one after the other; node i bootstraps
//! from min(3, i) random earlier nodes (seeded SplitMix64: the same graph as
//! `bench/js-libp2p/propagation.mjs` for the same seed). This program opens the intent stream
//! (`GET /v1/intents/stream?capabilities=bench`) of nodes 1 to K - 1, publishes warm-up intents
//! through node 0's local API until one reaches all of them (the mesh has formed), lets the
//! network settle, then publishes M intents (default 50) one at a time, each 100 ms after the
//! previous one has reached everyone or timed out.
//!
//! Clock: this program's. An intent's time at a node runs from just before the POST to node 0
//! until the SSE event carrying the intent is read from that node's stream: one clock, with one
//! local hop at each end. Per intent: the time to reach 50%, 95% and 100% of the K - 1
//! subscribers and how many it reached; the report gives the medians over intents. Also
//! reported: the nodes' own `received_at_ms` (1 ms resolution) as `self_stamped_median_t100_ms`,
//! and the CPU time all K nodes used during the measured intents (from /proc, background work
//! included) divided by M, as `cpu_ms_per_message`.
//!
//! The intent's description is filled so that its signed envelope has about `--message-bytes`
//! bytes (default 300, like the js-libp2p messages).
//!
//! ```text
//! cargo build --release -p mesh-cli --bins --examples   # the `mesh` binary and this example
//! cargo run --release -p mesh-cli --example propagation_processes -- --nodes 30 --messages 50
//! ```
//!
//! Flags: `--nodes K`, `--messages M`, `--message-bytes N`, `--degree D` (bootstrap peers per
//! node, default 3), `--seed S` (default 7), `--settle-ms MS` (default 6000), `--gap-ms MS`
//! (default 100), `--timeout-ms MS` (per intent, default 10000), `--json` (only the JSON
//! report), `--mesh PATH` (default: `mesh` in the directory above this example, i.e.
//! `target/<profile>/mesh`). Without `--json` the program prints a markdown table, then the
//! JSON report as its last line.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use libp2p::identity::Keypair;
use mesh_net::{PeerInfo, PublishOutcome};
use mesh_node::views::PublishIntentRequest;
use serde::Serialize;
use tokio::sync::mpsc;

mod common;
use common::*;

/// How long one warm-up intent may take to reach everyone before the next is tried.
const WARMUP_TRY: Duration = Duration::from_secs(5);
/// How long the mesh may take to form.
const FORM_TIMEOUT: Duration = Duration::from_secs(120);
/// gossipsub's gauge of mesh peers per topic, in each node's `/metrics`.
const MESH_PEERS_METRIC: &str = "gossipsub_mesh_peer_counts";

#[derive(Debug, Parser)]
#[command(about = "Intent propagation across K `mesh node` processes on loopback")]
struct Args {
    /// Nodes, the publisher included.
    #[arg(long, default_value_t = 30)]
    nodes: usize,
    /// Intents measured.
    #[arg(long, default_value_t = 50)]
    messages: usize,
    /// Size the signed envelope of each intent is filled to, bytes.
    #[arg(long, default_value_t = 300)]
    message_bytes: usize,
    /// Random earlier nodes each node bootstraps from.
    #[arg(long, default_value_t = 3)]
    degree: usize,
    /// Seed of the bootstrap graph.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Pause once the mesh has formed, before the measurement, ms.
    #[arg(long, default_value_t = 6000)]
    settle_ms: u64,
    /// Pause between one intent's end (reached everyone, or timed out) and the next, ms.
    #[arg(long, default_value_t = 100)]
    gap_ms: u64,
    /// How long one intent may take to reach everyone, ms.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Print only the JSON report.
    #[arg(long)]
    json: bool,
    /// The `mesh` binary (default: target/<profile>/mesh next to this example).
    #[arg(long, value_name = "PATH")]
    mesh: Option<PathBuf>,
}

/// A seeded pseudo-random generator, SplitMix64, the same as `SplitMix64` in
/// `bench/js-libp2p/lib.mjs`.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The nodes each node bootstraps from: node i picks min(degree, i) distinct earlier nodes at
/// random (a partial Fisher-Yates shuffle of `0..i`), node 0 none.
fn dial_plan(nodes: usize, degree: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = SplitMix64(seed);
    let mut plan = vec![Vec::new()];
    for i in 1..nodes {
        let mut pool: Vec<usize> = (0..i).collect();
        let k = degree.min(i);
        for j in 0..k {
            let r = j + rng.below(i - j);
            pool.swap(j, r);
        }
        let mut chosen = pool[..k].to_vec();
        chosen.sort_unstable();
        plan.push(chosen);
    }
    plan
}

/// One measured intent.
#[derive(Debug, Serialize)]
struct MessageResult {
    delivered: usize,
    t50_ms: Option<f64>,
    t95_ms: Option<f64>,
    t100_ms: Option<f64>,
}

/// What a run measured: the same fields as `propagation.mjs` reports.
#[derive(Debug, Serialize)]
struct Report {
    #[serde(rename = "impl")]
    implementation: &'static str,
    transport: &'static str,
    nodes: usize,
    subscribers: usize,
    degree: usize,
    seed: u64,
    messages: usize,
    /// Bytes of each intent's signed envelope.
    message_bytes: usize,
    settle_ms: u64,
    gap_ms: u64,
    warmup_messages: usize,
    setup_s: f64,
    mean_connections: f64,
    mean_mesh_peers: Option<f64>,
    delivery_ratio: Option<f64>,
    median_t50_ms: Option<f64>,
    median_t95_ms: Option<f64>,
    median_t100_ms: Option<f64>,
    max_t100_ms: Option<f64>,
    /// `POST /v1/intents` on node 0, request to response.
    median_publish_ms: Option<f64>,
    /// From just before the POST (this program's wall clock) to the last node's
    /// `received_at_ms`, for intents that reached everyone (1 ms resolution).
    self_stamped_median_t100_ms: Option<f64>,
    /// CPU time of all K nodes during the measured intents (background work included), over M.
    cpu_ms_per_message: Option<f64>,
    mesh_binary: String,
    per_message: Vec<MessageResult>,
}

fn request(title: String, description: &str) -> PublishIntentRequest {
    PublishIntentRequest {
        capabilities: vec![CAPABILITY.to_owned()],
        title,
        description: Some(description.to_owned()),
        ttl_secs: Some(600),
        ..Default::default()
    }
}

fn title(k: usize) -> String {
    format!("propagation probe {k:06}")
}

/// Bytes of the signed envelope of `request`, signed here with a throwaway key.
fn envelope_bytes(request: &PublishIntentRequest) -> anyhow::Result<usize> {
    let intent = request.to_intent().map_err(|e| anyhow!("{e}"))?;
    Ok(intent
        .sign(&Keypair::generate_ed25519(), unix_ms())?
        .envelope
        .len())
}

/// The description that fills an intent's envelope to `target` bytes, or as close as the
/// encoding allows (the empty one if the intent is already larger).
fn filler(target: usize) -> anyhow::Result<String> {
    let mut len = 0usize;
    for _ in 0..8 {
        let size = envelope_bytes(&request(title(0), &"x".repeat(len)))?;
        if size == target {
            break;
        }
        let next = (len + target).saturating_sub(size);
        if next == len {
            break;
        }
        len = next;
    }
    Ok("x".repeat(len))
}

/// CPU time (user + system) the processes `pids` have used so far, ms, from /proc/PID/stat
/// (Linux; clock ticks of 10 ms). Processes that are gone count 0.
fn cpu_ms(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            let rest = stat.get(stat.rfind(')')? + 2..)?;
            let fields: Vec<&str> = rest.split(' ').collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum::<u64>()
        * 10
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The value at rank ceil(share × want) of `sorted`, if that many arrived.
fn at_share(sorted: &[f64], want: usize, share: f64) -> Option<f64> {
    let needed = ((want as f64 * share).ceil() as usize).max(1);
    sorted.get(needed - 1).copied()
}

/// The median of the values present (the upper one of an even count).
fn median(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let mut v: Vec<f64> = values.flatten().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn round_us(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// An intent event from node `.0`'s stream.
type Tagged = (usize, Arrival);

/// The first arrival of intent `id` at each node, until `want` nodes have it or `timeout`
/// passes; other intents' events are dropped.
async fn collect(
    rx: &mut mpsc::Receiver<Tagged>,
    id: &str,
    want: usize,
    timeout: Duration,
) -> anyhow::Result<HashMap<usize, Arrival>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = HashMap::new();
    while seen.len() < want {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => break,
            Ok(None) => bail!("every intent stream ended"),
            Ok(Some((node, arrival))) if arrival.view.id == id => {
                seen.entry(node).or_insert(arrival);
            }
            Ok(Some(_)) => {}
        }
    }
    Ok(seen)
}

/// Sum of gossipsub's mesh peer gauges in one node's metrics.
async fn mesh_peers(api: &Api) -> anyhow::Result<f64> {
    let text = api.text("/metrics").await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(MESH_PEERS_METRIC) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

fn main() -> ExitCode {
    run_on_one_thread(run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.nodes < 2 {
        bail!("--nodes must be at least 2: a publisher and a subscriber");
    }
    let mesh = mesh_binary(args.mesh.clone())?;
    let description = filler(args.message_bytes)?;
    let message_bytes = envelope_bytes(&request(title(0), &description))?;
    let started = Instant::now();

    // Declared first so it is removed after the nodes are stopped.
    let dir = tempfile::tempdir()?;
    let plan = dial_plan(args.nodes, args.degree, args.seed);
    let mut procs = Vec::with_capacity(args.nodes);
    let mut apis = Vec::with_capacity(args.nodes);
    let mut addrs: Vec<String> = Vec::with_capacity(args.nodes);
    for (i, earlier) in plan.iter().enumerate() {
        let home = dir.path().join(format!("node{i}"));
        let mut extra = vec!["--capability", CAPABILITY];
        for &j in earlier {
            extra.extend(["--bootstrap", addrs[j].as_str()]);
        }
        procs.push(NodeProc::spawn_tied(&mesh, &home, &extra)?);
        let name: &'static str = Box::leak(format!("node {i}").into_boxed_str());
        let api = Api::of(name, &home)?;
        addrs.push(api.tcp_addr().await?);
        apis.push(api);
    }
    let subscribers = args.nodes - 1;

    let (tx, mut rx) = mpsc::channel::<Tagged>(65_536);
    for (i, api) in apis.iter().enumerate().skip(1) {
        let mut stream = open_stream(api)
            .await
            .with_context(|| format!("open the intent stream of {}", api.name))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(arrival) = stream.recv().await {
                if tx.send((i, arrival)).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let publisher = &apis[0];

    let form_by = Instant::now() + FORM_TIMEOUT;
    let mut warmup = 0;
    loop {
        let outcome: PublishOutcome = publisher
            .post(
                "/v1/intents",
                &request(format!("warm-up {warmup}"), &description),
            )
            .await?;
        warmup += 1;
        let got = collect(&mut rx, &outcome.id, subscribers, WARMUP_TRY).await?;
        if got.len() == subscribers {
            break;
        }
        if Instant::now() > form_by {
            bail!(
                "no warm-up intent reached all {subscribers} subscribers within {FORM_TIMEOUT:?} (last: {})\nnode 0:\n{}",
                got.len(),
                procs[0].log_tail()
            );
        }
    }
    let setup_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;

    let pids: Vec<u32> = procs.iter().map(|p| p.child.id()).collect();
    let cpu_before = cpu_ms(&pids);
    let timeout = Duration::from_millis(args.timeout_ms);
    let mut per_message = Vec::with_capacity(args.messages);
    let mut publish_ms = Vec::with_capacity(args.messages);
    let mut self_t100 = Vec::new();
    for k in 0..args.messages {
        tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
        let body = request(title(k), &description);
        let t0 = Instant::now();
        let t0_unix_ms = unix_ms();
        let outcome: PublishOutcome = publisher.post("/v1/intents", &body).await?;
        publish_ms.push(ms(t0.elapsed()));
        let got = collect(&mut rx, &outcome.id, subscribers, timeout).await?;
        let mut times: Vec<f64> = got
            .values()
            .map(|a| ms(a.at.saturating_duration_since(t0)))
            .collect();
        times.sort_by(f64::total_cmp);
        per_message.push(MessageResult {
            delivered: times.len(),
            t50_ms: at_share(&times, subscribers, 0.5).map(round_us),
            t95_ms: at_share(&times, subscribers, 0.95).map(round_us),
            t100_ms: at_share(&times, subscribers, 1.0).map(round_us),
        });
        if got.len() == subscribers
            && let Some(last) = got.values().filter_map(|a| a.view.received_at_ms).max()
        {
            self_t100.push(last as f64 - t0_unix_ms as f64);
        }
    }
    let cpu_spent = cpu_ms(&pids).saturating_sub(cpu_before);
    // The graph as it was during the measurement.
    let mut connections = 0usize;
    let mut mesh_total = 0.0;
    let mut mesh_known = true;
    for api in &apis {
        let peers: Vec<PeerInfo> = api.get("/v1/peers").await?;
        connections += peers.len();
        match mesh_peers(api).await {
            Ok(n) => mesh_total += n,
            Err(_) => mesh_known = false,
        }
    }
    drop(procs);

    let delivered: usize = per_message.iter().map(|m| m.delivered).sum();
    let t100: Vec<Option<f64>> = per_message.iter().map(|m| m.t100_ms).collect();
    let report = Report {
        implementation: "mesh",
        transport: "tcp",
        nodes: args.nodes,
        subscribers,
        degree: args.degree,
        seed: args.seed,
        messages: args.messages,
        message_bytes,
        settle_ms: args.settle_ms,
        gap_ms: args.gap_ms,
        warmup_messages: warmup,
        setup_s: round_us(setup_s),
        mean_connections: (connections as f64 / args.nodes as f64 * 100.0).round() / 100.0,
        mean_mesh_peers: mesh_known
            .then(|| (mesh_total / args.nodes as f64 * 100.0).round() / 100.0),
        delivery_ratio: (args.messages > 0)
            .then(|| delivered as f64 / (subscribers * args.messages) as f64),
        median_t50_ms: median(per_message.iter().map(|m| m.t50_ms)),
        median_t95_ms: median(per_message.iter().map(|m| m.t95_ms)),
        median_t100_ms: median(t100.iter().copied()),
        max_t100_ms: t100
            .iter()
            .copied()
            .collect::<Option<Vec<f64>>>()
            .and_then(|v| v.into_iter().reduce(f64::max)),
        median_publish_ms: median(publish_ms.into_iter().map(Some)).map(round_us),
        self_stamped_median_t100_ms: median(self_t100.into_iter().map(Some)),
        cpu_ms_per_message: (args.messages > 0)
            .then(|| (cpu_spent as f64 / args.messages as f64 * 10.0).round() / 10.0),
        mesh_binary: mesh.display().to_string(),
        per_message,
    };

    if !args.json {
        println!(
            "Propagation across {} `mesh node` processes on 127.0.0.1 (tcp), {} intents of {} B (signed envelope) one at a time; times are medians over intents\n",
            report.nodes, report.messages, report.message_bytes
        );
        println!("{}\n", table(&report));
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The markdown table `propagation.mjs` prints, for this report.
fn table(r: &Report) -> String {
    let f = |x: Option<f64>, d: usize| x.map_or("-".to_owned(), |v| format!("{v:.d$}"));
    let delivery = r
        .delivery_ratio
        .map_or("-".to_owned(), |d| format!("{:.1}%", d * 100.0));
    [
        "| impl | nodes | messages | bytes | delivery | to 50% ms | to 95% ms | to 100% ms | max to 100% ms | publish ms | CPU ms/message | connections/node | mesh peers/node | setup s |".to_owned(),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|".to_owned(),
        format!(
            "| {} | {} | {} | {} | {delivery} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.implementation,
            r.nodes,
            r.messages,
            r.message_bytes,
            f(r.median_t50_ms, 3),
            f(r.median_t95_ms, 3),
            f(r.median_t100_ms, 3),
            f(r.max_t100_ms, 3),
            f(r.median_publish_ms, 3),
            f(r.cpu_ms_per_message, 1),
            f(Some(r.mean_connections), 1),
            f(r.mean_mesh_peers, 1),
            f(Some(r.setup_s), 1),
        ),
    ]
    .join("\n")
}
