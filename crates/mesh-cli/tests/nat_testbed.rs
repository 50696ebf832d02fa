//! A NAT test bed in Linux network namespaces: a public segment with a coordinator, and four
//! private segments, each behind its own NAT router with one agent (`mesh node` processes).
//! Two routers map endpoint-independently (MASQUERADE, which keeps the source port), two are
//! symmetric (MASQUERADE --random-fully: a new random port for every connection). Every router
//! drops inbound connections it did not see go out.
//!
//! The agents find out from AutoNAT that they are private and reserve at the coordinator's
//! relay. For every pair, one publishes an intent only the other can take, the other bids, and
//! the negotiation runs to its receipt. Pairs behind endpoint-independent NATs must end up
//! directly connected (DCUtR); pairs with a symmetric NAT stay connected through the relay.
//! A table per pair is printed (run with `--nocapture` to see it).
//!
//! Needs root, iproute2 and iptables, so it is `#[ignore]`d: `cargo test` lists it as ignored,
//! and `scripts/test` runs it as root (`--include-ignored`), where it fails with the reason if
//! the test bed cannot be built. Namespaces are named `mnat<pid>-*`, removed when the test ends (even on failure)
//! and, for earlier runs whose process is gone, when it starts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod netns;

use netns::run;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const MESH: &str = env!("CARGO_BIN_EXE_mesh");
const PREFIX: &str = "mnat";
const COORD_IP: &str = "198.18.0.1";
const PORT: u16 = 4001;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Nat {
    /// MASQUERADE: the source port is kept, so the mapping does not depend on the destination.
    EndpointIndependent,
    /// MASQUERADE --random-fully: every connection gets a new random port.
    Symmetric,
}

impl Nat {
    fn short(self) -> &'static str {
        match self {
            Nat::EndpointIndependent => "EIM",
            Nat::Symmetric => "SYM",
        }
    }
}

const AGENTS: [(&str, Nat); 4] = [
    ("a", Nat::EndpointIndependent),
    ("b", Nat::EndpointIndependent),
    ("c", Nat::Symmetric),
    ("d", Nat::Symmetric),
];

/// The namespaces of the test bed; removed on drop.
struct TestBed {
    tag: String,
    names: Vec<String>,
}

