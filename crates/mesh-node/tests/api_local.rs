//! The local API of a real node: auth, errors, OpenAPI, metrics, publish and the SSE stream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures::StreamExt;
use mesh_core::Capability;
use mesh_node::{Home, Node, NodeConfig};
use serde_json::{Value, json};

async fn start(dir: &std::path::Path, caps: &[&str], bootstrap: Option<String>) -> Node {
    let mut config = NodeConfig::new(Home::new(dir)).with_api(([127, 0, 0, 1], 0).into());
    config.net.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.net.mdns = false;
    config.net.capabilities = caps.iter().map(|c| Capability::new(*c).unwrap()).collect();
    config.net.bootstrap = bootstrap.into_iter().map(|b| b.parse().unwrap()).collect();
    Node::start(config).await.expect("node starts")
}

fn base(node: &Node) -> String {
    format!("http://{}", node.api_addr().unwrap())
}

fn token(node: &Node) -> String {
    node.home().token().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_guards_validates_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &["text-generation"], None).await;
    let http = reqwest::Client::new();
    let url = base(&node);

    // The address file holds the URL while the node runs.
    assert_eq!(node.home().read_api().unwrap(), url);

    // No token, wrong token.
    for auth in [None, Some("wrong")] {
        let mut req = http.get(format!("{url}/v1/info"));
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("api-token")
        );
    }

    // Info with the token.
    let info: Value = http
        .get(format!("{url}/v1/info"))
        .bearer_auth(token(&node))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["peer_id"], node.handle().peer_id().to_string());
    assert_eq!(info["capabilities"][0], "text-generation");

    // Bad input: invalid capability, missing fields, oversize body, unknown path.
    let res = http
        .post(format!("{url}/v1/intents"))
        .bearer_auth(token(&node))
        .json(&json!({"capabilities": ["Not Valid"], "title": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_capability");
    let res = http
        .post(format!("{url}/v1/intents"))
        .bearer_auth(token(&node))
        .json(&json!({"title": "no capabilities field"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "bad_json"
    );
    let res = http
        .post(format!("{url}/v1/intents"))
        .bearer_auth(token(&node))
        .json(&json!({"capabilities": ["a"], "title": "x", "description": "y".repeat(300 * 1024)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let res = http
        .get(format!("{url}/v1/agents?capabilities=UPPER"))
        .bearer_auth(token(&node))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = http
        .get(format!("{url}/v1/agents"))
        .bearer_auth(token(&node))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "a discovery needs a capability");
    let res = http
        .get(format!("{url}/nope"))
        .bearer_auth(token(&node))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // OpenAPI and metrics need the token, like every route but the health check.
    let doc: Value = http
        .get(format!("{url}/openapi.json"))
        .bearer_auth(token(&node))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/intents/stream"].is_object());
    let metrics = http
        .get(format!("{url}/metrics"))
        .bearer_auth(token(&node))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("mesh_intents_published"), "{metrics}");
    assert!(
        metrics.contains("libp2p_"),
        "libp2p's metrics are served too"
    );

    node.shutdown().await;
    assert!(
        Home::new(dir.path()).read_api().is_none(),
        "api file removed on clean exit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_intent_arrives_on_the_other_nodes_event_stream() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let hub = start(dirs[0].path(), &[], None).await;
    let hub_addr = loop {
        let info = hub.handle().info().await.unwrap();
        if let Some(a) = info.listen_addrs.first() {
            break a.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let agent = start(dirs[1].path(), &["text-generation"], Some(hub_addr.clone())).await;
    let publisher = start(dirs[2].path(), &[], Some(hub_addr)).await;
    let http = reqwest::Client::new();

    let stream = http
        .get(format!(
            "{}/v1/intents/stream?capabilities=text-generation",
            base(&agent)
        ))
        .bearer_auth(token(&agent))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = stream.bytes_stream();

    // Wait until the publisher can discover the agent, then publish through the API.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let agents: Value = http
            .get(format!(
                "{}/v1/agents?capabilities=text-generation",
                base(&publisher)
            ))
            .bearer_auth(token(&publisher))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if agents.as_array().is_some_and(|a| !a.is_empty()) {
            assert_eq!(agents[0]["peer_id"], agent.handle().peer_id().to_string());
            break;
        }
        assert!(Instant::now() < deadline, "agent never discovered");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let res = http
        .post(format!("{}/v1/intents", base(&publisher)))
        .bearer_auth(token(&publisher))
        .json(&json!({
            "capabilities": ["text-generation"],
            "title": "Summarise this PDF",
            "budget": {"amount": "2", "currency": "USD"},
            "payload": {"content_type": "text/plain", "data_base64": "aGVsbG8="},
            "ttl_secs": 600
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let outcome: Value = res.json().await.unwrap();
    let id = outcome["id"].as_str().unwrap().to_owned();

    let mut text = String::new();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if text.contains(&id) && text.contains("\n\n") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(found, "SSE stream never showed {id}: {text}");
    assert!(text.contains("event: intent"), "{text}");
    // The SSE id is the event's sequence number in the node's event log.
    let seq = text
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .expect("an id line");
    assert!(seq.parse::<u64>().is_ok_and(|s| s > 0), "{text}");
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let view: Value = serde_json::from_str(data).unwrap();
    assert_eq!(view["title"], "Summarise this PDF");
    assert_eq!(view["payload"]["data_base64"], "aGVsbG8=");
    assert_eq!(view["publisher"], publisher.handle().peer_id().to_string());

    for n in [publisher, agent, hub] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intent_lifecycle_endpoints_list_cancel_and_refuse_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[], None).await;
    let http = reqwest::Client::new();
    let url = base(&node);
    let auth = token(&node);
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = http
            .request(method, format!("{url}{path}"))
            .bearer_auth(&auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    use reqwest::Method;

    let (status, published) = call(
        Method::POST,
        "/v1/intents",
        Some(json!({"capabilities": ["data-analysis"], "title": "Cluster logs", "ttl_secs": 600})),
    )
    .await;
    assert_eq!(status, 201);
    let id = published["id"].as_str().unwrap().to_owned();

    let (status, list) = call(Method::GET, "/v1/intents", None).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["own"], true);
    assert_eq!(list[0]["status"], "open");
    let (status, one) = call(Method::GET, &format!("/v1/intents/{id}"), None).await;
    assert_eq!((status, one["title"].as_str()), (200, Some("Cluster logs")));

    // A body that is not what the endpoint takes gets the JSON error shape too.
    let (status, err) = call(
        Method::POST,
        "/v1/negotiations/offer",
        Some(json!({"intent_id": id})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("bad_json"))
    );
    assert!(
        err["error"]["message"].as_str().unwrap().contains("amount"),
        "{err}"
    );
    let res = http
        .post(format!("{url}/v1/load"))
        .bearer_auth(&auth)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405, "PUT only");
    let res = http
        .put(format!("{url}/v1/load"))
        .bearer_auth(&auth)
        .body("{\"load\": 0.5}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "unsupported_media_type");

    let (status, offers) = call(Method::GET, &format!("/v1/intents/{id}/offers"), None).await;
    assert_eq!((status, offers), (200, json!([])));

    // Steering the node: advertised load and dialling, with clear refusals.
    let (status, _) = call(Method::PUT, "/v1/load", Some(json!({"load": 0.5}))).await;
    assert_eq!(status, 204);
    let (status, err) = call(Method::PUT, "/v1/load", Some(json!({"load": 1.5}))).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_load"))
    );
    let (status, err) = call(
        Method::POST,
        "/v1/peers",
        Some(json!({"address": "nowhere"})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_multiaddr"))
    );

    // Awarding with no offers accepts nothing and leaves the intent open.
    let (status, outcome) = call(Method::POST, &format!("/v1/intents/{id}/award"), None).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["offers"], 0);
    assert!(outcome.get("accepted").is_none());

    let (status, cancelled) = call(
        Method::POST,
        &format!("/v1/intents/{id}/cancel"),
        Some(json!({"reason": "no longer needed"})),
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["withdrawn"], 0);
    let (_, one) = call(Method::GET, &format!("/v1/intents/{id}"), None).await;
    assert_eq!(one["status"], "cancelled");
    assert_eq!(one["cancel_reason"], "no longer needed");

    // Clear refusals: twice, award after cancel, bad id, unknown id, bad award settings.
    let (status, err) = call(Method::POST, &format!("/v1/intents/{id}/cancel"), None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("cannot_cancel"))
    );
    let (status, err) = call(Method::POST, &format!("/v1/intents/{id}/award"), None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("intent_closed"))
    );
    let (status, err) = call(Method::GET, "/v1/intents/xyz", None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_intent_id"))
    );
    let unknown = "ab".repeat(32);
    let (status, err) = call(Method::POST, &format!("/v1/intents/{unknown}/cancel"), None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("unknown_intent"))
    );
    let (status, err) = call(
        Method::POST,
        &format!("/v1/intents/{id}/award"),
        Some(json!({"window_ms": 3_600_000})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_award"))
    );
    let (status, err) = call(
        Method::POST,
        &format!("/v1/intents/{id}/award"),
        Some(json!({"counter_at": {"amount": "one", "currency": "USD"}})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_price"))
    );

    // The negotiation event stream is served.
    let res = http
        .get(format!("{url}/v1/negotiations/stream"))
        .bearer_auth(&auth)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    drop(res);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_api_rate_get_429_with_the_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(Home::new(dir.path())).with_api(([127, 0, 0, 1], 0).into());
    config.net.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.net.mdns = false;
    // Five at once, then one every ten seconds: nothing comes back while the test runs.
    config.api_rate = mesh_net::Rate {
        per_second: 0.1,
        burst: 5.0,
    };
    let node = Node::start(config).await.expect("node starts");
    let client = reqwest::Client::new();
    let url = format!("{}/v1/health", base(&node));
    let auth = token(&node);
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let res = client.get(&url).bearer_auth(&auth).send().await.unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses[..5], [200; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 3], "{statuses:?}");
    let body: Value = client
        .get(&url)
        .bearer_auth(&auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("retry"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reputation_endpoint_answers_for_any_peer_and_refuses_a_bad_id() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), &[], None).await;
    let http = reqwest::Client::new();
    let url = base(&node);

    // A peer this node knows nothing of is neutral, and no receipt names it.
    let stranger = libp2p::PeerId::random().to_string();
    let res = http
        .get(format!("{url}/v1/peers/{stranger}/reputation"))
        .bearer_auth(token(&node))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["peer_id"], stranger.as_str(), "{view}");
    assert_eq!(view["reputation"], 0.5, "{view}");
    assert_eq!(view["receipts_score"], 0.5, "{view}");
    assert_eq!(view["local_score"], 0.5, "{view}");
    assert_eq!(view["global_trust"], 0.0, "{view}");
    assert_eq!(view["positive_evidence"], 0.0, "{view}");
    assert_eq!(view["negative_evidence"], 0.0, "{view}");
    assert_eq!(view["known"], false, "{view}");
    assert!(view["computed_at_ms"].is_u64(), "{view}");
    // The served document describes every field the endpoint returns, all required.
    let doc: Value = http
        .get(format!("{url}/openapi.json"))
        .bearer_auth(token(&node))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema = &doc["components"]["schemas"]["ReputationView"];
    let mut required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut fields: Vec<&str> = view
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    required.sort_unstable();
    fields.sort_unstable();
    assert_eq!(required, fields);
    assert_eq!(
        doc["paths"]["/v1/peers/{peer_id}/reputation"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/ReputationView"
    );

    // A malformed id is a 400 with a stable code and a message that says what to use.
    for bad in ["not-a-peer-id", "12D3KooW", "0000"] {
        let res = http
            .get(format!("{url}/v1/peers/{bad}/reputation"))
            .bearer_auth(token(&node))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_peer_id", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(bad), "{message}");
        assert!(message.contains("mesh peers"), "{message}");
    }

    // Behind the token like every /v1 endpoint.
    let res = http
        .get(format!("{url}/v1/peers/{stranger}/reputation"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    node.shutdown().await;
}
