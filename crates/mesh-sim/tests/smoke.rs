//! A small propagation run: it completes and every subscriber gets every intent (never timed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mesh_sim::propagation::{Params, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_nodes_deliver_every_intent() {
    let params = Params {
        nodes: 30,
        latency: Duration::from_millis(5),
        intents: 3,
        ..Params::default()
    };
    let report = run(&params).await.unwrap();
    assert_eq!(report.subscribers, 29);
    assert_eq!(report.delivery_ratio, 1.0, "{report:?}");
    assert!(report.eccentricity >= 1);
    assert!(report.intents.iter().all(|i| i.t100_ms.is_some()));
}
