//! Resumable event streams of the local API, on real nodes over loopback: a client that
//! reconnects with `Last-Event-ID` (or `last_event_id`) gets exactly the events it missed, in
//! order, then live ones, none twice, and the log outlives a restart of the node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::Path;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use mesh_core::negotiation::{Eta, Price, Proposal};
use mesh_core::{Capability, Intent, IntentId};
use mesh_net::AgentQuery;
use mesh_node::{Home, Node, NodeConfig};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

async fn start(dir: &Path, caps: &[&str], bootstrap: Option<&str>) -> Node {
    let mut config = NodeConfig::new(Home::new(dir)).with_api(([127, 0, 0, 1], 0).into());
    config.net.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.net.mdns = false;
    config.net.capabilities = caps.iter().map(|c| Capability::new(*c).unwrap()).collect();
    config.net.bootstrap = bootstrap.into_iter().map(|b| b.parse().unwrap()).collect();
    Node::start(config).await.expect("node starts")
}

async fn listen_addr(node: &Node) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let info = node.handle().info().await.unwrap();
        if let Some(a) = info.listen_addrs.first() {
            return a.clone();
        }
        assert!(Instant::now() < deadline, "no listen address");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An agent offering `text-generation` and a publisher that has discovered it.
async fn pair(agent_dir: &Path, publisher_dir: &Path) -> (Node, Node) {
    let publisher = start(publisher_dir, &[], None).await;
    let addr = listen_addr(&publisher).await;
    let agent = start(agent_dir, &["text-generation"], Some(&addr)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = publisher
            .handle()
            .discover_agents(AgentQuery::new().capabilities(["text-generation"]))
            .await
            .unwrap();
        if !found.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "agent never discovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (agent, publisher)
}

async fn publish(publisher: &Node, title: &str) -> IntentId {
    let outcome = publisher
        .handle()
        .publish_intent(
            &Intent::new(title)
                .capabilities(["text-generation"])
                .ttl(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    outcome.id.parse().unwrap()
}

/// Waits until the node's event log reaches `seq`.
async fn recorded(node: &Node, seq: u64) {
    let deadline = Instant::now() + WAIT;
    while node.store().last_event_seq().unwrap() < seq {
        assert!(Instant::now() < deadline, "the log never reached {seq}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Debug, Clone)]
struct Received {
    event: String,
    id: u64,
    data: Value,
}

/// A Server-Sent Events client that keeps the fields other than events for inspection.
struct Client {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>,
    buffer: String,
    retry: Option<String>,
    comments: Vec<String>,
}

impl Client {
    async fn open(node: &Node, path: &str, last_event_id: Option<u64>) -> Client {
        let mut request = reqwest::Client::new()
            .get(format!("http://{}{path}", node.api_addr().unwrap()))
            .bearer_auth(node.home().token().unwrap());
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        Client {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
            retry: None,
            comments: Vec::new(),
        }
    }

    /// The next event (fields other than events are kept aside), or `None` if none came
    /// within `wait`.
    async fn next_within(&mut self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::new(), None, None);
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        self.comments.push(c.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("retry: ") {
                        self.retry = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.parse::<u64>().expect("decimal id"));
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).expect("JSON data"));
                    }
                }
                if let Some(data) = data {
                    return Some(Received {
                        event,
                        id: id.expect("every event has an id"),
                        data,
                    });
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next()).await;
            match chunk {
                Ok(Some(chunk)) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(&chunk.unwrap())),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    async fn next(&mut self) -> Received {
        self.next_within(WAIT).await.expect("an event within 30 s")
    }
}

fn titles(events: &[Received]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.data["title"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_increasing(events: &[Received]) {
    assert!(
        events.windows(2).all(|w| w[0].id < w[1].id),
        "ids not strictly increasing: {:?}",
        events.iter().map(|e| e.id).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intent_stream_resumes_with_exactly_the_missed_events() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (agent, publisher) = pair(dirs[0].path(), dirs[1].path()).await;
    let path = "/v1/intents/stream?capabilities=text-generation";

    let mut seen = Vec::new();
    let mut client = Client::open(&agent, path, None).await;
    for title in ["one", "two", "three"] {
        publish(&publisher, title).await;
    }
    for _ in 0..3 {
        seen.push(client.next().await);
    }
    assert_eq!(client.retry.as_deref(), Some("2000"));
    assert_eq!(titles(&seen), ["one", "two", "three"]);
    assert!(seen.iter().all(|e| e.event == "intent"));
    assert_eq!(
        seen[0].data["received_from"],
        publisher.handle().peer_id().to_string()
    );
    assert!(seen[0].data["received_at_ms"].as_u64().unwrap() > 0);
    let last_seen = seen[2].id;
    drop(client);

    // Three more while the client is away, all recorded before it comes back.
    for title in ["four", "five", "six"] {
        publish(&publisher, title).await;
    }
    recorded(&agent, last_seen + 3).await;

    let mut client = Client::open(&agent, path, Some(last_seen)).await;
    let mut resumed = Vec::new();
    for _ in 0..3 {
        resumed.push(client.next().await);
    }
    assert_eq!(titles(&resumed), ["four", "five", "six"]);
    // Then live ones.
    for title in ["seven", "eight"] {
        publish(&publisher, title).await;
    }
    for _ in 0..2 {
        resumed.push(client.next().await);
    }
    assert_eq!(titles(&resumed), ["four", "five", "six", "seven", "eight"]);
    assert!(
        client
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "nothing more, no duplicate"
    );
    seen.extend(resumed);
    assert_increasing(&seen);
    let ids: HashSet<_> = seen.iter().map(|e| e.data["id"].clone()).collect();
    assert_eq!(ids.len(), 8, "every intent once");
    drop(client);

    // The query parameter works as the header, for clients that cannot set headers.
    let mut client = Client::open(
        &agent,
        &format!("{path}&last_event_id={}", seen[0].id),
        None,
    )
    .await;
    let mut replayed = Vec::new();
    for _ in 0..7 {
        replayed.push(client.next().await);
    }
    assert_eq!(
        titles(&replayed),
        ["two", "three", "four", "five", "six", "seven", "eight"]
    );
    assert_eq!(
        replayed.iter().map(|e| e.id).collect::<Vec<_>>(),
        seen[1..].iter().map(|e| e.id).collect::<Vec<_>>()
    );
    drop(client);

    // An id ahead of the log: live events only, and a comment says why.
    let ahead = agent.store().last_event_seq().unwrap() + 1000;
    let mut client = Client::open(&agent, path, Some(ahead)).await;
    publish(&publisher, "nine").await;
    let live = client.next().await;
    assert_eq!(live.data["title"], "nine");
    assert!(
        client
            .comments
            .iter()
            .any(|c| c.contains("ahead of the log")),
        "{:?}",
        client.comments
    );
    drop(client);

    // A malformed query parameter is refused; a malformed header is ignored.
    let http = reqwest::Client::new();
    let res = http
        .get(format!(
            "http://{}/v1/intents/stream?last_event_id=abc",
            agent.api_addr().unwrap()
        ))
        .bearer_auth(agent.home().token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_last_event_id");
    let res = http
        .get(format!(
            "http://{}/v1/intents/stream",
            agent.api_addr().unwrap()
        ))
        .bearer_auth(agent.home().token().unwrap())
        .header("Last-Event-ID", "not-a-number")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(res);

    publisher.shutdown().await;
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation_stream_resumes_with_exactly_the_missed_events() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (agent, publisher) = pair(dirs[0].path(), dirs[1].path()).await;
    let mut intents = Vec::new();
    for i in 0..5 {
        intents.push(publish(&publisher, &format!("job {i}")).await);
    }
    // The agent holds every intent before bidding.
    for id in &intents {
        let deadline = Instant::now() + WAIT;
        while agent.handle().intent(*id).await.unwrap().is_none() {
            assert!(Instant::now() < deadline, "intent {id} never arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let proposal = || {
        Proposal::new(
            Price::new("2.00", "USD").unwrap(),
            Eta::Within(Duration::from_secs(600)),
        )
    };
    let path = "/v1/negotiations/stream";

    // The agent's own offers are negotiation events on its stream; its log also holds the
    // intents it received, which this stream leaves out.
    let mut client = Client::open(&agent, path, None).await;
    let mut seen = Vec::new();
    for id in &intents[..2] {
        agent.handle().offer(*id, proposal()).await.unwrap();
        seen.push(client.next().await);
    }
    let last_seen = seen[1].id;
    drop(client);

    for id in &intents[2..4] {
        agent.handle().offer(*id, proposal()).await.unwrap();
    }
    recorded(&agent, last_seen + 2).await;

    let mut client = Client::open(&agent, path, Some(last_seen)).await;
    for _ in 0..2 {
        seen.push(client.next().await);
    }
    agent.handle().offer(intents[4], proposal()).await.unwrap();
    seen.push(client.next().await);
    assert!(
        client
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "nothing more, no duplicate"
    );
    assert!(seen.iter().all(|e| e.event == "negotiation"));
    assert!(seen.iter().all(|e| e.data["kind"] == "offer"));
    assert_eq!(
        seen.iter()
            .map(|e| e.data["intent_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>(),
        intents.iter().map(|i| i.to_string()).collect::<Vec<_>>()
    );
    assert_increasing(&seen);

    publisher.shutdown().await;
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_reaches_intent_streams_as_an_intent_update() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (agent, publisher) = pair(dirs[0].path(), dirs[1].path()).await;
    let path = "/v1/intents/stream?capabilities=text-generation";
    let mut at_agent = Client::open(&agent, path, None).await;
    let mut at_publisher = Client::open(&publisher, path, None).await;

    let id = publish(&publisher, "soon cancelled").await;
    let intent = at_agent.next().await;
    assert_eq!(
        (intent.event.as_str(), &intent.data["id"]),
        ("intent", &json!(id.to_string()))
    );

    let res = reqwest::Client::new()
        .post(format!(
            "http://{}/v1/intents/{id}/cancel",
            publisher.api_addr().unwrap()
        ))
        .bearer_auth(publisher.home().token().unwrap())
        .json(&json!({"reason": "no longer needed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let expected = json!({
        "id": id.to_string(),
        "status": "cancelled",
        "reason": "no longer needed",
        "capabilities": ["text-generation"],
    });
    // On the agent, which received the intent; and on the publisher, whose own intent it is.
    let update = at_agent.next().await;
    assert_eq!(update.event, "intent_update");
    assert_eq!(update.data, expected);
    assert!(update.id > intent.id);
    let own = at_publisher.next().await;
    assert_eq!(own.event, "intent_update");
    assert_eq!(own.data, expected);
    drop((at_agent, at_publisher));

    // Both are in the log: a client resuming from before the intent gets both, in order.
    let mut client = Client::open(&agent, path, Some(intent.id - 1)).await;
    let first = client.next().await;
    let second = client.next().await;
    assert_eq!(
        (
            first.event.as_str(),
            first.id,
            second.event.as_str(),
            second.id
        ),
        ("intent", intent.id, "intent_update", update.id)
    );
    drop(client);

    publisher.shutdown().await;
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_survives_a_restart_and_old_ids_still_resume() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (agent, publisher) = pair(dirs[0].path(), dirs[1].path()).await;
    let publisher_addr = listen_addr(&publisher).await;
    let path = "/v1/intents/stream?capabilities=text-generation";

    let mut client = Client::open(&agent, path, None).await;
    publish(&publisher, "before one").await;
    publish(&publisher, "before two").await;
    let before = [client.next().await, client.next().await];
    assert_eq!(titles(&before), ["before one", "before two"]);
    drop(client);
    agent.shutdown().await;

    // The same home: the same store, the same log.
    let agent = start(dirs[0].path(), &["text-generation"], Some(&publisher_addr)).await;
    assert_eq!(agent.store().last_event_seq().unwrap(), before[1].id);
    let mut client = Client::open(&agent, path, Some(before[0].id)).await;
    let replayed = client.next().await;
    assert_eq!(
        (replayed.id, replayed.data["title"].as_str()),
        (before[1].id, Some("before two"))
    );

    // New events continue the numbering.
    publish(&publisher, "after").await;
    let after = client.next().await;
    assert_eq!(after.data["title"], "after");
    assert!(
        after.id > before[1].id,
        "{} after {}",
        after.id,
        before[1].id
    );
    assert!(
        client
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "nothing more, no duplicate"
    );
    drop(client);

    publisher.shutdown().await;
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_cursor_resumes_where_the_stream_stopped() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (agent, publisher) = pair(dirs[0].path(), dirs[1].path()).await;
    let path = "/v1/intents/stream?capabilities=text-generation&cursor=worker-1";

    // A named stream that has never run starts live.
    let mut client = Client::open(&agent, path, None).await;
    for title in ["one", "two"] {
        publish(&publisher, title).await;
    }
    let mut seen = vec![client.next().await, client.next().await];
    assert_eq!(titles(&seen), ["one", "two"]);
    drop(client);
    // The cursor holds the last event handed to a connection; let the node see this one close
    // before anything else is sent (an event in flight on a breaking connection is past the
    // cursor; clients that need every event exactly use Last-Event-ID).
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Away: the node remembers how far "worker-1" got, so a reconnect with no event id gets
    // exactly what it missed.
    publish(&publisher, "three").await;
    recorded(&agent, seen[1].id + 1).await;
    let mut client = Client::open(&agent, path, None).await;
    let missed = client.next().await;
    assert_eq!(titles(std::slice::from_ref(&missed)), ["three"]);
    assert!(
        client
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "no duplicate"
    );
    seen.push(missed);
    assert_increasing(&seen);
    drop(client);

    // Another name is its own cursor; a bad name is refused.
    let mut other = Client::open(
        &agent,
        "/v1/intents/stream?capabilities=text-generation&cursor=worker-2",
        None,
    )
    .await;
    assert!(
        other
            .next_within(Duration::from_millis(300))
            .await
            .is_none()
    );
    drop(other);
    let res = reqwest::Client::new()
        .get(format!(
            "http://{}/v1/intents/stream?cursor=Not%20Valid",
            agent.api_addr().unwrap()
        ))
        .bearer_auth(agent.home().token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_cursor");
}
