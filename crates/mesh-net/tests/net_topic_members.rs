//! An agent asked for its record with a capability (`/mesh/adp/record/1.0.0`) also names the
//! other members of that capability's topic it is connected to, with the addresses they listen
//! on, so that a search that found one agent of a capability finds the rest. The asker here is
//! a plain libp2p peer, not a MESH node, and also sends what no MESH node would: a capability
//! that is not a name, and a request far over the size limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::attacker::{PATIENCE, wait_until};
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, noise, tcp, yamux};
use mesh_core::{Capability, SignedAgentRecord};
use mesh_net::codec::ProtoCodec;
use mesh_net::unix_clock::now_ms;
use mesh_proto::v1::{AgentRecordRequest, AgentRecordResponse};

type Asker = request_response::Behaviour<ProtoCodec<AgentRecordRequest, AgentRecordResponse>>;

/// A plain libp2p peer that only speaks the record fetch, and sends requests up to 1 MiB.
fn asker() -> Swarm<Asker> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp transport")
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                ProtoCodec::new(1 << 20, 1 << 20),
                [(
                    StreamProtocol::new("/mesh/adp/record/1.0.0"),
                    ProtocolSupport::Outbound,
                )],
                request_response::Config::default().with_request_timeout(Duration::from_secs(20)),
            )
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Sends `capability` to `peer` at `addr` and drives the swarm until the answer or failure.
async fn ask(
    swarm: &mut Swarm<Asker>,
    peer: PeerId,
    addr: &Multiaddr,
    capability: String,
) -> Result<AgentRecordResponse, String> {
    let id = swarm.behaviour_mut().send_request_with_addresses(
        &peer,
        AgentRecordRequest { capability },
        vec![addr.clone()],
    );
    let wait = async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                }) if request_id == id => return Ok(response),
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    request_id,
                    error,
                    ..
                }) if request_id == id => return Err(error.to_string()),
                _ => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .expect("an answer or a failure in time")
}

/// Asks as [`ask`] until the answer carries a record: a node answers with an empty envelope
/// until it has signed its first one.
async fn ask_signed(
    swarm: &mut Swarm<Asker>,
    peer: PeerId,
    addr: &Multiaddr,
    capability: &str,
) -> AgentRecordResponse {
    for _ in 0..100 {
        let answer = ask(swarm, peer, addr, capability.into())
            .await
            .expect("an answer");
        if !answer.envelope.is_empty() {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{peer} never answered with its record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_names_the_other_members_of_its_capability_topic() {
    common::init_tracing();
    let a = common::start(&["translate"], None).await;
    let b = common::start(&["translate"], Some(&a.addr)).await;
    let c = common::start(&["summarize"], Some(&a.addr)).await;
    let (a_id, b_id, c_id) = (a.handle.peer_id(), b.handle.peer_id(), c.handle.peer_id());
    let translate = Capability::new("translate").unwrap();
    wait_until(
        "a sees b subscribed to translate, and has b's listen addresses",
        async || {
            let subscribed = a
                .handle
                .topic_peers(translate.clone())
                .await
                .unwrap()
                .subscribed
                .contains(&b_id);
            let identified = a
                .handle
                .peers()
                .await
                .unwrap()
                .iter()
                .any(|p| p.peer_id == b_id.to_string() && p.agent_version.is_some());
            subscribed && identified
        },
    )
    .await;

    let mut swarm = asker();
    let answer = ask_signed(&mut swarm, a_id, &a.addr, "translate").await;
    let record =
        SignedAgentRecord::verify(&answer.envelope, Some(a_id), now_ms()).expect("a's record");
    assert!(record.has_all(std::slice::from_ref(&translate)));
    let named: Vec<PeerId> = answer
        .members
        .iter()
        .map(|m| PeerId::from_bytes(&m.peer_id).expect("a peer id"))
        .collect();
    assert!(
        named.contains(&b_id),
        "b is a member of translate: {named:?}"
    );
    assert!(!named.contains(&c_id), "c offers only summarize: {named:?}");
    assert!(!named.contains(&a_id), "a does not name itself");
    assert!(
        !named.contains(swarm.local_peer_id()),
        "nor the peer that asks"
    );
    let b_entry = &answer.members[named.iter().position(|p| *p == b_id).unwrap()];
    let b_addrs: Vec<Multiaddr> = b_entry
        .addrs
        .iter()
        .map(|bytes| Multiaddr::try_from(bytes.clone()).expect("an address"))
        .collect();
    let b_listen: Multiaddr = b
        .addr
        .iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect();
    assert!(
        b_addrs.contains(&b_listen),
        "b's listen address {b_listen} is given: {b_addrs:?}"
    );

    // A member is asked in turn, at the address given: it answers with its own record.
    let from_b = ask_signed(&mut swarm, b_id, &b_addrs[0], "translate").await;
    SignedAgentRecord::verify(&from_b.envelope, Some(b_id), now_ms()).expect("b's record");
    assert!(
        from_b
            .members
            .iter()
            .any(|m| PeerId::from_bytes(&m.peer_id).ok() == Some(a_id)),
        "b names a"
    );

    // No capability, or not a capability name: the record alone.
    for capability in ["", "Not A Name!", "translate/../../etc"] {
        let answer = ask(&mut swarm, a_id, &a.addr, capability.into())
            .await
            .expect("an answer");
        assert!(!answer.envelope.is_empty());
        assert!(answer.members.is_empty(), "{capability:?} names no member");
    }

    // A request far over the limit gets no answer, and costs the node nothing.
    let oversized = ask(&mut swarm, a_id, &a.addr, "x".repeat(100_000)).await;
    assert!(oversized.is_err(), "an oversized request is not answered");
    let again = ask(&mut swarm, a_id, &a.addr, "translate".into())
        .await
        .expect("a still answers");
    assert!(!again.members.is_empty());
    let found = common::discover_until(&a.handle, &["summarize"], 1).await;
    assert!(found.iter().any(|f| f.peer_id == c_id.to_string()));
}
