//! MESH counts each finished DHT query once, by kind and purpose, where libp2p's histogram
//! records every progress step of a query. Two real nodes on loopback TCP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[tokio::test]
async fn a_discovery_counts_its_provider_lookup_once() {
    common::init_tracing();
    let provider = common::start(&["rare-skill"], None).await;
    let seeker = common::start(&["other"], Some(&provider.addr)).await;
    let found = common::discover_until(&seeker.handle, &["rare-skill"], 1).await;
    assert_eq!(found.len(), 1, "{found:?}");
    // The lookup may end a little after the answer: wait for its count.
    let series = r#"mesh_dht_queries_total{kind="providers",purpose="discovery"}"#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while seeker.metric(series) < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no finished discovery lookup counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ours = seeker.metric(series);
    let steps = seeker.metric(r#"libp2p_kad_query_result_num_requests_count{type="GetProviders"}"#);
    assert!(
        steps >= ours,
        "libp2p records each step ({steps}), MESH each finished lookup ({ours})"
    );
    let requests =
        seeker.metric(r#"mesh_dht_query_requests_total{kind="providers",purpose="discovery"}"#);
    assert!(
        requests >= ours,
        "every lookup sent a request: {requests} for {ours}"
    );
    // Nothing is counted for a purpose the seeker never had.
    assert_eq!(
        seeker.metric(r#"mesh_dht_queries_total{kind="providers",purpose="find_peer"}"#),
        0.0
    );
}
