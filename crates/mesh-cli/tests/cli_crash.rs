//! Crash safety with real processes: a publisher node is killed with SIGKILL in the middle of
//! publishing and taking offers, several times. Each time its store checks clean, and after a
//! restart it still has every intent whose publication it confirmed and every negotiation
//! message it acknowledged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const CAPABILITY: &str = "data-analysis";
const ROUNDS: usize = 3;

fn json(home: &Path, args: &[&str]) -> serde_json::Value {
    let out = mesh(home, args);
    assert!(out.status.success(), "mesh {args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn ids(list: &serde_json::Value, field: &str) -> HashSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v[field].as_str().map(str::to_owned))
        .collect()
}

fn publish(home: &Path, title: &str) -> Option<String> {
    let out = mesh(
        home,
        &[
            "intents",
            "publish",
            "--capability",
            CAPABILITY,
            "--title",
            title,
            "--ttl",
            "30m",
        ],
    );
    out.status.success().then(|| stdout(&out).trim().to_owned())
}

/// Waits until the agent holds every intent in `wanted`.
fn agent_holds(agent: &Path, wanted: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held = ids(
            &json(agent, &["intents", "list", "--json", "--limit", "1000"]),
            "id",
        );
        if wanted.iter().all(|w| held.contains(w)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the agent never received every intent"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start_publisher(home: &Path, boot: &str) -> Proc {
    // A killed node leaves its API file behind; the next one writes its own.
    let _ = std::fs::remove_file(home.join("api"));
    spawn_node(home, &["--bootstrap", boot])
}

#[test]
fn sigkill_during_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (boot_home, agent_home, pub_home): (PathBuf, PathBuf, PathBuf) = (
        dir.path().join("boot"),
        dir.path().join("agent"),
        dir.path().join("pub"),
    );
    let _boot = spawn_node(&boot_home, &[]);
    let boot = tcp_addr(&boot_home);
    let _agent = spawn_node(
        &agent_home,
        &["--bootstrap", &boot, "--capability", CAPABILITY],
    );
    let mut publisher = start_publisher(&pub_home, &boot);
    discover_until_found(&pub_home, CAPABILITY);

    let confirmed_intents = Arc::new(Mutex::new(Vec::<String>::new()));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    for round in 0..ROUNDS {
        // Intents the agent will bid on during the load.
        let mut targets = Vec::new();
        for i in 0..30 {
            let id = publish(&pub_home, &format!("round {round} job {i}")).expect("publish");
            confirmed_intents.lock().unwrap().push(id.clone());
            targets.push(id);
        }
        agent_holds(&agent_home, &targets);

        // Load: the agent bids on every target from three threads while the publisher keeps
        // publishing; each success is something the publisher confirmed.
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for chunk in targets.chunks(10) {
            let (chunk, agent, acked, stop) = (
                chunk.to_vec(),
                agent_home.clone(),
                Arc::clone(&acknowledged),
                Arc::clone(&stop),
            );
            threads.push(std::thread::spawn(move || {
                for intent in chunk {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let out = mesh(
                        &agent,
                        &["negotiations", "offer", "--intent", &intent, "--price", "1"],
                    );
                    if out.status.success() {
                        let nid = stdout(&out).split_whitespace().next().unwrap().to_owned();
                        acked.lock().unwrap().push(nid);
                    }
                }
            }));
        }
        let (home, confirmed, stop_publishing) = (
            pub_home.clone(),
            Arc::clone(&confirmed_intents),
            Arc::clone(&stop),
        );
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop_publishing.load(Ordering::Relaxed) {
                if let Some(id) = publish(&home, &format!("round {round} extra {n}")) {
                    confirmed.lock().unwrap().push(id);
                }
                n += 1;
            }
        }));

        // Kill it mid-flight.
        std::thread::sleep(Duration::from_millis(60 + 60 * round as u64));
        publisher.0.kill().unwrap();
        publisher.0.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }

        // The store is consistent as the crash left it.
        let out = mesh(&pub_home, &["store", "check"]);
        assert!(
            out.status.success(),
            "round {round}: {}{}",
            stdout(&out),
            stderr(&out)
        );

        // After a restart, everything acknowledged is there.
        publisher = start_publisher(&pub_home, &boot);
        let intents = ids(
            &json(&pub_home, &["intents", "list", "--json", "--limit", "1000"]),
            "id",
        );
        for id in confirmed_intents.lock().unwrap().iter() {
            assert!(
                intents.contains(id),
                "round {round}: published intent {id} lost"
            );
        }
        let negotiations = json(&pub_home, &["negotiations", "list", "--json"]);
        let held = ids(&negotiations, "negotiation_id");
        let acked = acknowledged.lock().unwrap().clone();
        for nid in &acked {
            assert!(
                held.contains(nid),
                "round {round}: acknowledged offer {nid} lost"
            );
        }
        assert!(
            negotiations
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["messages"].as_u64() >= Some(1)),
            "{negotiations}"
        );
        eprintln!(
            "round {round}: {} intents and {} offers acknowledged so far, all present",
            confirmed_intents.lock().unwrap().len(),
            acked.len()
        );
    }
    assert!(
        !acknowledged.lock().unwrap().is_empty(),
        "the load never got an offer through"
    );
}
