//! A small propagation run: it completes and every subscriber gets every intent (never timed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mesh_sim::clock::Clock;
use mesh_sim::propagation::{Params, run};

#[test]
fn thirty_nodes_deliver_every_intent() {
    let params = Params {
        nodes: 30,
        intents: 3,
        ..Params::default()
    };
    let report = Clock::Virtual
        .runtime()
        .unwrap()
        .block_on(run(&params))
        .unwrap();
    assert_eq!(report.subscribers, 29);
    assert_eq!(report.delivery_ratio, 1.0, "{report:?}");
    assert_eq!(
        report.gossip_reach, 29,
        "gossip paths reach everyone: {report:?}"
    );
    assert!(report.gossip_hops >= 1);
    assert!(report.intents.iter().all(|i| i.t100_ms.is_some()));
    let copies = report
        .copies_per_delivery
        .expect("gossipsub counted receipts");
    assert!(copies >= 1.0, "{copies}");
    assert!(report.bytes_per_node_per_intent > 0.0);
}
