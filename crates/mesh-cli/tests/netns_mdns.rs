//! mDNS between two test hosts: two network namespaces joined by a veth pair, one `mesh node`
//! in each, no bootstrap peer. Needs root and iproute2, so it is `#[ignore]`d: `cargo test` lists
//! it as ignored, and `scripts/test` runs it as root (`--include-ignored`), where it fails with
//! the reason if the namespaces cannot be made.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MESH: &str = env!("CARGO_BIN_EXE_mesh");

/// Two namespaces and the veth between them; removed on drop.
struct TestHosts {
    names: [String; 2],
}

impl TestHosts {
    fn create() -> Result<Self, String> {
        let tag = std::process::id();
        let names = [format!("mesh-a-{tag}"), format!("mesh-b-{tag}")];
        let hosts = Self { names };
        let [a, b] = &hosts.names;
        let (va, vb) = (format!("vma{tag}"), format!("vmb{tag}"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", a],
            vec!["netns", "add", b],
            vec!["link", "add", &va, "type", "veth", "peer", "name", &vb],
            vec!["link", "set", &va, "netns", a],
            vec!["link", "set", &vb, "netns", b],
            vec!["-n", a, "addr", "add", "10.77.0.1/24", "dev", &va],
            vec!["-n", b, "addr", "add", "10.77.0.2/24", "dev", &vb],
            vec!["-n", a, "link", "set", &va, "up"],
            vec!["-n", b, "link", "set", &vb, "up"],
            vec!["-n", a, "link", "set", "lo", "up"],
            vec!["-n", b, "link", "set", "lo", "up"],
        ];
        for step in steps {
            let ok = Command::new("ip")
                .args(&step)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(format!(
                    "cannot run `ip {}` (needs root and iproute2)",
                    step.join(" ")
                ));
            }
        }
        Ok(hosts)
    }

    fn mesh(&self, host: usize, home: &Path, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.names[host], MESH, "--home"])
            .arg(home)
            .args(args)
            .env_remove("MESH_HOME");
        c
    }
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip")
                .args(["netns", "del", n])
                .stderr(Stdio::null())
                .status();
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

#[test]
#[ignore = "needs root and iproute2: run as root with --include-ignored (scripts/test does)"]
fn nodes_on_two_hosts_find_each_other_with_mdns_alone() {
    let hosts =
        TestHosts::create().unwrap_or_else(|why| panic!("cannot make the test hosts: {why}"));
    let dir = tempfile::tempdir().unwrap();
    let homes = [dir.path().join("a"), dir.path().join("b")];
    let mut nodes = Vec::new();
    for (i, home) in homes.iter().enumerate() {
        let child = hosts
            .mesh(
                i,
                home,
                &[
                    "node",
                    "--listen",
                    "/ip4/0.0.0.0/tcp/0",
                    "--capability",
                    "text-generation",
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn node");
        nodes.push(Proc(child));
    }
    for home in &homes {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !home.join("api").exists() {
            assert!(Instant::now() < deadline, "node never started");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let id_b: serde_json::Value = serde_json::from_slice(
        &hosts
            .mesh(1, &homes[1], &["id", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let peer_b = id_b["peer_id"].as_str().unwrap().to_owned();

    // Host a finds host b with no bootstrap peer at all, then discovers it through the DHT.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = hosts
            .mesh(0, &homes[0], &["peers", "--json"])
            .output()
            .unwrap();
        let peers: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let found = peers
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x["peer_id"] == peer_b.as_str()));
        if found {
            let addr = peers[0]["addresses"][0]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(addr.contains("10.77.0.2"), "reached over the veth: {addr}");
            break;
        }
        assert!(Instant::now() < deadline, "mDNS never connected the hosts");
        std::thread::sleep(Duration::from_millis(250));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = hosts
            .mesh(
                0,
                &homes[0],
                &[
                    "agents",
                    "discover",
                    "--capability",
                    "text-generation",
                    "--json",
                ],
            )
            .output()
            .unwrap();
        let agents: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if agents
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["peer_id"] == peer_b.as_str()))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "agent on host b never discovered"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(nodes);
}
