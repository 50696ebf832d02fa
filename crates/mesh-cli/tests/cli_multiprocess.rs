//! The `mesh` binary as real processes on loopback: one bootstrap node and two agents, mDNS off.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn three_processes_publish_watch_and_discover() {
    let dir = tempfile::tempdir().unwrap();
    let (boot_home, a_home, b_home) = (
        dir.path().join("boot"),
        dir.path().join("a"),
        dir.path().join("b"),
    );

    let boot = spawn_node(&boot_home, &[]);
    let boot_id = id_json(&boot_home);
    let boot_peer = boot_id["peer_id"].as_str().unwrap().to_owned();
    let boot_addr = boot_id["listen_addrs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .find(|a| a.contains("/tcp/"))
        .expect("a tcp listen address")
        .to_owned();
    assert!(
        boot_addr.ends_with(&format!("/p2p/{boot_peer}")),
        "{boot_addr}"
    );

    let a = spawn_node(
        &a_home,
        &[
            "--bootstrap",
            &boot_addr,
            "--capability",
            "text-generation",
            "--name",
            "writer",
        ],
    );
    let b = spawn_node(
        &b_home,
        &["--bootstrap", &boot_addr, "--capability", "data-analysis"],
    );
    let a_peer = id_json(&a_home)["peer_id"].as_str().unwrap().to_owned();
    let b_peer = id_json(&b_home)["peer_id"].as_str().unwrap().to_owned();

    // Watch on A, as a user would, in JSON.
    let mut watcher = Command::new(MESH)
        .arg("--home")
        .arg(&a_home)
        .args([
            "intents",
            "watch",
            "--capability",
            "text-generation",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watch");
    let (tx, rx) = mpsc::channel::<String>();
    let watch_out = watcher.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(watch_out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let _watcher = Proc(watcher);

    // B discovers A by capability (poll: records take a moment to reach the DHT).
    let agents = discover_until_found(&b_home, "text-generation");
    let agents = agents.as_array().unwrap();
    assert_eq!(agents.len(), 1, "{agents:?}");
    assert_eq!(agents[0]["peer_id"], a_peer.as_str());
    assert_eq!(agents[0]["capabilities"][0], "text-generation");
    let rep = agents[0]["reputation"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rep));
    // And the other way round; nobody offers image-generation.
    let out = mesh(
        &a_home,
        &[
            "agents",
            "discover",
            "--capability",
            "data-analysis",
            "--json",
        ],
    );
    let found: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(found[0]["peer_id"], b_peer.as_str(), "{found}");
    let out = mesh(
        &a_home,
        &[
            "agents",
            "discover",
            "--capability",
            "image-generation",
            "--json",
        ],
    );
    assert_eq!(stdout(&out).trim(), "[]");

    // B publishes; A's watch shows it.
    let out = mesh(
        &b_home,
        &[
            "intents",
            "publish",
            "--capability",
            "text-generation",
            "--title",
            "Summarise this PDF",
            "--budget",
            "2 USD",
            "--ttl",
            "10m",
        ],
    );
    assert!(out.status.success(), "publish: {}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    assert_eq!(id.len(), 64, "intent id: {id}");
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("watch printed the intent");
    let seen: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(seen["id"], id.as_str());
    assert_eq!(seen["title"], "Summarise this PDF");
    assert_eq!(seen["capabilities"][0], "text-generation");
    assert_eq!(seen["publisher"], b_peer.as_str());
    assert_eq!(seen["budget"]["amount"], "2");
    assert!(
        rx.recv_timeout(Duration::from_secs(2)).is_err(),
        "the intent is shown once"
    );

    // Peers and metrics answer.
    let out = mesh(&boot_home, &["peers", "--json"]);
    let peers: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let ids: Vec<&str> = peers
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["peer_id"].as_str())
        .collect();
    assert!(
        ids.contains(&a_peer.as_str()) && ids.contains(&b_peer.as_str()),
        "{ids:?}"
    );

    // A clean stop removes the API address file.
    for p in [&a, &b, &boot] {
        terminate(p);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for home in [&a_home, &b_home, &boot_home] {
        while home.join("api").exists() {
            assert!(Instant::now() < deadline, "{home:?}/api left behind");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn fresh_home() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    (dir, home)
}

#[test]
fn bad_input_gets_one_line_errors_that_say_what_to_do() {
    let (_d, home) = fresh_home();
    // Node not running.
    let out = mesh(&home, &["peers"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no MESH node is running"),
        "{}",
        stderr(&out)
    );

    // Invalid capability and malformed multiaddr are refused before anything starts.
    let out = mesh(
        &home,
        &[
            "intents",
            "publish",
            "--capability",
            "Bad Name",
            "--title",
            "x",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("[a-z0-9][a-z0-9._-]{0,63}"),
        "{}",
        stderr(&out)
    );
    let out = mesh(&home, &["node", "--bootstrap", "not-a-multiaddr"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/ip4/127.0.0.1/tcp/7700"),
        "{}",
        stderr(&out)
    );
    let out = mesh(
        &home,
        &[
            "agents",
            "discover",
            "--capability",
            "x",
            "--min-reputation",
            "2",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("outside [0, 1]"), "{}", stderr(&out));

    // A running node: wrong token, oversize payload, bad budget.
    let node = spawn_node(&home, &[]);
    let big = home.join("big.bin");
    std::fs::write(&big, vec![0u8; 48 * 1024 + 1]).unwrap();
    let out = mesh(
        &home,
        &[
            "intents",
            "publish",
            "--capability",
            "a",
            "--title",
            "t",
            "--payload-file",
            big.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("49152"), "{}", stderr(&out));
    let out = mesh(
        &home,
        &[
            "intents",
            "publish",
            "--capability",
            "a",
            "--title",
            "t",
            "--budget",
            "two dollars",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("decimal amount"), "{}", stderr(&out));

    let token = home.join("api-token");
    std::fs::write(&token, "wrong").unwrap();
    let out = mesh(&home, &["peers"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refused the API token"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stderr(&out).trim().lines().count(),
        1,
        "one line: {}",
        stderr(&out)
    );
    drop(node);

    // Stale API file of a crashed node.
    let out = mesh(&home, &["peers"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not running or has crashed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_corrupt_or_foreign_store_stops_the_node_and_is_left_untouched() {
    let (_d, home) = fresh_home();
    let out = mesh(&home, &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = home.join("store.redb");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    for contents in [garbage, b"a text file, not a store\n".to_vec()] {
        std::fs::write(&store, &contents).unwrap();
        let out = mesh(
            &home,
            &["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"],
        );
        assert!(!out.status.success(), "the node must not start");
        let err = stderr(&out);
        assert!(err.contains("store.redb"), "{err}");
        assert!(err.lines().count() <= 2, "one clear error: {err}");
        assert_eq!(
            std::fs::read(&store).unwrap(),
            contents,
            "the file is untouched"
        );
        let out = mesh(&home, &["store", "check"]);
        assert!(!out.status.success());
    }
}

#[test]
fn exit_on_stdin_close_stops_the_node_when_its_parent_goes() {
    let (_d, home) = fresh_home();
    let start = |flag: bool| {
        let mut cmd = Command::new(MESH);
        cmd.arg("--home")
            .arg(&home)
            .args(["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
            .env_remove("MESH_HOME")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if flag {
            cmd.arg("--exit-on-stdin-close");
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !home.join("api").exists() {
            assert!(Instant::now() < deadline, "the node never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(child.stdin.take());
        child
    };
    let wait_exit = |child: &mut std::process::Child, within: Duration| {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    };
    // Without the flag, a closed stdin means nothing.
    let mut plain = Proc(start(false));
    assert!(wait_exit(&mut plain.0, Duration::from_secs(2)).is_none());
    terminate(&plain);
    assert!(wait_exit(&mut plain.0, Duration::from_secs(10)).is_some());
    let _ = std::fs::remove_file(home.join("api"));
    // With it, the node stops cleanly as soon as its stdin closes.
    let mut child = start(true);
    let status = wait_exit(&mut child, Duration::from_secs(10)).expect("the node stops");
    assert!(status.success(), "{status}");
    assert!(
        !home.join("api").exists(),
        "a clean stop removes the API file"
    );
}

#[test]
fn key_readable_by_others_stops_the_node_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let (_d, home) = fresh_home();
    let out = mesh(&home, &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = home.join("identity.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let out = mesh(&home, &["init"]);
    assert!(!out.status.success(), "init refuses to overwrite");
    assert!(stderr(&out).contains("--force"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = mesh(
        &home,
        &["node", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
}

#[test]
fn demo_plays_out_and_exits_zero() {
    let out = Command::new(MESH).arg("demo").output().expect("run demo");
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "demo failed: {text}\n{}",
        stderr(&out)
    );
    assert!(text.contains("found 2 agent(s)"), "{text}");
    assert!(text.contains("scribe   received it"), "{text}");
    assert!(text.contains("analyst  received it"), "{text}");
    assert!(text.contains("painter  did not receive it"), "{text}");
    assert!(
        text.contains("alice accepts the lowest price (scribe, 1.80 USD)"),
        "{text}"
    );
    assert!(text.contains("alice rejects analyst's offer"), "{text}");
    assert!(text.contains("the job is completed"), "{text}");
    assert!(
        text.contains("the chain verifies, ending Completed"),
        "{text}"
    );
    assert!(text.contains("Demo complete"), "{text}");
}

#[test]
fn three_processes_negotiate_and_the_exported_transcript_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (boot_home, agent_home, pub_home) = (
        dir.path().join("boot"),
        dir.path().join("agent"),
        dir.path().join("pub"),
    );
    let _boot = spawn_node(&boot_home, &[]);
    let boot_addr = tcp_addr(&boot_home);
    let _agent = spawn_node(
        &agent_home,
        &["--bootstrap", &boot_addr, "--capability", "text-generation"],
    );
    let _publisher = spawn_node(&pub_home, &["--bootstrap", &boot_addr]);

    // The publisher waits until it can find the agent, then publishes.
    let found = discover_until_found(&pub_home, "text-generation");
    assert!(
        found.to_string().contains("peer_id"),
        "agent never discovered"
    );
    let out = mesh(
        &pub_home,
        &[
            "intents",
            "publish",
            "--capability",
            "text-generation",
            "--title",
            "Summarise this PDF",
            "--budget",
            "3 USD",
            "--ttl",
            "10m",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let intent = stdout(&out).trim().to_owned();

    // The agent bids once the intent has reached it.
    let offered = mesh_until_ok(
        &agent_home,
        &[
            "negotiations",
            "offer",
            "--intent",
            &intent,
            "--price",
            "2.50 USD",
            "--eta",
            "30m",
            "--terms",
            "200 words",
        ],
    );
    let nid = offered.split_whitespace().next().unwrap().to_owned();
    assert_eq!(nid.len(), 64, "{offered}");
    assert!(
        offered.contains("offer 2.50 USD") && offered.contains("offered"),
        "{offered}"
    );

    let status = |home: &Path| -> String {
        let out = mesh(home, &["intents", "show", &intent, "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let view: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        view["status"].as_str().unwrap().to_owned()
    };
    assert_eq!(status(&pub_home), "negotiating");

    // The publisher awards it: the only offer, at the lowest price, wins.
    let out = mesh(&pub_home, &["intents", "award", &intent, "--window", "1s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("at 2.50 USD: negotiation {nid}")),
        "{}",
        stdout(&out)
    );
    assert_eq!(status(&pub_home), "agreed");
    // An agreed intent can no longer be cancelled.
    let out = mesh(&pub_home, &["intents", "cancel", &intent]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("only open or negotiating"),
        "{}",
        stderr(&out)
    );
    // Accepting twice is refused with a clear error.
    let again = mesh(&pub_home, &["negotiations", "accept", &nid]);
    assert!(!again.status.success());
    assert!(!stderr(&again).is_empty());

    let result = dir.path().join("summary.txt");
    std::fs::write(&result, "A short summary.").unwrap();
    let out = mesh(
        &agent_home,
        &[
            "negotiations",
            "deliver",
            &nid,
            "--result-file",
            result.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("delivered"));
    let out = mesh(
        &pub_home,
        &[
            "negotiations",
            "receipt",
            &nid,
            "--rating",
            "0.9",
            "--comment",
            "good",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("completed"));

    // Both sides list it as completed.
    for home in [&pub_home, &agent_home] {
        let list: serde_json::Value =
            serde_json::from_str(&stdout(&mesh(home, &["negotiations", "list", "--json"])))
                .unwrap();
        assert_eq!(list[0]["negotiation_id"], nid.as_str());
        assert_eq!(list[0]["state"], "completed");
        assert_eq!(list[0]["messages"], 4);
    }

    assert_eq!(status(&pub_home), "completed");
    assert_eq!(status(&agent_home), "completed");

    // A second intent, cancelled by its publisher: the agent hears of it.
    let out = mesh(
        &pub_home,
        &[
            "intents",
            "publish",
            "--capability",
            "text-generation",
            "--title",
            "Translate this poem",
            "--ttl",
            "10m",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let second = stdout(&out).trim().to_owned();
    mesh_until_ok(&agent_home, &["intents", "show", &second]);
    let out = mesh(
        &pub_home,
        &["intents", "cancel", &second, "--reason", "done it myself"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("Cancelled"), "{}", stdout(&out));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let shown = stdout(&mesh(&agent_home, &["intents", "show", &second]));
        if shown.contains("cancelled: done it myself") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{shown}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = mesh(
        &agent_home,
        &["negotiations", "offer", "--intent", &second, "--price", "1"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cancelled"), "{}", stderr(&out));

    // Export, verify offline (no node needed), and a tampered copy fails.
    let out = mesh(&agent_home, &["negotiations", "show", &nid, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = dir.path().join("transcript.json");
    std::fs::write(&file, stdout(&out)).unwrap();
    let nobody = dir.path().join("nobody");
    let out = mesh(&nobody, &["negotiations", "verify", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("valid transcript: 4 signed messages"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("Completed"), "{}", stdout(&out));

    let mut json: serde_json::Value = serde_json::from_str(&stdout(&mesh(
        &agent_home,
        &["negotiations", "show", &nid, "--json"],
    )))
    .unwrap();
    let first = json["envelopes"][1].as_str().unwrap().to_owned();
    let mut chars: Vec<char> = first.chars().collect();
    let mid = chars.len() / 2;
    chars[mid] = if chars[mid] == '0' { '1' } else { '0' };
    json["envelopes"][1] = serde_json::Value::String(chars.into_iter().collect());
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, json.to_string()).unwrap();
    let out = mesh(
        &nobody,
        &["negotiations", "verify", tampered.to_str().unwrap()],
    );
    assert!(!out.status.success(), "a tampered transcript must fail");
    assert!(stderr(&out).contains("INVALID"), "{}", stderr(&out));
}

#[test]
fn reputation_shows_a_peers_standing_and_bad_peer_ids_are_refused_clearly() {
    let (_d, home) = fresh_home();

    // A malformed --trust-peer stops `mesh node` before anything starts, saying what to use.
    let out = mesh(&home, &["node", "--trust-peer", "not-a-peer-id"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("--trust-peer"), "{err}");
    assert!(err.contains("\"not-a-peer-id\" is not a peer id"), "{err}");
    assert!(err.contains("12D3KooW"), "{err}");
    assert!(!home.join("api").exists(), "no node started");
    // More than the model keeps is refused too, rather than cut silently.
    let many: Vec<String> = (0..=mesh_core::trust::MAX_PRE_TRUSTED)
        .map(|_| libp2p::PeerId::random().to_string())
        .collect();
    let mut args = vec!["node"];
    for p in &many {
        args.extend(["--trust-peer", p.as_str()]);
    }
    let out = mesh(&home, &args);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("65 peers given with --trust-peer: at most 64"),
        "{err}"
    );
    assert!(!home.join("api").exists(), "no node started");

    // A node with both flags runs; its view of a peer it knows nothing of is neutral.
    let trusted = libp2p::PeerId::random().to_string();
    let _node = spawn_node(&home, &["--trust-peer", &trusted, "--no-share-receipts"]);
    let stranger = libp2p::PeerId::random().to_string();
    let out = mesh(&home, &["reputation", &stranger, "--json"]);
    assert!(out.status.success(), "reputation: {}", stderr(&out));
    let view: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(view["peer_id"], stranger.as_str(), "{view}");
    assert_eq!(view["reputation"], 0.5, "{view}");
    assert_eq!(view["receipts_score"], 0.5, "{view}");
    assert_eq!(view["local_score"], 0.5, "{view}");
    assert_eq!(view["known"], false, "{view}");
    assert_eq!(view["positive_evidence"], 0.0, "{view}");
    assert_eq!(view["negative_evidence"], 0.0, "{view}");

    // The human form says what each figure is.
    let out = mesh(&home, &["reputation", &stranger]);
    assert!(out.status.success(), "reputation: {}", stderr(&out));
    let text = stdout(&out);
    for line in [
        format!("Peer {stranger}"),
        "reputation        0.500".to_owned(),
        "receipts score    0.500".to_owned(),
        "local score       0.500".to_owned(),
        "global trust      0.0000".to_owned(),
        "evidence          0.00 for, 0.00 against".to_owned(),
        "named in receipts no".to_owned(),
        "computed".to_owned(),
    ] {
        assert!(text.contains(&line), "{line:?} missing from:\n{text}");
    }

    // A malformed id is refused with the same clear message.
    let out = mesh(&home, &["reputation", "12D3KooW", "--json"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("\"12D3KooW\" is not a peer id"), "{err}");
    assert!(err.contains("mesh peers"), "{err}");
}
