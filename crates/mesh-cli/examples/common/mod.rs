//! Helpers shared by the two-process benchmarks (`latency`, `negotiation_latency`): `mesh node`
//! processes, their local APIs, B's intent event stream, and percentile summaries.
// Each benchmark uses a subset.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?;
        Ok(response.json().await?)
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

pub fn default_mesh() -> anyhow::Result<PathBuf> {
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
        let a_info: mesh_net::NodeInfo = a.get("/v1/info").await?;
        let a_addr = a_info
            .listen_addrs
            .iter()
            .find(|addr| addr.contains("/tcp/"))
            .ok_or_else(|| {
                anyhow!(
                    "node A has no TCP listen address: {:?}",
                    a_info.listen_addrs
                )
            })?
            .clone();
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
}
