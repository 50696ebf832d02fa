//! A test bed of real `mesh node` processes, each in its own Linux network namespace, whose
//! links have a set one-way delay and loss: intent propagation, discovery, negotiation and a
//! partition, with every node's processing included. `docs/TESTBED.md` tells how to run it and
//! keeps the figures of runs.
//!
//! The links are emulated in user space by `mesh-linkemu` (this package's second binary), a
//! switch that holds every frame for the set delay, loses it with the set probability and can
//! cut the network in two. Namespace `mlnk<pid>-sw` holds a bridge for the underlay
//! (10.78.0.0/16, isolated ports: nodes reach the switch only) and the switch (10.78.0.1);
//! namespace `mlnk<pid>-n<i>` holds node i, with a veth `u0` into that bridge and a VXLAN device
//! `eth0` (10.77.0.0/16, UDP port 20000 + i) whose only remote is the switch. The nodes listen on
//! their `eth0` address only, so every frame between two nodes crosses the switch once: one
//! emulated link.
//!
//! Node 0 is a coordinator; every other node bootstraps from two or three random earlier nodes
//! (node 1 from node 0 alone). Every node offers the capability `bench-flood` and watches it
//! with `mesh intents watch --json`; the moment a watcher prints an intent is the moment that
//! node has it (a watcher does not print its own node's intents). A few nodes also offer
//! `bench-rare`, for discovery.
//!
//! Settings (environment): `MESH_TESTBED_NODES` (12), `MESH_TESTBED_DELAY_MS` (25),
//! `MESH_TESTBED_LOSS` (percent, 0), `MESH_TESTBED_PARTITION_SECS` (20), `MESH_TESTBED_INTENTS`
//! (5), `MESH_TESTBED_SEED` (7), `MESH_TESTBED_TIMEOUT_SECS` (600 + 6 a node: the whole test's
//! bound), `MESH_TESTBED_LOG` (the nodes' `RUST_LOG`, `warn`), `MESH_TESTBED_BIN_DIR` (where
//! `mesh` and `mesh-linkemu` are, e.g. `target/release`; this build's binaries unless told).
//!
//! Needs root and iproute2 with VXLAN, so it is `#[ignore]`d: `cargo test` lists it as ignored,
//! and `scripts/test` runs it as root (`--include-ignored`), where it fails with the reason if
//! the test bed cannot be built. Namespaces (and with them every veth, bridge and VXLAN device)
//! are removed when the test ends, even on failure, and, for earlier runs whose process is gone,
//! when it starts; every process of the bed reads a pipe from the test and stops with it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod netns;

use netns::run;
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `mesh` binary the nodes run: this build's, or the one in `MESH_TESTBED_BIN_DIR`.
fn mesh_bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| binary("mesh", env!("CARGO_BIN_EXE_mesh")))
}

/// The `mesh-linkemu` binary the switch runs, found as [`mesh_bin`] is.
fn linkemu_bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| binary("mesh-linkemu", env!("CARGO_BIN_EXE_mesh-linkemu")))
}

/// `name` in `MESH_TESTBED_BIN_DIR` when that is set (e.g. `target/release`, for a large bed:
/// a release node takes a fraction of a debug one's memory and processor), else this build's.
fn binary(name: &str, this_build: &str) -> String {
    match std::env::var_os("MESH_TESTBED_BIN_DIR") {
        Some(dir) => {
            let path = Path::new(&dir).join(name);
            assert!(
                path.is_file(),
                "MESH_TESTBED_BIN_DIR has no {name}: {} (build it with cargo build --release -p mesh-cli --bins)",
                path.display()
            );
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            path.to_string_lossy().into_owned()
        }
        None => this_build.to_owned(),
    }
}
const PREFIX: &str = "mlnk";
const SWITCH_IP: &str = "10.78.0.1";
/// The UDP port of node i's VXLAN endpoint, and of its socket at the switch, is this plus i.
const VXLAN_BASE_PORT: usize = 20_000;
const PORT: u16 = 4001;
/// The capability every node offers and watches.
const FLOOD: &str = "bench-flood";
/// The capability a few nodes offer, for discovery.
const RARE: &str = "bench-rare";
const RARE_PROVIDERS: usize = 3;
/// Memory a node of the bed and its watcher take, debug build, in MiB (about 65 and 15 seen).
const MIB_PER_NODE: u64 = 96;
/// Memory left to the rest of the machine, in MiB.
const MIB_SPARE: u64 = 1024;
const DISCOVERERS: usize = 5;

/// When the whole test must be over.
static DEADLINE: OnceLock<Instant> = OnceLock::new();

fn before_deadline(what: &str) {
    if let Some(deadline) = DEADLINE.get() {
        assert!(
            Instant::now() < *deadline,
            "the test bed ran past MESH_TESTBED_TIMEOUT_SECS while {what}"
        );
    }
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        Err(_) => default,
    }
}

struct Settings {
    nodes: usize,
    delay_ms: u64,
    loss: f64,
    partition: Duration,
    intents: usize,
    seed: u64,
    timeout: Duration,
    log: String,
}

