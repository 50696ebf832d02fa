//! A hostile rendezvous point: a plain libp2p peer that speaks `/rendezvous/1.0.0` and grants
//! every registration a TTL of `u64::MAX` seconds. A MESH agent registers at any peer whose
//! identify lists that protocol; it used to schedule its renewal at `now + ttl * 0.8`
//! unchecked, and the overflow ended its event loop. Now the TTL is clamped to 72 h: the node
//! keeps answering, and registers again when it meets the point again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::attacker::wait_until;
use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, identify, noise, tcp, yamux};
use mesh_net::codec::ProtoCodec;
use tokio::sync::mpsc;

/// libp2p rendezvous's `Message` (rendezvous/rpc.proto), the fields a registration uses.
#[derive(Clone, PartialEq, prost::Message)]
struct RdvMessage {
    /// `MessageType`: 0 REGISTER, 1 REGISTER_RESPONSE.
    #[prost(int32, optional, tag = "1")]
    kind: Option<i32>,
    #[prost(message, optional, tag = "2")]
    register: Option<RdvRegister>,
    #[prost(message, optional, tag = "3")]
    register_response: Option<RdvRegisterResponse>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RdvRegister {
    #[prost(string, optional, tag = "1")]
    ns: Option<String>,
    #[prost(bytes = "vec", optional, tag = "2")]
    signed_peer_record: Option<Vec<u8>>,
    #[prost(uint64, optional, tag = "3")]
    ttl: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RdvRegisterResponse {
    /// `ResponseStatus`: 0 OK.
    #[prost(int32, optional, tag = "1")]
    status: Option<i32>,
    #[prost(string, optional, tag = "2")]
    status_text: Option<String>,
    #[prost(uint64, optional, tag = "3")]
    ttl: Option<u64>,
}

const REGISTER: i32 = 0;
const REGISTER_RESPONSE: i32 = 1;
/// Rendezvous messages are at most 1 MiB (libp2p's limit).
const MAX_MESSAGE: usize = 1024 * 1024;

#[derive(NetworkBehaviour)]
struct HostilePoint {
    identify: identify::Behaviour,
    rendezvous: request_response::Behaviour<ProtoCodec<RdvMessage, RdvMessage>>,
}

type Op = Box<dyn FnOnce(&mut Swarm<HostilePoint>) + Send>;

/// The hostile point, driven by its own task; `registrations` lists the namespaces of the
/// registrations it granted.
struct Hostile {
    peer: PeerId,
    ops: mpsc::Sender<Op>,
    registrations: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    fn spawn(granted_ttl: u64) -> Self {
        let mut swarm = SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .expect("tcp transport")
            .with_behaviour(|key| HostilePoint {
                identify: identify::Behaviour::new(identify::Config::new(
                    mesh_net::behaviour::IDENTIFY_PROTOCOL.to_owned(),
                    key.public(),
                )),
                rendezvous: request_response::Behaviour::with_codec(
                    ProtoCodec::new(MAX_MESSAGE, MAX_MESSAGE),
                    [(
                        StreamProtocol::new("/rendezvous/1.0.0"),
                        ProtocolSupport::Inbound,
                    )],
                    request_response::Config::default(),
                ),
            })
            .expect("behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build();
        let peer = *swarm.local_peer_id();
        let registrations = Arc::new(Mutex::new(Vec::new()));
        let log = registrations.clone();
        let (ops, mut rx) = mpsc::channel::<Op>(16);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    op = rx.recv() => match op {
                        Some(op) => op(&mut swarm),
                        None => return,
                    },
                    event = swarm.select_next_some() => {
                        let SwarmEvent::Behaviour(HostilePointEvent::Rendezvous(
                            request_response::Event::Message {
                                message: request_response::Message::Request { request, channel, .. },
                                ..
                            },
                        )) = event else {
                            continue;
                        };
                        if request.kind != Some(REGISTER) {
                            continue;
                        }
                        let ns = request.register.and_then(|r| r.ns).unwrap_or_default();
                        log.lock().unwrap().push(ns);
                        let answer = RdvMessage {
                            kind: Some(REGISTER_RESPONSE),
                            register: None,
                            register_response: Some(RdvRegisterResponse {
                                status: Some(0),
                                status_text: None,
                                ttl: Some(granted_ttl),
                            }),
                        };
                        let _ = swarm.behaviour_mut().rendezvous.send_response(channel, answer);
                    }
                }
            }
        });
        Self {
            peer,
            ops,
            registrations,
        }
    }

    async fn with(&self, f: impl FnOnce(&mut Swarm<HostilePoint>) + Send + 'static) {
        self.ops
            .send(Box::new(f))
            .await
            .expect("hostile point runs");
    }

    fn granted(&self) -> usize {
        self.registrations.lock().unwrap().len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_ttl_of_u64_max_does_not_stop_the_node() {
    common::init_tracing();
    let agent = common::start(&["text-generation"], None).await;
    let hostile = Hostile::spawn(u64::MAX);
    let addr: Multiaddr = agent.addr.clone();
    hostile
        .with(move |s| {
            s.dial(addr).expect("dial the agent");
        })
        .await;

    wait_until("the agent to register at the hostile point", async || {
        hostile.granted() >= 1
    })
    .await;
    assert_eq!(
        hostile.registrations.lock().unwrap()[0],
        "mesh/cap/text-generation"
    );
    // The answer arrives in the event loop a moment after the request: give it several ticks.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let info = agent.handle.info().await;
    assert!(info.is_ok(), "the node stopped after the answer: {info:?}");
    let peers = agent
        .handle
        .peers()
        .await
        .expect("the node answers peers()");
    assert!(
        peers.iter().any(|p| p.peer_id == hostile.peer.to_string()),
        "the hostile point is still connected: {peers:?}"
    );

    // Met again, the point is registered at again: the bookkeeping still works.
    let peer = agent.handle.info().await.expect("info").peer_id;
    let peer: PeerId = peer.parse().expect("peer id");
    hostile
        .with(move |s| {
            let _ = s.disconnect_peer_id(peer);
        })
        .await;
    wait_until("the agent to see the point go", async || {
        agent
            .handle
            .peers()
            .await
            .is_ok_and(|p| p.iter().all(|p| p.peer_id != hostile.peer.to_string()))
    })
    .await;
    let addr = agent.addr.clone();
    hostile
        .with(move |s| {
            s.dial(addr).expect("dial the agent again");
        })
        .await;
    wait_until("the agent to register again", async || {
        hostile.granted() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        agent.handle.info().await.is_ok(),
        "the node stopped after the second answer"
    );
}