impl TestBed {
    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.tag)
    }

    fn create() -> Result<Self, String> {
        netns::remove_stale(PREFIX);
        let tag = format!("{PREFIX}{}", std::process::id());
        let mut bed = Self {
            tag,
            names: Vec::new(),
        };
        let inet = bed.ns("inet");
        let coord = bed.ns("coord");
        for n in [&inet, &coord] {
            run(&["ip", "netns", "add", n])?;
            bed.names.push(n.clone());
        }
        run(&["ip", "-n", &inet, "link", "add", "br0", "type", "bridge"])?;
        run(&["ip", "-n", &inet, "link", "set", "br0", "up"])?;
        bed.plug(&coord, "eth0", "pcoord", &format!("{COORD_IP}/24"))?;
        run(&["ip", "-n", &coord, "link", "set", "lo", "up"])?;
        for (i, (name, nat)) in AGENTS.iter().enumerate() {
            let n = i + 1;
            let router = bed.ns(&format!("r{name}"));
            let host = bed.ns(name);
            for ns in [&router, &host] {
                run(&["ip", "netns", "add", ns])?;
                bed.names.push(ns.clone());
            }
            bed.plug(
                &router,
                "wan",
                &format!("p{name}"),
                &format!("198.18.0.{}/24", 10 + n),
            )?;
            run(&[
                "ip", "link", "add", "lan", "netns", &router, "type", "veth", "peer", "name",
                "eth0", "netns", &host,
            ])?;
            run(&[
                "ip",
                "-n",
                &router,
                "addr",
                "add",
                &format!("192.168.{n}.1/24"),
                "dev",
                "lan",
            ])?;
            run(&["ip", "-n", &router, "link", "set", "lan", "up"])?;
            run(&[
                "ip",
                "-n",
                &host,
                "addr",
                "add",
                &format!("192.168.{n}.2/24"),
                "dev",
                "eth0",
            ])?;
            run(&["ip", "-n", &host, "link", "set", "eth0", "up"])?;
            run(&["ip", "-n", &host, "link", "set", "lo", "up"])?;
            run(&[
                "ip",
                "-n",
                &host,
                "route",
                "add",
                "default",
                "via",
                &format!("192.168.{n}.1"),
            ])?;
            let ipt = |args: &[&str]| -> Result<(), String> {
                let mut all = vec!["ip", "netns", "exec", router.as_str(), "iptables"];
                all.extend_from_slice(args);
                run(&all)
            };
            run(&[
                "ip",
                "netns",
                "exec",
                &router,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])?;
            let mut masquerade = vec![
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-o",
                "wan",
                "-j",
                "MASQUERADE",
            ];
            if *nat == Nat::Symmetric {
                masquerade.push("--random-fully");
            }
            ipt(&masquerade)?;
            // Like a home router: inbound connections nobody asked for are dropped silently,
            // whether to the router itself or to the network behind it.
            ipt(&["-P", "INPUT", "DROP"])?;
            ipt(&["-A", "INPUT", "-i", "lan", "-j", "ACCEPT"])?;
            ipt(&["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"])?;
            ipt(&[
                "-A",
                "INPUT",
                "-m",
                "conntrack",
                "--ctstate",
                "ESTABLISHED,RELATED",
                "-j",
                "ACCEPT",
            ])?;
            ipt(&["-P", "FORWARD", "DROP"])?;
            ipt(&["-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "ACCEPT"])?;
            ipt(&[
                "-A",
                "FORWARD",
                "-i",
                "wan",
                "-o",
                "lan",
                "-m",
                "conntrack",
                "--ctstate",
                "ESTABLISHED,RELATED",
                "-j",
                "ACCEPT",
            ])?;
        }
        Ok(bed)
    }

    /// A veth from `ns` (as `inner`, with `addr`) to the public bridge (as `outer`).
    fn plug(&self, ns: &str, inner: &str, outer: &str, addr: &str) -> Result<(), String> {
        let inet = self.ns("inet");
        run(&[
            "ip", "link", "add", inner, "netns", ns, "type", "veth", "peer", "name", outer,
            "netns", &inet,
        ])?;
        run(&[
            "ip", "-n", &inet, "link", "set", outer, "master", "br0", "up",
        ])?;
        run(&["ip", "-n", ns, "addr", "add", addr, "dev", inner])?;
        run(&["ip", "-n", ns, "link", "set", inner, "up"])
    }

    fn mesh(&self, host: &str, home: &Path, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host), MESH, "--home"])
            .arg(home)
            .args(args)
            .env_remove("MESH_HOME")
            .env(
                "RUST_LOG",
                std::env::var("MESH_NAT_LOG").unwrap_or_else(|_| "warn".into()),
            );
        c
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        for n in self.names.iter().rev() {
            let _ = run(&["ip", "netns", "del", n]);
        }
    }
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn missing_tools() -> Option<String> {
    // SAFETY-free check for root: the effective uid is in /proc/self/status.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0");
    if !root {
        return Some("not root".into());
    }
    for tool in ["ip", "iptables"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Some(format!(
                "`{tool}` is missing (install iproute2 and iptables)"
            ));
        }
    }
    None
}

struct Node {
    host: &'static str,
    home: PathBuf,
    peer: String,
    started: Instant,
    _proc: Proc,
}

fn output(bed: &TestBed, node: &Node, args: &[&str]) -> Output {
    bed.mesh(node.host, &node.home, args)
        .output()
        .expect("run mesh")
}

fn json(bed: &TestBed, node: &Node, args: &[&str]) -> serde_json::Value {
    let out = output(bed, node, args);
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Runs `mesh` in the node's namespace until it succeeds; returns its stdout.
fn until_ok(bed: &TestBed, node: &Node, args: &[&str], secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let out = output(bed, node, args);
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "{}: mesh {args:?} kept failing: {}",
            node.host,
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_until(what: &str, secs: u64, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

/// Prints the end of every node's log when the test fails, so a failure in CI says what the
/// nodes saw (`MESH_NAT_LOG` sets their `RUST_LOG`; `warn` unless told). With
/// `MESH_NAT_SHOW_LOGS` set, prints them when it passes too.
struct LogsOnFailure(Vec<PathBuf>);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() && std::env::var_os("MESH_NAT_SHOW_LOGS").is_none() {
            return;
        }
        for log in &self.0 {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(120)..];
            eprintln!(
                "--- last lines of {} ---\n{}",
                log.display(),
                tail.join("\n")
            );
        }
    }
}