impl Settings {
    fn from_env() -> Self {
        let nodes: usize = env_or("MESH_TESTBED_NODES", 12);
        assert!(
            (4..=1000).contains(&nodes),
            "MESH_TESTBED_NODES must be between 4 and 1000"
        );
        Self {
            nodes,
            delay_ms: env_or("MESH_TESTBED_DELAY_MS", 25),
            loss: env_or("MESH_TESTBED_LOSS", 0.0),
            partition: Duration::from_secs(env_or("MESH_TESTBED_PARTITION_SECS", 20)),
            intents: env_or("MESH_TESTBED_INTENTS", 5),
            seed: env_or("MESH_TESTBED_SEED", 7),
            timeout: Duration::from_secs(env_or(
                "MESH_TESTBED_TIMEOUT_SECS",
                600 + 6 * nodes as u64,
            )),
            log: env_or("MESH_TESTBED_LOG", "warn".to_owned()),
        }
    }
}

/// SplitMix64, for the bootstrap peers and the roles: the same seed builds the same network.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }

    /// `k` distinct numbers below `n`, none in `except`.
    fn pick(&mut self, k: usize, n: usize, except: &[usize]) -> Vec<usize> {
        let mut chosen = Vec::new();
        while chosen.len() < k {
            let x = self.below(n);
            if !chosen.contains(&x) && !except.contains(&x) {
                chosen.push(x);
            }
        }
        chosen.sort_unstable();
        chosen
    }
}

fn underlay_ip(i: usize) -> String {
    format!("10.78.{}.{}", 1 + i / 250, 1 + i % 250)
}

fn overlay_ip(i: usize) -> String {
    format!("10.77.{}.{}", i / 250, 1 + i % 250)
}

/// `MemAvailable` of `/proc/meminfo`, in MiB.
fn available_mib() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024)
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0")
}

/// The namespaces of the test bed; removed on drop.
struct Bed {
    tag: String,
    namespaces: Vec<String>,
    log: String,
}

impl Bed {
    fn switch_ns(&self) -> String {
        format!("{}-sw", self.tag)
    }

    fn node_ns(&self, i: usize) -> String {
        format!("{}-n{i}", self.tag)
    }

    fn create(nodes: usize, log: String) -> Result<Self, String> {
        netns::remove_stale(PREFIX);
        let mut bed = Self {
            tag: format!("{PREFIX}{}", std::process::id()),
            namespaces: Vec::new(),
            log,
        };
        let sw = bed.switch_ns();
        run(&["ip", "netns", "add", &sw])?;
        bed.namespaces.push(sw.clone());
        run(&["ip", "-n", &sw, "link", "set", "lo", "up"])?;
        run(&["ip", "-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        run(&[
            "ip",
            "-n",
            &sw,
            "addr",
            "add",
            &format!("{SWITCH_IP}/16"),
            "dev",
            "br0",
        ])?;
        run(&["ip", "-n", &sw, "link", "set", "br0", "up"])?;
        for i in 0..nodes {
            let ns = bed.node_ns(i);
            run(&["ip", "netns", "add", &ns])?;
            bed.namespaces.push(ns.clone());
            // IPv4 only: IPv6 would add neighbour discovery and other multicast, which the
            // switch floods to every node.
            run(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ])?;
            let outer = format!("v{i}");
            run(&[
                "ip", "link", "add", "u0", "netns", &ns, "type", "veth", "peer", "name", &outer,
                "netns", &sw,
            ])?;
            run(&[
                "ip", "-n", &sw, "link", "set", &outer, "master", "br0", "up",
            ])?;
            // Isolated bridge ports reach the switch only, never each other: no frame between
            // two nodes can go around the switch.
            run(&[
                "ip",
                "-n",
                &sw,
                "link",
                "set",
                &outer,
                "type",
                "bridge_slave",
                "isolated",
                "on",
            ])?;
            let underlay = underlay_ip(i);
            let vxlan_port = (VXLAN_BASE_PORT + i).to_string();
            let steps: [&[&str]; 7] = [
                &["addr", "add", &format!("{underlay}/16"), "dev", "u0"],
                &["link", "set", "u0", "up"],
                &["link", "set", "lo", "up"],
                // Every frame of eth0 goes to the switch, wrapped in UDP; no learning of other
                // endpoints, so it stays that way.
                &[
                    "link",
                    "add",
                    "eth0",
                    "type",
                    "vxlan",
                    "id",
                    "77",
                    "remote",
                    SWITCH_IP,
                    "local",
                    &underlay,
                    "dstport",
                    &vxlan_port,
                    "dev",
                    "u0",
                    "nolearning",
                ],
                &[
                    "addr",
                    "add",
                    &format!("{}/16", overlay_ip(i)),
                    "dev",
                    "eth0",
                ],
                // One segment per frame: the switch then sees every frame as it would go on
                // the wire, and loses or delays each on its own.
                &["link", "set", "eth0", "gso_max_segs", "1"],
                &["link", "set", "eth0", "up"],
            ];
            for step in steps {
                let mut all = vec!["ip", "-n", &ns];
                all.extend_from_slice(step);
                run(&all)?;
            }
        }
        Ok(bed)
    }

    fn mesh(&self, node: usize, home: &Path, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.node_ns(node), mesh_bin(), "--home"])
            .arg(home)
            .args(args)
            .env_remove("MESH_HOME")
            .env("RUST_LOG", &self.log);
        c
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        for n in self.namespaces.iter().rev() {
            let _ = run(&["ip", "netns", "del", n]);
        }
    }
}

