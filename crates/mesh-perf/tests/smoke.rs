//! End to end: a real `mesh-perf server` process and `mesh-perf client` processes over TCP and
//! QUIC on loopback. Checks byte counts and exit codes only, never speed.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mesh-perf");
const MIB: u64 = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(60);

/// A server process, killed when dropped.
struct Server {
    child: Child,
    tcp: String,
    quic: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(extra: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args([
            "server",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--listen",
            "/ip4/127.0.0.1/udp/0/quic-v1",
        ])
        .args(extra)
        // The server warns about the streams it refuses, which some tests cause.
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut tcp, mut quic) = (None, None);
    while tcp.is_none() || quic.is_none() {
        let line = rx
            .recv_timeout(TIMEOUT)
            .expect("server printed no listen address in time");
        assert!(line.contains("/p2p/12D3Koo"), "not a full address: {line}");
        if line.contains("/quic-v1/") {
            quic = Some(line);
        } else if line.contains("/tcp/") {
            tcp = Some(line);
        }
    }
    Server {
        child,
        tcp: tcp.unwrap(),
        quic: quic.unwrap(),
    }
}

/// Runs the client to its end, killing it after [`TIMEOUT`].
fn client(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .arg("client")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("client did not finish within {TIMEOUT:?}");
        }
    }
}

fn run_json(server: &str, upload: u64, download: u64, streams: u64) -> serde_json::Value {
    let output = client(&[
        "--server",
        server,
        "--upload-bytes",
        &upload.to_string(),
        "--download-bytes",
        &download.to_string(),
        "--streams",
        &streams.to_string(),
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line expected: {stdout}");
    serde_json::from_str(lines[0]).unwrap()
}

fn check(report: &serde_json::Value, transport: &str, upload: u64, download: u64) {
    assert_eq!(report["impl"], "mesh");
    assert_eq!(report["transport"], transport);
    assert_eq!(report["upload_bytes"], upload);
    assert_eq!(report["download_bytes"], download);
    for key in ["upload_s", "download_s", "upload_gbit_s", "download_gbit_s"] {
        assert!(report[key].as_f64().unwrap() > 0.0, "{key} in {report}");
    }
}

#[test]
fn one_mib_each_way_over_tcp_and_quic() {
    let server = start_server(&[]);
    let report = run_json(&server.tcp, MIB, MIB, 1);
    check(&report, "tcp", MIB, MIB);
    let report = run_json(&server.quic, MIB, MIB, 1);
    check(&report, "quic", MIB, MIB);
}

#[test]
fn parallel_streams_and_uneven_sizes() {
    let server = start_server(&[]);
    let report = run_json(&server.tcp, 300_000, 2 * MIB + 1, 4);
    check(&report, "tcp", 4 * 300_000, 4 * (2 * MIB + 1));
    assert_eq!(report["streams"], 4);
    let report = run_json(&server.quic, 2 * MIB + 1, 300_000, 3);
    check(&report, "quic", 3 * (2 * MIB + 1), 3 * 300_000);
}

#[test]
fn a_download_over_the_server_limit_fails_clearly() {
    let server = start_server(&["--max-download-bytes", "1000"]);
    let output = client(&[
        "--server",
        &server.tcp,
        "--upload-bytes",
        "10",
        "--download-bytes",
        "1001",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("after 0 of the 1001 requested bytes"),
        "{stderr}"
    );
}

#[test]
fn streams_past_the_server_limit_are_refused() {
    let server = start_server(&["--max-streams", "1"]);
    // The first stream holds the only permit while the second one arrives.
    let output = client(&[
        "--server",
        &server.tcp,
        "--upload-bytes",
        "1000",
        "--download-bytes",
        "1000",
        "--streams",
        "2",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Refused at negotiation, or accepted and closed at once, depending on which stream the
    // server takes first: either way the client says the server refused it.
    assert!(
        stderr.contains("perf stream")
            || stderr.contains("server closed the stream after 0 of the 1000 requested bytes"),
        "{stderr}"
    );
    // The server still serves within its limit, once the refused client's stream has let go
    // of the permit (the server notices the closed connection a moment after the client exits).
    let deadline = std::time::Instant::now() + TIMEOUT;
    let args = [
        "--server",
        server.quic.as_str(),
        "--upload-bytes",
        "1000",
        "--download-bytes",
        "1000",
    ];
    while !client(&args).status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never served a stream again after refusing one"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let report = run_json(&server.quic, 1000, 1000, 1);
    check(&report, "quic", 1000, 1000);
}

#[test]
fn an_unreachable_server_fails_clearly() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = client(&[
        "--server",
        &format!("/ip4/127.0.0.1/tcp/{port}"),
        "--upload-bytes",
        "1",
        "--download-bytes",
        "1",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect to /ip4/127.0.0.1/tcp/"),
        "{stderr}"
    );
}

#[test]
fn a_bad_multiaddr_fails_clearly() {
    let output = client(&[
        "--server",
        "127.0.0.1:4001",
        "--upload-bytes",
        "1",
        "--download-bytes",
        "1",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid multiaddr"), "{stderr}");
}
