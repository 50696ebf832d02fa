//! Small runs of every scenario: each completes and delivers (never timed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mesh_sim::clock::Clock;
use mesh_sim::{churn, discovery, flash, negotiation, propagation, suite};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    Clock::Virtual.runtime().unwrap().block_on(f)
}

#[test]
fn thirty_nodes_deliver_every_intent() {
    let params = propagation::Params {
        nodes: 30,
        intents: 3,
        ..propagation::Params::default()
    };
    let report = block_on(propagation::run(&params)).unwrap();
    assert_eq!(report.subscribers, 29);
    assert_eq!(report.delivery_ratio, 1.0, "{report:?}");
    assert_eq!(
        report.gossip_reach, 29,
        "gossip paths reach everyone: {report:?}"
    );
    assert!(report.gossip_hops >= 1);
    assert!(report.intents.iter().all(|i| i.t100_ms.is_some()));
    // The physical limit comes from the connection graph, which the gossip paths ride on: it
    // is never further than they are, and no delivery beats it.
    assert!(report.connection_hops >= 1);
    assert!(report.connection_hops <= report.gossip_hops, "{report:?}");
    assert!(report.connection_ideal_ms > 0.0);
    let to_limit = report
        .t100_over_connection_ideal
        .expect("every intent reached everyone");
    assert!(to_limit >= 1.0, "faster than physics: {report:?}");
    let copies = report
        .copies_per_delivery
        .expect("gossipsub counted receipts");
    assert!(copies >= 1.0, "{copies}");
    // A signed intent with a short description and one capability: a key, a signature and a
    // few fields, a few hundred bytes.
    let intent_bytes = report
        .intent_bytes
        .expect("gossipsub counted the intents' bytes");
    assert!((150.0..1_000.0).contains(&intent_bytes), "{report:?}");
    // Every copy a subscriber received, some node sent: the bytes on the links are at least
    // the copies' own.
    let received = copies * intent_bytes * report.subscribers as f64 / report.nodes as f64;
    assert!(
        report.bytes_per_node_per_intent >= received,
        "{} bytes sent per node per intent, {received} received: {report:?}",
        report.bytes_per_node_per_intent
    );
    assert!(report.intent_cost_over_intent_bytes.is_some(), "{report:?}");
}

#[test]
fn discovery_finds_every_provider() {
    let params = discovery::Params {
        nodes: 24,
        providers: 3,
        queries: 4,
        settle: Duration::from_secs(12),
        ..discovery::Params::default()
    };
    let report = block_on(discovery::run(&params)).unwrap();
    assert_eq!(report.queries.len(), 4);
    assert_eq!(report.success_ratio, 1.0, "{report:?}");
    assert_eq!(report.complete_ratio, 1.0, "{report:?}");
}

#[test]
fn every_negotiation_reaches_its_receipt() {
    let params = negotiation::Params {
        nodes: 16,
        publishers: 2,
        intents_per_publisher: 2,
        // Every agent bids, so every intent has offers.
        bidders: 15,
        window: Duration::from_millis(500),
        settle: Duration::from_secs(8),
        ..negotiation::Params::default()
    };
    let report = block_on(negotiation::run(&params)).unwrap();
    assert_eq!(report.completed, 4, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.offers >= 4 * 14, "{report:?}");
    assert_eq!(report.publish_to_receipt_ms.len(), 4);
}

#[test]
fn intents_reach_the_nodes_that_stay_while_others_churn() {
    let params = churn::Params {
        nodes: 20,
        churn_per_minute: 0.3,
        duration: Duration::from_secs(30),
        settle: Duration::from_secs(5),
        ..churn::Params::default()
    };
    let report = block_on(churn::run(&params)).unwrap();
    assert!(report.replaced >= 2, "{report:?}");
    assert!(report.intents >= 20, "{report:?}");
    assert!(report.expected > 0);
    assert!(report.delivery_ratio >= 0.95, "{report:?}");
}

#[test]
fn attackers_that_stop_forwarding_fall_below_zero_while_every_intent_arrives() {
    let params = flash::Params {
        nodes: 20,
        attackers: 4,
        attacker_links: 5,
        behave: Duration::from_secs(8),
        flash: Duration::from_secs(15),
        settle: Duration::from_secs(5),
        ..flash::Params::default()
    };
    let report = block_on(flash::run(&params)).unwrap();
    assert!(report.judges > 0, "no attacker got into a mesh: {report:?}");
    assert_eq!(report.behaved.delivery_ratio, 1.0, "{report:?}");
    assert_eq!(report.flashed.delivery_ratio, 1.0, "{report:?}");
    assert_eq!(
        report.judges_fallen, report.judges,
        "an honest node still scores its attacker at 0 or more: {report:?}"
    );
    assert!(
        report.slowest_fall_heartbeats.is_some_and(|h| h <= 60.0),
        "{report:?}"
    );
    assert_eq!(report.honest_scored_below_zero, 0, "{report:?}");
}

#[test]
fn the_suite_reads_back_the_parts_it_saved_and_refuses_parts_of_other_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mut params = suite::Params::at(12, dir.path().to_path_buf());
    params.degrees = vec![4];
    params.intents = 2;
    params.churn_duration = Duration::from_secs(10);
    let measured = block_on(suite::run(&params))
        .unwrap()
        .expect("every part measured");
    assert_eq!(measured.propagation.delivery_ratio, 1.0, "{measured:?}");
    let report_md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(dir.path().join("churn.svg").exists());

    // Nothing measured: every part read from the directory, the same report again.
    params.parts = Vec::new();
    let read = block_on(suite::run(&params))
        .unwrap()
        .expect("every part saved");
    assert_eq!(suite::markdown(&read), report_md);

    // A part measured with another seed is refused, not mixed into this report.
    let mut other_seed = params.clone();
    other_seed.seed += 1;
    let err = block_on(suite::run(&other_seed)).unwrap_err().to_string();
    assert!(err.contains("other settings"), "{err}");

    // A part that is missing leaves no report, and says so.
    std::fs::remove_file(dir.path().join("churn.json")).unwrap();
    std::fs::remove_file(dir.path().join("report.md")).unwrap();
    assert!(block_on(suite::run(&params)).unwrap().is_none());
    assert!(!dir.path().join("report.md").exists());

    // --resume measures only what is missing.
    params.parts = suite::Part::ALL.to_vec();
    params.resume = true;
    let resumed = block_on(suite::run(&params))
        .unwrap()
        .expect("churn measured again");
    assert_eq!(resumed.propagation.intents.len(), 2);
    assert_eq!(resumed.churn.nodes, 12);
    assert!(dir.path().join("report.md").exists());
}