/// Room in the kernel's ARP table for the whole bed, for as long as the test runs. The table is
/// one for all namespaces, with a hard limit (`gc_thresh3`, 1,024 unless raised) past which
/// the kernel refuses new entries ("neighbor table overflow"): the switch's sends then fail and
/// nodes get "No route to host". Every node may hold an entry for every other, so a bed of
/// about 30 nodes or more needs more. The earlier limits come back when the test ends.
struct ArpRoom {
    earlier: Vec<(PathBuf, String)>,
}

impl ArpRoom {
    const DIR: &str = "/proc/sys/net/ipv4/neigh/default";

    fn make(nodes: usize) -> Result<Self, String> {
        let need = (nodes * (nodes + 4) + 1024) as u64;
        let mut earlier = Vec::new();
        // gc_thresh2 (the soft limit) must not exceed gc_thresh3: raise the hard one first.
        for name in ["gc_thresh3", "gc_thresh2"] {
            let path = Path::new(Self::DIR).join(name);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let now: u64 = text.trim().parse().unwrap_or(0);
            if now < need {
                std::fs::write(&path, need.to_string())
                    .map_err(|e| format!("cannot raise {} to {need}: {e}", path.display()))?;
                earlier.push((path, text.trim().to_owned()));
            }
        }
        Ok(Self { earlier })
    }
}

impl Drop for ArpRoom {
    fn drop(&mut self) {
        // The soft limit first, so that it never exceeds the hard one.
        for (path, value) in self.earlier.iter().rev() {
            let _ = std::fs::write(path, value);
        }
    }
}

fn has_chrt() -> bool {
    Command::new("chrt")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The machine's processor time so far, from `/proc/stat`: (busy, all), in ticks.
fn cpu_ticks() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = text
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    let all: u64 = ticks.iter().take(8).sum();
    Some((all - idle, all))
}

/// How busy the machine's processors were between two [`cpu_ticks`], in percent.
fn busy_percent(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> String {
    match (before, after) {
        (Some((b0, a0)), Some((b1, a1))) if a1 > a0 => {
            format!("{:.0}%", (b1 - b0) as f64 * 100.0 / (a1 - a0) as f64)
        }
        _ => "unknown".into(),
    }
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `mesh-linkemu` process and its control pipe.
struct Switch {
    proc: Proc,
    control: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Switch {
    fn start(bed: &Bed, settings: &Settings, log: &Path) -> Result<Self, String> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &bed.switch_ns()]);
        // The switch is the network, which in the real world does not wait for the nodes'
        // processors: it runs before any node whenever it has work (real-time FIFO, priority
        // 10), so that a busy machine delays frames in the nodes, not on the links.
        if has_chrt() {
            cmd.args(["chrt", "--fifo", "10"]);
        } else {
            eprintln!("chrt not found: the switch shares the processors with the nodes");
        }
        cmd.arg(linkemu_bin())
            .args(["--listen", SWITCH_IP])
            .args(["--delay", &format!("{}ms", settings.delay_ms)])
            .args(["--loss", &settings.loss.to_string()])
            .args(["--seed", &settings.seed.to_string()]);
        for i in 0..settings.nodes {
            let endpoint = format!("{}:{}", underlay_ip(i), VXLAN_BASE_PORT + i);
            cmd.args(["--port", &endpoint]);
        }
        let stderr = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", linkemu_bin()))?;
        let control = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let switch = Self {
            proc: Proc(child),
            control,
            lines,
        };
        match switch.lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.starts_with("ready") => Ok(switch),
            other => Err(format!(
                "mesh-linkemu did not start ({other:?}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            )),
        }
    }

    /// Sends one control line; returns the switch's answer.
    fn command(&mut self, line: &str) -> String {
        let control = self.control.as_mut().expect("switch still running");
        writeln!(control, "{line}").expect("write to mesh-linkemu");
        control.flush().expect("flush to mesh-linkemu");
        let answer = self
            .lines
            .recv_timeout(Duration::from_secs(10))
            .expect("mesh-linkemu answers");
        assert!(!answer.starts_with("error"), "{line}: {answer}");
        answer
    }

    /// Closes the control pipe; returns the counters the switch prints as it stops.
    fn stop(&mut self) -> Option<String> {
        self.control.take()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.starts_with("counters") {
                let _ = self.proc.0.wait();
                return Some(line);
            }
        }
        None
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        if let Some(counters) = self.stop() {
            eprintln!("mesh-linkemu: {counters}");
        }
    }
}

struct Node {
    index: usize,
    home: PathBuf,
    peer: String,
    _proc: Proc,
}

impl Node {
    fn addr(&self) -> String {
        format!(
            "/ip4/{}/tcp/{PORT}/p2p/{}",
            overlay_ip(self.index),
            self.peer
        )
    }
}

fn output(bed: &Bed, node: &Node, args: &[&str]) -> Output {
    bed.mesh(node.index, &node.home, args)
        .stdin(Stdio::null())
        .output()
        .expect("run mesh")
}

