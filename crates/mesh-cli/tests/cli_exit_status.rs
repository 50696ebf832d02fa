//! How `mesh node` ends: with status 0 when its owner stops it, and with status 1 and a
//! one-line reason when its network task dies (a supervisor that restarts on failure must see
//! a failure). The network task is made to panic through `MESH_DEBUG_PANIC_AFTER_MS`, which
//! only debug builds read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Generous: the node starts, runs about a second, and stops.
const PATIENCE: Duration = Duration::from_secs(45);

fn spawn(home: &Path, panic_after_ms: Option<u64>) -> Child {
    let mut cmd = Command::new(MESH);
    cmd.arg("--home")
        .arg(home)
        .arg("node")
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
        .env_remove("MESH_HOME")
        .env_remove("RUST_BACKTRACE")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(ms) = panic_after_ms {
        cmd.env("MESH_DEBUG_PANIC_AFTER_MS", ms.to_string());
    }
    cmd.spawn().expect("spawn mesh node")
}

fn wait(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mesh node did not end within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stderr_of(child: &mut Child) -> String {
    use std::io::Read;
    let mut s = String::new();
    child.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

#[test]
fn a_node_whose_network_task_dies_exits_1_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("node");
    let mut child = spawn(&home, Some(1_500));
    let status = wait(&mut child);
    let err = stderr_of(&mut child);
    assert_eq!(
        status.code(),
        Some(1),
        "exit status {status}; stderr:\n{err}"
    );
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: the network task stopped: panicked: ")
            && last.contains("MESH_DEBUG_PANIC_AFTER_MS"),
        "the last line names the reason: {last:?}; stderr:\n{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_node_stopped_by_its_owner_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("node");
    let mut child = spawn(&home, None);
    let deadline = Instant::now() + PATIENCE;
    while !home.join("api").exists() {
        assert!(
            Instant::now() < deadline,
            "the node never wrote its API file"
        );
        assert!(child.try_wait().unwrap().is_none(), "the node ended early");
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = wait(&mut child);
    let err = stderr_of(&mut child);
    assert!(status.success(), "exit status {status}; stderr:\n{err}");
}
