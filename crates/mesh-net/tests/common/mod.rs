//! Helpers shared by the in-process network tests: real nodes on loopback TCP.
#![allow(dead_code)]

pub mod attacker;

use std::time::{Duration, Instant};

use libp2p::Multiaddr;
use mesh_core::{Capability, Keypair};
use mesh_net::{AgentInfo, AgentQuery, MeshHandle, NetConfig, ReceivedIntent};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use tokio::sync::broadcast;

pub struct TestNode {
    pub handle: MeshHandle,
    pub intents: broadcast::Receiver<Arc<ReceivedIntent>>,
    pub addr: Multiaddr,
    /// The node's metrics (libp2p's and MESH's).
    pub registry: Registry,
}

impl TestNode {
    /// The value of the metric sample `series` (name and labels exactly as exposed), 0 when
    /// absent.
    pub fn metric(&self, series: &str) -> f64 {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("encode");
        text.lines()
            .filter_map(|l| l.rsplit_once(' '))
            .filter(|(s, _)| *s == series)
            .filter_map(|(_, v)| v.parse::<f64>().ok())
            .sum()
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()))
        .with_test_writer()
        .try_init();
}

pub async fn start(capabilities: &[&str], bootstrap: Option<&Multiaddr>) -> TestNode {
    start_as(Keypair::generate_ed25519(), capabilities, bootstrap).await
}

/// A node with a given identity (e.g. the same peer restarted on a new port).
pub async fn start_as(
    keypair: Keypair,
    capabilities: &[&str],
    bootstrap: Option<&Multiaddr>,
) -> TestNode {
    start_configured(keypair, capabilities, bootstrap, |c| c).await
}

/// A node whose configuration `configure` adjusts (limits, timeouts).
pub async fn start_configured(
    keypair: Keypair,
    capabilities: &[&str],
    bootstrap: Option<&Multiaddr>,
    configure: impl FnOnce(NetConfig) -> NetConfig,
) -> TestNode {
    let caps = capabilities
        .iter()
        .map(|c| Capability::new(*c).expect("valid capability"))
        .collect();
    let config = NetConfig::new(vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")])
        .with_capabilities(caps)
        .with_mdns(false)
        .with_bootstrap(bootstrap.into_iter().cloned().collect())
        .with_agent_name(capabilities.join("+"));
    let config = configure(config);
    let mut registry = Registry::default();
    let (handle, _task) = mesh_net::spawn(keypair, config, &mut registry).expect("spawn");
    let intents = handle.subscribe_intents();
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = loop {
        let info = handle.info().await.expect("info");
        if let Some(a) = info.listen_addrs.first() {
            break a.parse().expect("multiaddr");
        }
        assert!(Instant::now() < deadline, "node never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    TestNode {
        handle,
        intents,
        addr,
        registry,
    }
}

/// Polls discovery until `expected` agents are found (or 60 s pass).
pub async fn discover_until(
    node: &MeshHandle,
    capabilities: &[&str],
    expected: usize,
) -> Vec<AgentInfo> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = node
            .discover_agents(AgentQuery::new().capabilities(capabilities.iter().copied()))
            .await
            .expect("discover");
        if found.len() >= expected || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Everything received within `window`.
pub async fn drain(
    rx: &mut broadcast::Receiver<Arc<ReceivedIntent>>,
    window: Duration,
) -> Vec<Arc<ReceivedIntent>> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Ok(i)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        out.push(i);
    }
    out
}

/// How long `r` took from its signing to its arrival, ms.
pub fn latency_ms(r: &ReceivedIntent) -> u64 {
    r.received_at_ms
        .saturating_sub(r.intent.content.created_at_ms)
}

/// The median of `v` (the upper one of an even count), `None` when it is empty.
pub fn median<T: Copy + PartialOrd>(v: &mut [T]) -> Option<T> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v.get(v.len() / 2).copied()
}

/// The intents among `got` that `keep` selects: how many, and their median latency, ms.
pub fn deliveries(
    got: &[Arc<ReceivedIntent>],
    keep: impl Fn(&ReceivedIntent) -> bool,
) -> (usize, Option<u64>) {
    let mut took: Vec<u64> = got
        .iter()
        .filter(|r| keep(r))
        .map(|r| latency_ms(r))
        .collect();
    (took.len(), median(&mut took))
}