fn json(bed: &Bed, node: &Node, args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&output(bed, node, args).stdout).unwrap_or(serde_json::Value::Null)
}

/// Runs `mesh` in the node's namespace until it succeeds; returns its stdout.
fn until_ok(bed: &Bed, node: &Node, args: &[&str], secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let out = output(bed, node, args);
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "node {}: mesh {args:?} kept failing: {}{}",
            node.index,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        before_deadline(&format!("node {} ran mesh {args:?}", node.index));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_node(bed: &Bed, index: usize, home: PathBuf, args: &[String]) -> Node {
    std::fs::create_dir_all(&home).expect("create home");
    let log = std::fs::File::create(home.join("node.log")).expect("create node log");
    let child = bed
        .mesh(index, &home, &["node"])
        .args(args)
        // The node stops when this pipe closes: with the test, however it ends.
        .arg("--exit-on-stdin-close")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn mesh node");
    let proc = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !home.join("api").exists() {
        assert!(Instant::now() < deadline, "node {index} never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut node = Node {
        index,
        home,
        peer: String::new(),
        _proc: proc,
    };
    let id: serde_json::Value =
        serde_json::from_str(&until_ok(bed, &node, &["id", "--json"], 30)).expect("id --json");
    node.peer = id["peer_id"].as_str().expect("peer id").to_owned();
    node
}

/// One intent printed by one node's watcher.
struct Arrival {
    node: usize,
    id: String,
    /// When the watcher printed it.
    at: Instant,
    /// From its signing at the publisher to its receipt at the node, by the two nodes' clocks
    /// (one machine, one clock): the network's part, without the commands around it.
    in_network: Option<Duration>,
}

/// When each node's watcher printed each intent, and how long it was in the network.
struct Arrivals {
    rx: mpsc::Receiver<Arrival>,
    seen: HashMap<String, HashMap<usize, Instant>>,
    in_network: HashMap<String, HashMap<usize, Duration>>,
}

impl Arrivals {
    fn drain(&mut self) {
        while let Ok(a) = self.rx.try_recv() {
            self.record(a);
        }
    }

    fn record(&mut self, a: Arrival) {
        if let Some(d) = a.in_network {
            self.in_network
                .entry(a.id.clone())
                .or_default()
                .entry(a.node)
                .or_insert(d);
        }
        self.seen
            .entry(a.id)
            .or_default()
            .entry(a.node)
            .or_insert(a.at);
    }

    /// From signing to receipt at each of `nodes` that has `id`, sorted.
    fn in_network(&mut self, id: &str, nodes: &[usize]) -> Vec<Duration> {
        self.drain();
        let mut d: Vec<Duration> = nodes
            .iter()
            .filter_map(|n| self.in_network.get(id)?.get(n).copied())
            .collect();
        d.sort();
        d
    }

    /// Whether `node` had `id` at the last `drain`.
    fn has(&self, id: &str, node: usize) -> bool {
        self.seen.get(id).is_some_and(|m| m.contains_key(&node))
    }

    /// Waits until every node of `nodes` has `id`, at most `timeout`; returns the nodes that
    /// do not have it then (none when all do).
    fn wait(&mut self, id: &str, nodes: &[usize], timeout: Duration) -> Vec<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            self.drain();
            let missing: Vec<usize> = nodes
                .iter()
                .copied()
                .filter(|n| !self.seen.get(id).is_some_and(|m| m.contains_key(n)))
                .collect();
            let now = Instant::now();
            if missing.is_empty() || now >= deadline {
                return missing;
            }
            before_deadline(&format!("waiting for intent {id}"));
            if let Ok(a) = self
                .rx
                .recv_timeout((deadline - now).min(Duration::from_millis(200)))
            {
                self.record(a);
            }
        }
    }

    /// Times from `start` to the arrival at each of `nodes` that has `id`, sorted.
    fn delays(&mut self, id: &str, nodes: &[usize], start: Instant) -> Vec<Duration> {
        self.drain();
        let mut d: Vec<Duration> = nodes
            .iter()
            .filter_map(|n| self.seen.get(id)?.get(n))
            .map(|at| at.saturating_duration_since(start))
            .collect();
        d.sort();
        d
    }
}

/// Starts `mesh intents watch --json` at every node; their lines feed one channel.
fn watch_all(bed: &Bed, nodes: &[Node]) -> (Vec<Proc>, Arrivals) {
    let (tx, rx) = mpsc::channel();
    let mut watchers = Vec::new();
    for node in nodes {
        let mut child = bed
            .mesh(
                node.index,
                &node.home,
                &["intents", "watch", "--capability", FLOOD, "--json"],
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mesh intents watch");
        let stdout = child.stdout.take().expect("piped stdout");
        let tx = tx.clone();
        let index = node.index;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let at = Instant::now();
                let view: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                let in_network = view["received_at_ms"]
                    .as_u64()
                    .zip(view["created_at_ms"].as_u64());
                let arrival = view["id"].as_str().map(|id| Arrival {
                    node: index,
                    id: id.to_owned(),
                    at,
                    in_network: in_network.map(|(r, c)| Duration::from_millis(r.saturating_sub(c))),
                });
                if let Some(a) = arrival
                    && tx.send(a).is_err()
                {
                    break;
                }
            }
        });
        watchers.push(Proc(child));
    }
    let arrivals = Arrivals {
        rx,
        seen: HashMap::new(),
        in_network: HashMap::new(),
    };
    (watchers, arrivals)
}

