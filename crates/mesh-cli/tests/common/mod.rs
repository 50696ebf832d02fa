//! Helpers shared by the multi-process tests: `mesh` as real processes on loopback.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const MESH: &str = env!("CARGO_BIN_EXE_mesh");

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn mesh(home: &Path, args: &[&str]) -> Output {
    Command::new(MESH)
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("MESH_HOME")
        .output()
        .expect("run mesh")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn spawn_node(home: &Path, args: &[&str]) -> Proc {
    let child = Command::new(MESH)
        .arg("--home")
        .arg(home)
        .arg("node")
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
        .args(args)
        .env_remove("MESH_HOME")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mesh node");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !home.join("api").exists() {
        assert!(
            Instant::now() < deadline,
            "node in {home:?} never wrote its API address"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Proc(child)
}

pub fn id_json(home: &Path) -> serde_json::Value {
    let out = mesh(home, &["id", "--json"]);
    assert!(out.status.success(), "mesh id: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("id --json is JSON")
}

/// Polls `agents discover --json` until it lists someone (or 60 s pass); returns the list.
pub fn discover_until_found(home: &Path, capability: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = mesh(
            home,
            &["agents", "discover", "--capability", capability, "--json"],
        );
        assert!(out.status.success(), "discover: {}", stderr(&out));
        let agents: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        if !agents.as_array().unwrap().is_empty() || Instant::now() > deadline {
            return agents;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn terminate(p: &Proc) {
    let _ = Command::new("kill")
        .args(["-TERM", &p.0.id().to_string()])
        .status();
}

pub fn tcp_addr(home: &Path) -> String {
    id_json(home)["listen_addrs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .find(|a| a.contains("/tcp/"))
        .unwrap()
        .to_owned()
}

/// Runs `mesh` until it succeeds (the network needs a moment), returning its stdout.
pub fn mesh_until_ok(home: &Path, args: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = mesh(home, args);
        if out.status.success() {
            return stdout(&out);
        }
        assert!(
            Instant::now() < deadline,
            "mesh {args:?} kept failing: {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
