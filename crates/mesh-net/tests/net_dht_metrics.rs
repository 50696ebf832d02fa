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
    // Every discovery that held an agent timed its first one, within the query's deadline;
    // `discover_until` may have asked more than once before the provider's record arrived.
    let timed = seeker.metric("mesh_discovery_first_agent_seconds_count");
    let served = seeker.metric(r#"mesh_discovery_queries_total{result="ok"}"#);
    assert!(
        timed >= 1.0 && timed <= served,
        "{timed} first agents timed for {served} discoveries answered"
    );
    let seconds = seeker.metric("mesh_discovery_first_agent_seconds_sum");
    assert!(
        seconds > 0.0 && seconds < 15.0 * timed,
        "{seconds} s to the first agent over {timed} discoveries"
    );
    // Nothing is counted for a purpose the seeker never had.
    assert_eq!(
        seeker.metric(r#"mesh_dht_queries_total{kind="providers",purpose="find_peer"}"#),
        0.0
    );
}

/// What a node holds for the DHT: the seeker, one of the provider's two peers, stores the
/// provider record and the agent record the provider put, and nothing for a capability nobody
/// offers or an agent it never heard of; its routing table holds the provider.
#[tokio::test]
async fn a_node_reports_the_records_it_holds_for_the_dht() {
    common::init_tracing();
    let provider = common::start(&["rare-skill"], None).await;
    let seeker = common::start(&["other"], Some(&provider.addr)).await;
    common::discover_until(&seeker.handle, &["rare-skill"], 1).await;
    let rare = mesh_core::Capability::new("rare-skill").unwrap();
    let stranger = libp2p::PeerId::random();
    let provider_id = provider.handle.peer_id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let held = seeker
            .handle
            .held_by_dht(rare.clone(), vec![provider_id, stranger])
            .await
            .unwrap();
        if held.providers == vec![provider_id] && held.agent_records == vec![provider_id] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the seeker never held the provider's records: {held:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let nobody = mesh_core::Capability::new("nobody-offers-this").unwrap();
    let held = seeker
        .handle
        .held_by_dht(nobody, vec![stranger])
        .await
        .unwrap();
    assert!(
        held.providers.is_empty() && held.agent_records.is_empty(),
        "{held:?}"
    );
    assert_eq!(
        held.routing_table,
        vec![provider_id],
        "the seeker's routing table holds its one peer, the provider"
    );
    // A lookup from the seeker ends on the one other node there is.
    let ended_on = seeker
        .handle
        .closest_peers(rare.provider_key())
        .await
        .unwrap();
    assert_eq!(ended_on, vec![provider_id]);
}