fn start(bed: &TestBed, host: &'static str, home: PathBuf, args: &[&str]) -> Node {
    let started = Instant::now();
    std::fs::create_dir_all(&home).expect("create home");
    let log = std::fs::File::create(home.join("node.log")).expect("create node log");
    let child = bed
        .mesh(host, &home, &["node"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn mesh node");
    let proc = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !home.join("api").exists() {
        assert!(Instant::now() < deadline, "{host}: node never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut node = Node {
        host,
        home,
        peer: String::new(),
        started,
        _proc: proc,
    };
    let id = json(bed, &node, &["id", "--json"]);
    node.peer = id["peer_id"].as_str().expect("peer id").to_owned();
    node
}

fn peer_path(report: &serde_json::Value, peer: &str) -> Option<(String, Option<u64>)> {
    report["peers"].as_array()?.iter().find_map(|p| {
        (p["peer_id"] == peer).then(|| {
            (
                p["path"].as_str().unwrap_or_default().to_owned(),
                p["upgraded_after_ms"].as_u64(),
            )
        })
    })
}

struct Row {
    pair: String,
    connected: bool,
    path: String,
    discovered: Duration,
    first_message: Duration,
    negotiated: Duration,
    direct_after: Option<u64>,
}

#[test]
#[ignore = "needs root, iproute2 and iptables: run as root with --include-ignored (scripts/test does)"]
fn agents_behind_nats_connect_through_the_relay_hole_punch_where_possible_and_negotiate() {
    if let Some(why) = missing_tools() {
        panic!("cannot run the NAT test bed, which needs root, iproute2 and iptables: {why}");
    }
    let bed = match TestBed::create() {
        Ok(b) => b,
        Err(e) => panic!("cannot build the NAT test bed: {e}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let _logs = LogsOnFailure(
        ["coord", "a", "b", "c", "d"]
            .iter()
            .map(|h| dir.path().join(h).join("node.log"))
            .collect(),
    );
    let common = ["--no-mdns", "--no-upnp", "--autonat-private-ips"];
    let tcp = format!("/ip4/{COORD_IP}/tcp/{PORT}");
    let quic = format!("/ip4/{COORD_IP}/udp/{PORT}/quic-v1");
    let mut args = vec!["--role", "coordinator", "--listen", &tcp, "--listen", &quic];
    args.extend(common);
    let coord = start(&bed, "coord", dir.path().join("coord"), &args);
    let coord_addr = format!("{tcp}/p2p/{}", coord.peer);

    let any_tcp = format!("/ip4/0.0.0.0/tcp/{PORT}");
    let any_quic = format!("/ip4/0.0.0.0/udp/{PORT}/quic-v1");
    let mut agents = Vec::new();
    for (name, nat) in AGENTS {
        let cap = format!("work-{name}");
        let mut args = vec![
            "--listen",
            &any_tcp,
            "--listen",
            &any_quic,
            "--bootstrap",
            &coord_addr,
            "--capability",
            &cap,
            "--name",
            name,
        ];
        args.extend(common);
        agents.push((start(&bed, name, dir.path().join(name), &args), nat));
    }

    // Each agent joins, learns from AutoNAT that it is private, and reserves at the relay.
    let mut first_peer = Vec::new();
    let mut reserved = Vec::new();
    for (agent, _) in &agents {
        wait_until(&format!("{} to connect", agent.host), 60, || {
            let r = json(&bed, agent, &["doctor", "--json"]);
            r["peers"].as_array().is_some_and(|p| !p.is_empty())
        });
        first_peer.push(agent.started.elapsed());
    }
    for (agent, _) in &agents {
        wait_until(
            &format!("{} to hold a relay reservation", agent.host),
            90,
            || {
                let r = json(&bed, agent, &["doctor", "--json"]);
                r["status"] == "private"
                    && r["reservations"]
                        .as_array()
                        .is_some_and(|x| x.iter().any(|x| x["state"] == "active"))
            },
        );
        reserved.push(agent.started.elapsed());
    }

    let mut rows = Vec::new();
    for i in 0..agents.len() {
        for j in i + 1..agents.len() {
            let ((x, nx), (y, ny)) = (&agents[i], &agents[j]);
            let cap = format!("work-{}", y.host);
            let t = Instant::now();
            wait_until(&format!("{} to discover {}", x.host, y.host), 60, || {
                let found = json(
                    &bed,
                    x,
                    &["agents", "discover", "--capability", &cap, "--json"],
                );
                found
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a["peer_id"] == y.peer.as_str()))
            });
            let discovered = t.elapsed();
            // The intent goes to the subscribers the publisher knows: wait until the pair is
            // connected (through the relay at first) and the publisher has seen the topic.
            wait_until(&format!("{} to connect to {}", x.host, y.host), 180, || {
                peer_path(&json(&bed, x, &["doctor", "--json"]), &y.peer).is_some()
            });
            let title = format!("job for {} from {}", y.host, x.host);
            let published = until_ok(
                &bed,
                x,
                &[
                    "intents",
                    "publish",
                    "--capability",
                    &cap,
                    "--title",
                    &title,
                    "--budget",
                    "2 USD",
                    "--ttl",
                    "10m",
                ],
                60,
            );
            let intent = published.trim().to_owned();
            let t = Instant::now();
            until_ok(&bed, y, &["intents", "show", &intent], 60);
            let first_message = t.elapsed();
            let t = Instant::now();
            let offered = until_ok(
                &bed,
                y,
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
            let nid = offered.split_whitespace().next().unwrap().to_owned();
            until_ok(
                &bed,
                x,
                &["intents", "award", &intent, "--window", "1s"],
                60,
            );
            let result = dir.path().join(format!("result-{}{}", x.host, y.host));
            std::fs::write(&result, "done").unwrap();
            until_ok(
                &bed,
                y,
                &[
                    "negotiations",
                    "deliver",
                    &nid,
                    "--result-file",
                    result.to_str().unwrap(),
                ],
                60,
            );
            let receipt = until_ok(
                &bed,
                x,
                &["negotiations", "receipt", &nid, "--rating", "0.9"],
                60,
            );
            assert!(receipt.contains("completed"), "{receipt}");
            let negotiated = t.elapsed();

            // Where both NATs keep the mapping, DCUtR must upgrade the pair to a direct
            // connection; with a symmetric NAT the relay must keep them connected.
            let both_eim = *nx == Nat::EndpointIndependent && *ny == Nat::EndpointIndependent;
            let mut path = String::new();
            let mut direct_after = None;
            let mut connected = false;
            let settle = if both_eim { 45 } else { 5 };
            let deadline = Instant::now() + Duration::from_secs(settle);
            loop {
                let r = json(&bed, x, &["doctor", "--json"]);
                if let Some((p, after)) = peer_path(&r, &y.peer) {
                    connected = true;
                    path = p;
                    direct_after = after;
                }
                if (both_eim && path == "direct") || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            assert!(connected, "{} and {} are not connected", x.host, y.host);
            if both_eim {
                assert_eq!(
                    path,
                    "direct",
                    "{}-{}: hole punching never upgraded; {} says {}; {} says {}",
                    x.host,
                    y.host,
                    x.host,
                    json(&bed, x, &["doctor", "--json"]),
                    y.host,
                    json(&bed, y, &["doctor", "--json"])
                );
            } else {
                assert_eq!(
                    path, "relayed",
                    "{}-{}: a symmetric NAT let a direct connection through",
                    x.host, y.host
                );
            }
            rows.push(Row {
                pair: format!("{}({}) - {}({})", x.host, nx.short(), y.host, ny.short()),
                connected,
                path,
                discovered,
                first_message,
                negotiated,
                direct_after,
            });
        }
    }

    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    println!();
    println!("NAT test bed: coordinator on the public segment, each agent behind its own NAT");
    for (k, (agent, nat)) in agents.iter().enumerate() {
        println!(
            "  agent {} ({}): first peer after {}, private with a relay reservation after {}",
            agent.host,
            nat.short(),
            secs(first_peer[k]),
            secs(reserved[k])
        );
    }
    println!(
        "| pair | connected | path | first discovered | first message | negotiation (offer to receipt) | direct after relayed |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.pair,
            if r.connected { "yes" } else { "no" },
            r.path,
            secs(r.discovered),
            secs(r.first_message),
            secs(r.negotiated),
            r.direct_after
                .map(|ms| format!("{:.2} s", ms as f64 / 1000.0))
                .unwrap_or_else(|| "-".into())
        );
    }
    let doctor = output(&bed, &agents[2].0, &["doctor"]);
    println!(
        "\nmesh doctor on agent c:\n{}",
        String::from_utf8_lossy(&doctor.stdout)
    );
}
