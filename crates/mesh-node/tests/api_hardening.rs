//! The local API against a hostile neighbour, on a real node: strangers have their own small
//! budget, every route but the bare health check needs the token, a `Host` that is not
//! loopback is refused everywhere (DNS rebinding), and event streams are capped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mesh_node::{Home, Node, NodeConfig};
use reqwest::header::HOST;
use serde_json::{Value, json};

fn config(dir: &std::path::Path) -> NodeConfig {
    let mut config = NodeConfig::new(Home::new(dir)).with_api(([127, 0, 0, 1], 0).into());
    config.net.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.net.mdns = false;
    config
}

fn base(node: &Node) -> String {
    format!("http://{}", node.api_addr().unwrap())
}

fn token(node: &Node) -> String {
    node.home().token().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_without_the_token_never_makes_the_owners_calls_429() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    // The owner's budget is small: ten at once, then one every ten seconds. A flood that drew
    // on it would leave nothing for the owner.
    config.api_rate = mesh_net::Rate {
        per_second: 0.1,
        burst: 10.0,
    };
    let node = Node::start(config).await.expect("node starts");
    let http = reqwest::Client::new();
    let url = base(&node);

    let mut refusals = Vec::new();
    for _ in 0..200 {
        let res = http.get(format!("{url}/v1/health")).send().await.unwrap();
        if res.status() == 429 {
            refusals.push(res.json::<Value>().await.unwrap());
        }
    }
    for path in ["/v1/info", "/v1/health", "/v1/peers"] {
        let res = http
            .get(format!("{url}{path}"))
            .bearer_auth(token(&node))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "the owner's {path} after a stranger's flood"
        );
    }
    assert!(
        !refusals.is_empty(),
        "strangers have a budget of their own, and 200 at once exceed it"
    );
    for body in &refusals {
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("api-token"), "{message}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_the_bare_health_check_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(config(dir.path())).await.expect("node starts");
    let http = reqwest::Client::new();
    let url = base(&node);

    for path in [
        "/metrics",
        "/openapi.json",
        "/v1/info",
        "/v1/intents",
        "/v1/intents/stream",
        "/v1/negotiations/stream",
        "/nope",
    ] {
        for auth in [None, Some("wrong")] {
            let mut req = http.get(format!("{url}{path}"));
            if let Some(t) = auth {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{path} with {auth:?}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{path}: {body}");
        }
    }
    // With the token they answer.
    let metrics = http
        .get(format!("{url}/metrics"))
        .bearer_auth(token(&node))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("mesh_"));
    let doc = http
        .get(format!("{url}/openapi.json"))
        .bearer_auth(token(&node))
        .send()
        .await
        .unwrap();
    assert_eq!(doc.status(), 200);
    let doc: Value = doc.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // The document says which paths need no token: the health check alone.
    let open: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, ops)| ops["get"]["security"] == json!([]))
        .map(|(path, _)| path.as_str())
        .collect();
    assert_eq!(open, ["/v1/health"]);

    // The bare health check tells a stranger that the node is alive, and nothing else.
    let res = http.get(format!("{url}/v1/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_is_not_loopback_is_refused_on_every_route_even_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(config(dir.path())).await.expect("node starts");
    let http = reqwest::Client::new();
    let url = base(&node);
    let port = node.api_addr().unwrap().port();

    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
        format!("10.0.0.1:{port}"),
    ] {
        for path in [
            "/v1/health",
            "/v1/info",
            "/metrics",
            "/openapi.json",
            "/nope",
        ] {
            let res = http
                .get(format!("{url}{path}"))
                .header(HOST, &host)
                .bearer_auth(token(&node))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 403, "{path} for Host {host}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "host_not_allowed", "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&host) && message.contains("127.0.0.1"),
                "{message}"
            );
        }
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let res = http
            .get(format!("{url}/v1/info"))
            .header(HOST, &host)
            .bearer_auth(token(&node))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "Host {host}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_past_the_cap_are_refused_clearly_and_a_closed_one_frees_its_slot() {
    const CAP: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.api_max_streams = CAP;
    let node = Node::start(config).await.expect("node starts");
    let http = reqwest::Client::new();
    let url = base(&node);
    let auth = token(&node);
    let open = |path: &'static str| {
        let req = http.get(format!("{url}{path}")).bearer_auth(&auth);
        async move { req.send().await.unwrap() }
    };

    let mut streams = Vec::new();
    for i in 0..CAP {
        let path = if i % 2 == 0 {
            "/v1/intents/stream"
        } else {
            "/v1/negotiations/stream"
        };
        let res = open(path).await;
        assert_eq!(res.status(), 200, "stream {i}");
        streams.push(res);
    }
    for path in ["/v1/intents/stream", "/v1/negotiations/stream"] {
        let res = open(path).await;
        assert_eq!(res.status(), 503, "{path} past the cap");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_many_streams", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&CAP.to_string()) && message.contains("close"),
            "{message}"
        );
    }
    // Short requests still pass while every stream slot is taken.
    let res = open("/v1/info").await;
    assert_eq!(res.status(), 200);

    // Closing the streams gives their slots back: new streams open again.
    drop(streams);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut reopened = Vec::new();
    while reopened.len() < CAP {
        let res = open("/v1/negotiations/stream").await;
        if res.status() == 200 {
            reopened.push(res);
            continue;
        }
        assert_eq!(res.status(), 503);
        assert!(
            Instant::now() < deadline,
            "closed streams never gave their slots back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(reopened);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_in_an_open_directory_keeps_its_home_and_store_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let set = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    set(&home, 0o755);
    let files = ["api", "api-token", "identity.key", "store.redb"];

    let node = Node::start(config(&home)).await.expect("node starts");
    assert_eq!(mode(&home), 0o700, "the home directory");
    for name in files {
        assert_eq!(mode(&home.join(name)), 0o600, "{name}");
    }
    node.shutdown().await;

    // Opened up since, by hand or by an earlier version: the next start closes them again.
    set(&home, 0o755);
    set(&home.join("store.redb"), 0o644);
    let node = Node::start(config(&home)).await.expect("node starts again");
    assert_eq!(mode(&home), 0o700, "the home directory");
    for name in files {
        assert_eq!(mode(&home.join(name)), 0o600, "{name}");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_api_address_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for home in [&fresh, &empty] {
        let mut config = config(home);
        config.api = Some(([0, 0, 0, 0], 0).into());
        let err = Node::start(config).await.unwrap_err();
        assert!(
            matches!(err, mesh_node::NodeError::ApiNotLoopback(_)),
            "{err}"
        );
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
    }
    assert!(!fresh.exists(), "no home is created");
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "nothing written"
    );
}
