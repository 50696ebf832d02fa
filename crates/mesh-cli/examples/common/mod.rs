//! The harness of the benchmarks that run `mesh node` processes (`latency`,
//! `negotiation_latency`, `propagation_processes`): the runtime and the `mesh` binary they run
//! on, the processes, their local APIs and intent event streams, the pair A and B with its
//! readiness and ping baselines, and percentile summaries.
// Each benchmark uses a subset.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use futures::StreamExt;
use mesh_net::PeerInfo;
use mesh_node::Home;
use mesh_node::views::IntentView;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

/// Capability B offers and the intents need.
pub const CAPABILITY: &str = "bench";
/// How long to wait for B's subscription to become reachable from A.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one intent may take to reach B before it counts as lost.
pub const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a node's TCP listener may take to come up once its API answers.
pub const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the ping baselines may wait for each RTT sample (the nodes ping every 15 s).
const PING_SAMPLE_WAIT: Duration = Duration::from_secs(20);

/// Runs a benchmark on one thread and exits with its outcome: the event stream readers and the
/// requests share the thread, so all read the same clock without cross-thread wake-ups.
pub fn run_on_one_thread(run: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `mesh` binary the benchmark runs: `explicit` (`--mesh PATH`), or `mesh` in the target
/// directory of this example; an error that says how to build it when it is missing.
pub fn mesh_binary(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let mesh = match explicit {
        Some(path) => path,
        None => default_mesh()?,
    };
    if !mesh.is_file() {
        bail!(
            "{} not found: build it first with `cargo build --release -p mesh-cli` (same profile as this example), or pass --mesh PATH",
            mesh.display()
        );
    }
    Ok(mesh)
}

/// A `mesh node` process, killed when dropped.
pub struct NodeProc {
    pub child: Child,
    pub log: PathBuf,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProc {
    pub fn spawn(mesh: &Path, home: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start(mesh, home, extra, false)
    }

    /// Like [`NodeProc::spawn`], with `--exit-on-stdin-close` and a pipe on the node's stdin:
    /// the node also stops when this process dies without dropping it (a signal, a panic
    /// elsewhere), as the pipe closes then.
    pub fn spawn_tied(mesh: &Path, home: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start(mesh, home, extra, true)
    }

    fn start(mesh: &Path, home: &Path, extra: &[&str], tied: bool) -> anyhow::Result<Self> {
        std::fs::create_dir_all(home)?;
        let log = home.join("node.log");
        let stderr = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let child = Command::new(mesh)
            .arg("--home")
            .arg(home)
            .arg("node")
            .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
            // Benchmarks publish far faster than an agent: lift the per-publisher quota.
            .args(["--intent-quota", "1000000"])
            .args(tied.then_some("--exit-on-stdin-close"))
            .args(extra)
            .env_remove("MESH_HOME")
            .stdin(if tied { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start {}", mesh.display()))?;
        let mut node = Self { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !home.join(mesh_node::home::API_FILE).exists() {
            if let Some(status) = node.child.try_wait()? {
                bail!("mesh node exited with {status}:\n{}", node.log_tail());
            }
            if Instant::now() > deadline {
                bail!(
                    "mesh node in {} never wrote its API address:\n{}",
                    home.display(),
                    node.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(node)
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// A client of one node's local API.
pub struct Api {
    pub name: &'static str,
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn of(name: &'static str, home: &Path) -> anyhow::Result<Self> {
        let home = Home::new(home);
        let base = home
            .read_api()
            .ok_or_else(|| anyhow!("no API address in {}", home.dir().display()))?;
        let token = home.token()?;
        Ok(Self {
            name,
            base,
            token,
            http: reqwest::Client::builder().build()?,
        })
    }

    /// GETs `path`; an error unless the status is a success.
    async fn get_response(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?)
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        Ok(self.get_response(path).await?.json().await?)
    }

    /// GETs `path` as text (`/metrics`).
    pub async fn text(&self, path: &str) -> anyhow::Result<String> {
        Ok(self.get_response(path).await?.text().await?)
    }

    /// The node's full TCP address, once its listener is up (its API may answer a little
    /// earlier).
    pub async fn tcp_addr(&self) -> anyhow::Result<String> {
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        loop {
            let info: mesh_net::NodeInfo = self.get("/v1/info").await?;
            if let Some(addr) = info.listen_addrs.iter().find(|a| a.contains("/tcp/")) {
                return Ok(addr.clone());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} has no TCP listen address after {LISTEN_TIMEOUT:?}: {:?}",
                    self.name,
                    info.listen_addrs
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// POSTs `body` and reads the response: the status and the JSON body, whatever the status.
    pub async fn post_raw<B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        Ok((status, response.json().await?))
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let (status, value) = self.post_raw(path, body).await?;
        if !status.is_success() {
            bail!("POST {path} on {}: {status} {value}", self.name);
        }
        Ok(serde_json::from_value(value)?)
    }
}

/// An intent event read from B's stream.
pub struct Arrival {
    pub at: Instant,
    pub view: IntentView,
}

/// The arrival of intent `id` on `rx` within `timeout`, skipping late arrivals of earlier
/// intents; `None` if it did not come in time.
pub async fn arrival_of(
    rx: &mut mpsc::Receiver<Arrival>,
    id: &str,
    timeout: Duration,
) -> anyhow::Result<Option<Arrival>> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return Ok(None),
            Ok(None) => bail!("B's event stream ended"),
            Ok(Some(arrival)) if arrival.view.id != id => continue,
            Ok(Some(arrival)) => return Ok(Some(arrival)),
        }
    }
}

/// Opens B's event stream and forwards each intent event, stamped when read, to the channel.
pub async fn open_stream(b: &Api) -> anyhow::Result<mpsc::Receiver<Arrival>> {
    let response = b
        .http
        .get(format!(
            "{}/v1/intents/stream?capabilities={CAPABILITY}",
            b.base
        ))
        .bearer_auth(&b.token)
        .header("accept", "text/event-stream")
        .send()
        .await?
        .error_for_status()?;
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        let (mut event, mut data) = (String::new(), String::new());
        while let Some(Ok(chunk)) = body.next().await {
            let at = Instant::now();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(pos) = buffer.find('\n') {
                let line: String = buffer.drain(..=pos).collect();
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if event == "intent"
                        && let Ok(view) = serde_json::from_str::<IntentView>(&data)
                        && tx.send(Arrival { at, view }).await.is_err()
                    {
                        return;
                    }
                    event.clear();
                    data.clear();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim_start().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
        }
    });
    Ok(rx)
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    /// Nearest-rank percentiles of `values` (milliseconds).
    pub fn of(mut values: Vec<f64>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        // Microsecond resolution is all the measurement has.
        let us = |x: f64| (x * 1000.0).round() / 1000.0;
        let rank = |p: f64| us(values[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1]);
        Some(Self {
            n,
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: us(values[n - 1]),
            mean: us(values.iter().sum::<f64>() / n as f64),
        })
    }
}

/// Prints a markdown table of summaries in ms, one row a measurement.
pub fn print_summaries(rows: &[(&str, &Option<Summary>)]) {
    println!("| measurement | n | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, summary) in rows {
        match summary {
            Some(s) => println!(
                "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                s.n, s.p50, s.p90, s.p99, s.max
            ),
            None => println!("| {name} | 0 | - | - | - | - |"),
        }
    }
}

/// Prints the ping baselines of a pair ([`Pings`]).
pub fn print_pings(a_to_b: &[f64], b_to_a: &[f64]) {
    let list = |v: &[f64]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.iter()
                .map(|x| format!("{x:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    println!(
        "\nbaseline: libp2p ping RTT (GET /v1/peers, one ping per 15 s): A->B {} ms; B->A {} ms",
        list(a_to_b),
        list(b_to_a)
    );
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn ping_rtt(api: &Api, peer: &str, seen: &mut Vec<f64>) -> anyhow::Result<()> {
    let peers: Vec<PeerInfo> = api.get("/v1/peers").await?;
    if let Some(rtt) = peers
        .iter()
        .find(|p| p.peer_id == peer)
        .and_then(|p| p.rtt_ms)
        .map(|rtt| (rtt * 1000.0).round() / 1000.0)
        && seen.last() != Some(&rtt)
    {
        seen.push(rtt);
    }
    Ok(())
}

fn default_mesh() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/examples/<example> -> target/<profile>/mesh
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("cannot find the target directory of {}", exe.display()))?;
    Ok(profile_dir.join("mesh"))
}

/// Two `mesh node` processes: A alone, B bootstrapped from A's TCP address offering
/// `capability`, with B's intent stream open.
pub struct Pair {
    pub node_a: NodeProc,
    pub node_b: NodeProc,
    pub a: Api,
    pub b: Api,
    pub a_info: mesh_net::NodeInfo,
    pub b_info: mesh_net::NodeInfo,
    pub rx: mpsc::Receiver<Arrival>,
}

impl Pair {
    /// Starts the pair with homes under `dir`.
    pub async fn start(mesh: &Path, dir: &Path, capability: &str) -> anyhow::Result<Self> {
        let (a_home, b_home) = (dir.join("a"), dir.join("b"));
        let node_a = NodeProc::spawn(mesh, &a_home, &[])?;
        let a = Api::of("A", &a_home)?;
        let a_addr = a.tcp_addr().await?;
        let a_info: mesh_net::NodeInfo = a.get("/v1/info").await?;
        let node_b = NodeProc::spawn(
            mesh,
            &b_home,
            &["--bootstrap", &a_addr, "--capability", capability],
        )?;
        let b = Api::of("B", &b_home)?;
        let b_info: mesh_net::NodeInfo = b.get("/v1/info").await?;
        let rx = open_stream(&b).await?;
        Ok(Self {
            node_a,
            node_b,
            a,
            b,
            a_info,
            b_info,
            rx,
        })
    }

    /// Adds each node's current ping RTT of the other to `pings`.
    pub async fn sample_pings(&self, pings: &mut Pings) -> anyhow::Result<()> {
        ping_rtt(&self.a, &self.b_info.peer_id, &mut pings.a_to_b).await?;
        ping_rtt(&self.b, &self.a_info.peer_id, &mut pings.b_to_a).await
    }

    /// Samples the pings, then again every 500 ms until each node has reported `samples`
    /// distinct RTTs or [`PING_SAMPLE_WAIT`] a sample has passed.
    pub async fn wait_for_pings(&self, pings: &mut Pings, samples: usize) -> anyhow::Result<()> {
        self.sample_pings(pings).await?;
        let by = Instant::now() + PING_SAMPLE_WAIT * samples as u32;
        while (pings.a_to_b.len() < samples || pings.b_to_a.len() < samples) && Instant::now() < by
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
            self.sample_pings(pings).await?;
        }
        Ok(())
    }
}

/// The libp2p ping RTTs of a pair as `GET /v1/peers` reports them, each distinct value once,
/// in ms.
#[derive(Debug, Default)]
pub struct Pings {
    pub a_to_b: Vec<f64>,
    pub b_to_a: Vec<f64>,
}

/// The tries at publishing an intent that reaches B, which shows that A knows B's
/// subscription; they give up after [`READY_TIMEOUT`].
pub struct Readiness {
    by: Instant,
    tries: usize,
}

impl Readiness {
    pub fn start() -> Self {
        Self {
            by: Instant::now() + READY_TIMEOUT,
            tries: 0,
        }
    }

    /// Counts a try that did not reach B: an error with both nodes' logs once
    /// [`READY_TIMEOUT`] has passed.
    pub fn missed(&mut self, pair: &Pair) -> anyhow::Result<()> {
        self.tries += 1;
        if Instant::now() > self.by {
            bail!(
                "no intent reached B within {READY_TIMEOUT:?} ({} tries)\nnode A:\n{}\nnode B:\n{}",
                self.tries,
                pair.node_a.log_tail(),
                pair.node_b.log_tail()
            );
        }
        Ok(())
    }
}