/// Publishes an intent on `FLOOD`; returns its id, when the command started and how long it
/// ran.
fn publish(bed: &Bed, node: &Node, title: &str) -> (String, Instant, Duration) {
    let start = Instant::now();
    let out = until_ok(
        bed,
        node,
        &[
            "intents",
            "publish",
            "--capability",
            FLOOD,
            "--title",
            title,
            "--budget",
            "2 USD",
            "--ttl",
            "30m",
        ],
        60,
    );
    (out.trim().to_owned(), start, start.elapsed())
}

/// Who is connected to whom, from `mesh peers --json` at every node: each node's neighbours.
fn connection_graph(bed: &Bed, nodes: &[Node]) -> Vec<BTreeSet<usize>> {
    let index: HashMap<&str, usize> = nodes.iter().map(|n| (n.peer.as_str(), n.index)).collect();
    let mut graph = vec![BTreeSet::new(); nodes.len()];
    for node in nodes {
        let out = until_ok(bed, node, &["peers", "--json"], 30);
        let peers: serde_json::Value = serde_json::from_str(&out).expect("peers --json");
        for p in peers.as_array().into_iter().flatten() {
            if let Some(&other) = p["peer_id"].as_str().and_then(|id| index.get(id)) {
                graph[node.index].insert(other);
                graph[other].insert(node.index);
            }
        }
    }
    graph
}

/// The most links on a shortest path from `from` to any node it reaches in `graph`: times the
/// one-way delay, the least time an intent can take to reach every node.
fn eccentricity(graph: &[BTreeSet<usize>], from: usize) -> usize {
    let mut hops = vec![usize::MAX; graph.len()];
    hops[from] = 0;
    let mut queue = std::collections::VecDeque::from([from]);
    let mut most = 0;
    while let Some(u) = queue.pop_front() {
        for &v in &graph[u] {
            if hops[v] == usize::MAX {
                hops[v] = hops[u] + 1;
                most = most.max(hops[v]);
                queue.push_back(v);
            }
        }
    }
    most
}

/// Prints the end of node logs when the test fails (`MESH_TESTBED_LOG` sets their `RUST_LOG`):
/// of the first 20 nodes that logged more than the permissions of their new home.
struct LogsOnFailure(Vec<PathBuf>);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut shown = 0;
        for log in &self.0 {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| !l.contains("mesh_node::home"))
                .collect();
            if lines.is_empty() || shown == 20 {
                continue;
            }
            shown += 1;
            let tail = &lines[lines.len().saturating_sub(15)..];
            eprintln!(
                "--- last lines of {} ---\n{}",
                log.display(),
                tail.join("\n")
            );
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

struct DiscoveryRow {
    node: usize,
    first_found: usize,
    first_took: Duration,
    found: usize,
    all_after: Option<Duration>,
}

/// Asks `node` for `RARE` agents until it knows every provider or 60 s pass.
fn discover(bed: &Bed, node: &Node, providers: &BTreeSet<String>) -> DiscoveryRow {
    let start = Instant::now();
    let mut row = DiscoveryRow {
        node: node.index,
        first_found: 0,
        first_took: Duration::ZERO,
        found: 0,
        all_after: None,
    };
    let mut found = BTreeSet::new();
    let mut first = true;
    while start.elapsed() < Duration::from_secs(60) {
        let call = Instant::now();
        let agents = json(
            bed,
            node,
            &["agents", "discover", "--capability", RARE, "--json"],
        );
        for a in agents.as_array().into_iter().flatten() {
            if let Some(p) = a["peer_id"].as_str()
                && providers.contains(p)
            {
                found.insert(p.to_owned());
            }
        }
        if first {
            row.first_found = found.len();
            row.first_took = call.elapsed();
            first = false;
        }
        if found.len() == providers.len() {
            row.all_after = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    row.found = found.len();
    row
}

/// Waits until `node` has a peer.
fn wait_for_a_peer(bed: &Bed, node: &Node, bootstrap: &[usize]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let peers = json(bed, node, &["peers", "--json"]);
        if peers.as_array().is_some_and(|p| !p.is_empty()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {} (bootstrap {bootstrap:?}) never connected to a peer",
            node.index
        );
        before_deadline("waiting for a node to connect");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
#[ignore = "needs root and iproute2 with VXLAN: run as root with --include-ignored (scripts/test does)"]
fn nodes_on_emulated_links_propagate_discover_negotiate_and_survive_a_partition() {
    let settings = Settings::from_env();
    let _ = DEADLINE.set(Instant::now() + settings.timeout);
    if !is_root() {
        panic!("cannot build the link-emulated test bed: it needs root (namespaces, VXLAN)");
    }
    let n = settings.nodes;
    // On a shared machine, running out of memory would have the kernel kill someone's process.
    let need = n as u64 * MIB_PER_NODE + MIB_SPARE;
    if let Some(available) = available_mib() {
        assert!(
            need <= available,
            "{n} nodes need about {need} MiB and {available} MiB are available: \
             set MESH_TESTBED_NODES lower"
        );
    }
    let _arp = ArpRoom::make(n)
        .unwrap_or_else(|e| panic!("cannot make room in the kernel's ARP table: {e}"));
    let t = Instant::now();
    let bed = Bed::create(n, settings.log.clone())
        .unwrap_or_else(|e| panic!("cannot build the link-emulated test bed: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let mut switch = Switch::start(&bed, &settings, &dir.path().join("linkemu.log"))
        .unwrap_or_else(|e| panic!("cannot start the link emulator: {e}"));
    let built = t.elapsed();

    // Roles: node 0 coordinates; a few nodes also offer the rare capability; others look for it.
    let mut rng = Rng(settings.seed);
    let rare = rng.pick(RARE_PROVIDERS, n, &[0]);
    let mut not_querying = rare.clone();
    not_querying.push(0);
    let queriers = rng.pick(DISCOVERERS.min(n - RARE_PROVIDERS - 1), n, &not_querying);

    let _logs = LogsOnFailure(
        (0..n)
            .map(|i| dir.path().join(format!("n{i}")).join("node.log"))
            .collect(),
    );
    let t = Instant::now();
    let mut nodes: Vec<Node> = Vec::new();
    let mut bootstrap_of = Vec::new();
    for i in 0..n {
        let mut args: Vec<String> = [
            "--listen",
            &format!("/ip4/{}/tcp/{PORT}", overlay_ip(i)),
            "--listen",
            &format!("/ip4/{}/udp/{PORT}/quic-v1", overlay_ip(i)),
            "--no-mdns",
            "--no-upnp",
            "--autonat-private-ips",
            "--capability",
            FLOOD,
            "--name",
            &format!("n{i}"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if i == 0 {
            args.extend(["--role".into(), "coordinator".into()]);
        }
        if rare.contains(&i) {
            args.extend(["--capability".into(), RARE.into()]);
        }
        let earlier = if i == 0 {
            Vec::new()
        } else {
            let count = (2 + rng.below(2)).min(i);
            rng.pick(count, i, &[])
        };
        for &b in &earlier {
            args.extend(["--bootstrap".into(), nodes[b].addr()]);
        }
        bootstrap_of.push(earlier);
        let node = start_node(&bed, i, dir.path().join(format!("n{i}")), &args);
        // Nodes join one at a time, each connected before the next starts: a hundred nodes
        // starting at once on two cores time out each other's handshakes.
        if i > 0 {
            wait_for_a_peer(&bed, &node, &bootstrap_of[i]);
        }
        nodes.push(node);
        before_deadline("starting the nodes");
    }
    let started = t.elapsed();

    let all: Vec<usize> = (0..n).collect();
    let (_watchers, mut arrivals) = watch_all(&bed, &nodes);
    // A first intent, not measured, shows that every watcher listens and every node is on the
    // topic's mesh.
    let t = Instant::now();
    let warm_up_deadline = Instant::now() + Duration::from_secs(180);
    let (warm_id, _, _) = publish(&bed, &nodes[0], "warm-up");
    let mut missing = arrivals.wait(&warm_id, &all[1..], Duration::from_secs(30));
    while !missing.is_empty() {
        // Nodes that joined the topic's mesh after the warm-up went out are sent another.
        assert!(
            Instant::now() < warm_up_deadline,
            "the warm-up intents never reached nodes {missing:?}"
        );
        let (id, _, _) = publish(&bed, &nodes[0], "warm-up again");
        missing = arrivals.wait(&id, &all[1..], Duration::from_secs(30));
    }
    let warmed = t.elapsed();

    // 1. Propagation, against the least time the connection graph allows.
    struct PropagationRow {
        publisher: usize,
        publish_ran: Duration,
        first: Duration,
        median: Duration,
        p90: Duration,
        last: Duration,
        reached: usize,
        network_median: Duration,
        network_p90: Duration,
        network_last: Duration,
        ideal_hops: usize,
    }
    let graph = connection_graph(&bed, &nodes);
    let links = graph.iter().map(BTreeSet::len).sum::<usize>() / 2;
    let mut propagation = Vec::new();
    let cpu_before = cpu_ticks();
    for k in 0..settings.intents {
        let publisher = (1 + k * 7) % n;
        let (id, start, ran) = publish(
            &bed,
            &nodes[publisher],
            &format!("propagation {k} from n{publisher}"),
        );
        let others: Vec<usize> = all.iter().copied().filter(|&i| i != publisher).collect();
        let missing = arrivals.wait(&id, &others, Duration::from_secs(60));
        let delays = arrivals.delays(&id, &others, start);
        assert!(
            missing.is_empty(),
            "intent {k} from node {publisher} never reached nodes {missing:?}"
        );
        let network = arrivals.in_network(&id, &others);
        assert_eq!(
            network.len(),
            others.len(),
            "every watcher prints when the intent was signed and received"
        );
        propagation.push(PropagationRow {
            publisher,
            publish_ran: ran,
            first: delays[0],
            median: quantile(&delays, 0.5),
            p90: quantile(&delays, 0.9),
            last: *delays.last().unwrap(),
            reached: delays.len(),
            network_median: quantile(&network, 0.5),
            network_p90: quantile(&network, 0.9),
            network_last: *network.last().unwrap(),
            ideal_hops: eccentricity(&graph, publisher),
        });
    }

    let propagation_busy = busy_percent(cpu_before, cpu_ticks());

    // 2. Discovery, from every querier at once.
    let providers: BTreeSet<String> = rare.iter().map(|&i| nodes[i].peer.clone()).collect();
    let discovery: Vec<DiscoveryRow> = std::thread::scope(|s| {
        let handles: Vec<_> = queriers
            .iter()
            .map(|&q| {
                let (bed, node, providers) = (&bed, &nodes[q], &providers);
                s.spawn(move || discover(bed, node, providers))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("discovery thread"))
            .collect()
    });
    before_deadline("discovering");

    // 3. Negotiation: the publisher and the agent are far apart in the bootstrap order.
    let (publisher, agent) = (&nodes[1], &nodes[n - 1]);
    let (intent, start, _) = publish(&bed, publisher, "negotiation");
    let missing = arrivals.wait(&intent, &[agent.index], Duration::from_secs(60));
    assert!(missing.is_empty(), "the agent never received the intent");
    let received = arrivals.delays(&intent, &[agent.index], start)[0];
    let t = Instant::now();
    let offered = until_ok(
        &bed,
        agent,
        &[
            "negotiations",
            "offer",
            "--intent",
            &intent,
            "--price",
            "1.50 USD",
        ],
        60,
    );
    let nid = offered
        .split_whitespace()
        .next()
        .expect("offer prints the negotiation id")
        .to_owned();
    let offer_took = t.elapsed();
    let t = Instant::now();
    // Without a window the award chooses among the offers already in; until the offer is in,
    // it answers that none was accepted, and is asked again.
    until_ok(&bed, publisher, &["intents", "award", &intent], 60);
    let award_took = t.elapsed();
    let result = dir.path().join("result.txt");
    std::fs::write(&result, "done").unwrap();
    let t = Instant::now();
    until_ok(
        &bed,
        agent,
        &[
            "negotiations",
            "deliver",
            &nid,
            "--result-file",
            result.to_str().unwrap(),
        ],
        60,
    );
    let deliver_took = t.elapsed();
    let t = Instant::now();
    let receipt = until_ok(
        &bed,
        publisher,
        &["negotiations", "receipt", &nid, "--rating", "0.9"],
        60,
    );
    let receipt_took = t.elapsed();
    assert!(receipt.contains("completed"), "{receipt}");
    let negotiated = offer_took + award_took + deliver_took + receipt_took;

    // 4. Partition: two halves; an intent published in each must reach its own half.
    let half = n / 2;
    let side_a: Vec<usize> = (0..half).collect();
    let side_b: Vec<usize> = (half..n).collect();
    switch.command(&format!("cut 0-{}", half - 1));
    let cut_at = Instant::now();
    let (pub_a, pub_b) = (1, n - 1);
    let (id_a, start_a, _) = publish(&bed, &nodes[pub_a], "partition: half A");
    let (id_b, start_b, _) = publish(&bed, &nodes[pub_b], "partition: half B");
    // A watcher does not print its own node's intents: the publishers are left out.
    let others_a: Vec<usize> = side_a.iter().copied().filter(|&i| i != pub_a).collect();
    let others_b: Vec<usize> = side_b.iter().copied().filter(|&i| i != pub_b).collect();
    let others_h: Vec<usize> = all.iter().copied().filter(|&i| i != pub_b).collect();
    let within = settings.partition.max(Duration::from_secs(120));
    let missing_a = arrivals.wait(&id_a, &others_a, within.saturating_sub(cut_at.elapsed()));
    let missing_b = arrivals.wait(&id_b, &others_b, within.saturating_sub(cut_at.elapsed()));
    assert!(
        missing_a.is_empty() && missing_b.is_empty(),
        "during the partition, intents never reached their own half: A misses {missing_a:?}, \
         B misses {missing_b:?}"
    );
    let in_half_a = *arrivals.delays(&id_a, &others_a, start_a).last().unwrap();
    let in_half_b = *arrivals.delays(&id_b, &others_b, start_b).last().unwrap();
    if let Some(rest) = settings.partition.checked_sub(cut_at.elapsed()) {
        std::thread::sleep(rest);
    }
    arrivals.drain();
    let crossed: Vec<usize> = side_b
        .iter()
        .filter(|&&i| arrivals.has(&id_a, i))
        .chain(side_a.iter().filter(|&&i| arrivals.has(&id_b, i)))
        .copied()
        .collect();
    assert!(
        crossed.is_empty(),
        "intents crossed the cut to nodes {crossed:?}"
    );
    let partition_held = cut_at.elapsed();
    switch.command("heal");
    let healed_at = Instant::now();
    let (id_h, start_h, _) = publish(&bed, &nodes[pub_b], "after the heal");
    let missing = arrivals.wait(&id_h, &others_h, Duration::from_secs(120));
    assert!(
        missing.is_empty(),
        "after the heal, the intent never reached nodes {missing:?} within 2 minutes"
    );
    let after_heal = *arrivals.delays(&id_h, &others_h, start_h).last().unwrap();
    // The intents of the partition reach the other half later, by catch-up on new connections.
    let catch_up_wait = Duration::from_secs(30);
    let late_a = arrivals.wait(&id_a, &side_b, catch_up_wait);
    let late_b = arrivals.wait(&id_b, &side_a, catch_up_wait);
    let crossed_after = |arrivals: &mut Arrivals, id: &str, side: &[usize], missing: &[usize]| {
        if missing.is_empty() {
            format!(
                "all {} nodes, {} after the heal",
                side.len(),
                secs(*arrivals.delays(id, side, healed_at).last().unwrap())
            )
        } else {
            format!(
                "{} of {} nodes within {} of the heal",
                side.len() - missing.len(),
                side.len(),
                secs(healed_at.elapsed())
            )
        }
    };
    let late_a = crossed_after(&mut arrivals, &id_a, &side_b, &late_a);
    let late_b = crossed_after(&mut arrivals, &id_b, &side_a, &late_b);
    let counters = switch.stop().unwrap_or_else(|| "(none printed)".into());

    println!();
    println!(
        "Link-emulated test bed: {n} `mesh node` processes, one network namespace each, links of \
         {} ms one way and {}% loss (mesh-linkemu), seed {}",
        settings.delay_ms, settings.loss, settings.seed
    );
    println!(
        "  built in {}, nodes started and connected one after another in {}, warm-up intent \
         at every node after {} more",
        secs(built),
        secs(started),
        secs(warmed)
    );
    println!();
    println!(
        "1. Propagation of an intent on `{FLOOD}` to the other {} nodes. Times run from the start \
         of `mesh intents publish` at the publisher (its own run is the second column) to the \
         moment `mesh intents watch --json` at each node prints the intent.",
        n - 1
    );
    println!(
        "| intent | publisher | publish command | first node | median | 90th pct | last node | delivered |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (k, r) in propagation.iter().enumerate() {
        println!(
            "| {k} | n{} | {} | {} | {} | {} | {} | {}/{} |",
            r.publisher,
            secs(r.publish_ran),
            secs(r.first),
            secs(r.median),
            secs(r.p90),
            secs(r.last),
            r.reached,
            n - 1
        );
    }
    println!();
    println!(
        "In the network: from the intent's signing at the publisher to its receipt at each node \
         (both stamped by the nodes, one machine's clock), against the least time the connection \
         graph allows: the most links on a shortest path from the publisher ({links} connections \
         among {n} nodes, from `mesh peers` before the first intent) times {} ms. The \
         machine's processors were {propagation_busy} busy while the intents went out.",
        settings.delay_ms
    );
    println!("| intent | median | 90th pct | last node | ideal (links) | last / ideal |");
    println!("|---|---|---|---|---|---|");
    for (k, r) in propagation.iter().enumerate() {
        let ideal = Duration::from_millis(r.ideal_hops as u64 * settings.delay_ms);
        println!(
            "| {k} | {} | {} | {} | {} ({}) | {:.2} |",
            ms(r.network_median),
            ms(r.network_p90),
            ms(r.network_last),
            ms(ideal),
            r.ideal_hops,
            r.network_last.as_secs_f64() / ideal.as_secs_f64().max(1e-9)
        );
    }
    println!();
    println!(
        "2. Discovery of `{RARE}`, offered by nodes {rare:?}; each querier runs `mesh agents \
         discover` every 0.5 s until it finds all {RARE_PROVIDERS} or 60 s pass (all queriers at \
         once)."
    );
    println!("| querier | first answer | first answer took | all found after | found / expected |");
    println!("|---|---|---|---|---|");
    for r in &discovery {
        println!(
            "| n{} | {}/{RARE_PROVIDERS} | {} | {} | {}/{RARE_PROVIDERS} |",
            r.node,
            r.first_found,
            secs(r.first_took),
            r.all_after.map_or_else(|| "-".into(), secs),
            r.found
        );
    }
    println!();
    println!(
        "3. Negotiation, publisher n{} and agent n{} (each step is one `mesh` command, retried \
         until it succeeds):",
        publisher.index, agent.index
    );
    println!("| intent at the agent | offer | award | deliver | receipt | offer to receipt |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} | {} |",
        secs(received),
        secs(offer_took),
        secs(award_took),
        secs(deliver_took),
        secs(receipt_took),
        secs(negotiated)
    );
    println!();
    println!(
        "4. Partition into nodes 0-{} and {}-{} for {}; an intent published in each half at the \
         cut, one published at the heal:",
        half - 1,
        half,
        n - 1,
        secs(partition_held)
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| half A intent at every node of half A | {} |",
        secs(in_half_a)
    );
    println!(
        "| half B intent at every node of half B | {} |",
        secs(in_half_b)
    );
    println!("| intents across the cut during it | none |");
    println!(
        "| intent published after the heal at every node | {} |",
        secs(after_heal)
    );
    println!("| half A intent in half B | {late_a} |");
    println!("| half B intent in half A | {late_b} |");
    println!();
    println!("mesh-linkemu {counters}");
}
