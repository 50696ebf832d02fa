//! The attacker of the network tests: a plain libp2p swarm, not a MESH node, that speaks
//! MESH's protocols (identify `/mesh/1.0.0`, Kademlia `/mesh/kad/1.0.0` in server mode,
//! anonymous gossipsub with content ids, INP request-response) and lets a test push whatever
//! it likes through them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::kad::{self, QueryResult, Quorum, store::MemoryStore};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, identify, noise, tcp, yamux};
use mesh_core::Keypair;
use mesh_net::inp::{InpCodec, MAX_INP_REQUEST_BYTES, MAX_INP_RESPONSE_BYTES};
use mesh_proto::v1::{NegotiationAck, NegotiationSend};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

/// Upper bound for anything the network has to do; every wait polls and returns early.
pub const PATIENCE: Duration = Duration::from_secs(45);

// ----- the attacker: a plain libp2p swarm, not a MESH node -----

#[derive(NetworkBehaviour)]
pub struct Attacker {
    pub identify: identify::Behaviour,
    pub kad: kad::Behaviour<MemoryStore>,
    pub gossipsub: gossipsub::Behaviour,
    pub inp: request_response::Behaviour<InpCodec>,
}

/// What the attacker's swarm reported, for the test to wait on.
#[derive(Debug, Default)]
pub struct AttackerLog {
    pub puts_ok: usize,
    pub puts_failed: Vec<String>,
    pub provides_ok: usize,
    pub provides_failed: Vec<String>,
    /// Connections that failed or closed, with their cause, to explain a test that times out.
    pub connection_trouble: Vec<String>,
    /// INP requests received (answered or dropped).
    pub inp_requests: usize,
    /// Answers to the attacker's own INP requests: accepted, and the refusal code.
    pub inp_acks: Vec<(bool, String)>,
    /// The attacker's own INP requests that got no answer, with the failure.
    pub inp_failures: Vec<String>,
}

pub type Op = Box<dyn FnOnce(&mut Swarm<Attacker>) + Send>;

/// The attacker's swarm, driven by its own task; the test acts on it through closures.
pub struct AttackerNode {
    pub key: Keypair,
    /// For a validating attacker: whether it forwards what it receives.
    forwarding: Arc<AtomicBool>,
    /// INP requests still to drop, by closing the connection they came on, before answering.
    inp_drops: Arc<AtomicUsize>,
    ops: mpsc::Sender<Op>,
    log: Arc<Mutex<AttackerLog>>,
    task: tokio::task::JoinHandle<()>,
}

impl AttackerNode {
    pub fn spawn() -> Self {
        Self::spawn_with(true, false)
    }

    /// An attacker that only dials out: no listen address, so honest nodes cannot learn one
    /// and reach it on their own.
    pub fn spawn_dialing_only() -> Self {
        Self::spawn_with(false, false)
    }

    /// An attacker that validates what it receives, as MESH nodes do: it forwards every
    /// message while [`AttackerNode::set_forwarding`] is on (the default) and none once it is
    /// off, while it stays in its peers' meshes.
    pub fn spawn_validating() -> Self {
        Self::spawn_with(true, true)
    }

    /// Closes the connection of each of the next `n` INP requests instead of answering it;
    /// every other INP request is answered `accepted`.
    pub fn drop_inp_requests(&self, n: usize) {
        self.inp_drops.store(n, Ordering::SeqCst);
    }

    /// Sends `envelope` to `peer` on INP; the answer lands in [`AttackerLog::inp_acks`].
    pub async fn send_inp(&self, peer: PeerId, envelope: Vec<u8>) {
        self.with(move |s| {
            s.behaviour_mut()
                .inp
                .send_request(&peer, NegotiationSend { envelope });
        })
        .await;
    }

    /// Turns forwarding on or off (for an attacker from [`AttackerNode::spawn_validating`]).
    pub fn set_forwarding(&self, on: bool) {
        self.forwarding.store(on, Ordering::SeqCst);
    }

    fn spawn_with(listen: bool, validating: bool) -> Self {
        let key = Keypair::generate_ed25519();
        let mut swarm = SwarmBuilder::with_existing_identity(key.clone())
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .expect("tcp transport")
            .with_behaviour(|key| {
                let peer_id = key.public().to_peer_id();
                let identify = identify::Behaviour::new(
                    identify::Config::new(
                        mesh_net::behaviour::IDENTIFY_PROTOCOL.to_owned(),
                        key.public(),
                    )
                    .with_agent_version("attacker/0.0.0".to_owned()),
                );
                let mut kad = kad::Behaviour::with_config(
                    peer_id,
                    MemoryStore::new(peer_id),
                    kad::Config::new(StreamProtocol::new(mesh_net::behaviour::KAD_PROTOCOL)),
                );
                kad.set_mode(Some(kad::Mode::Server));
                // MESH's gossip: anonymous messages, ids from their content.
                let mut config = gossipsub::ConfigBuilder::default();
                if validating {
                    // As MESH nodes: their heartbeat, and forwarding only after validation.
                    config
                        .heartbeat_interval(Duration::from_millis(700))
                        .validate_messages();
                }
                let config = config
                    .validation_mode(ValidationMode::Anonymous)
                    // Short, so that a test can replay a message it published.
                    .duplicate_cache_time(Duration::from_secs(1))
                    .message_id_fn(|m: &gossipsub::Message| {
                        gossipsub::MessageId::from(Sha256::digest(&m.data).to_vec())
                    })
                    .build()?;
                let gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)?;
                let inp = request_response::Behaviour::with_codec(
                    InpCodec::new(MAX_INP_REQUEST_BYTES, MAX_INP_RESPONSE_BYTES),
                    [(
                        StreamProtocol::new(mesh_net::inp::PROTOCOL),
                        ProtocolSupport::Full,
                    )],
                    request_response::Config::default(),
                );
                Ok(Attacker {
                    identify,
                    kad,
                    gossipsub,
                    inp,
                })
            })
            .expect("attacker behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build();
        if listen {
            swarm
                .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
                .expect("attacker listens");
        }

        let (ops, mut rx) = mpsc::channel::<Op>(64);
        let log = Arc::new(Mutex::new(AttackerLog::default()));
        let task_log = log.clone();
        let forwarding = Arc::new(AtomicBool::new(true));
        let task_forwarding = forwarding.clone();
        let inp_drops = Arc::new(AtomicUsize::new(0));
        let task_inp_drops = inp_drops.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    op = rx.recv() => match op {
                        Some(op) => op(&mut swarm),
                        None => return,
                    },
                    event = swarm.select_next_some() => {
                        if let SwarmEvent::Behaviour(AttackerEvent::Gossipsub(
                            gossipsub::Event::Message { propagation_source, message_id, .. },
                        )) = &event
                            && validating
                            && task_forwarding.load(Ordering::SeqCst)
                        {
                            swarm.behaviour_mut().gossipsub.report_message_validation_result(
                                message_id,
                                propagation_source,
                                gossipsub::MessageAcceptance::Accept,
                            );
                        }
                        if let SwarmEvent::Behaviour(AttackerEvent::Inp(event)) = event {
                            on_inp(&mut swarm, &task_log, &task_inp_drops, event);
                            continue;
                        }
                        record_event(&task_log, event)
                    }
                }
            }
        });
        Self {
            key,
            forwarding,
            inp_drops,
            ops,
            log,
            task,
        }
    }

    pub fn peer_id(&self) -> PeerId {
        self.key.public().to_peer_id()
    }

    /// Runs `f` on the attacker's swarm, inside its task.
    pub async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Swarm<Attacker>) -> R + Send + 'static,
    ) -> R {
        let (tx, rx) = oneshot::channel();
        let op: Op = Box::new(move |swarm| {
            let _ = tx.send(f(swarm));
        });
        self.ops
            .send(op)
            .await
            .map_err(|_| "stopped")
            .expect("attacker task is running");
        rx.await.expect("attacker task replied")
    }

    pub async fn listen_addr(&self) -> Multiaddr {
        let mut addr = None;
        wait_until("the attacker to listen", async || {
            addr = self.with(|s| s.listeners().next().cloned()).await;
            addr.is_some()
        })
        .await;
        addr.expect("listen address")
    }

    /// Puts `value` under `key` in the DHT with `put_record`.
    pub async fn put_record(&self, key: Vec<u8>, value: Vec<u8>) {
        self.with(move |s| {
            s.behaviour_mut()
                .kad
                .put_record(
                    kad::Record::new(kad::RecordKey::new(&key), value),
                    Quorum::One,
                )
                .expect("attacker stores the record locally");
        })
        .await;
    }

    /// Publishes `data` on `topic` with the attacker's own (valid) gossipsub signature.
    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), String> {
        let topic = IdentTopic::new(topic);
        self.with(move |s| {
            s.behaviour_mut()
                .gossipsub
                .publish(topic, data)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await
    }

    /// Subscribes to `topic`, dials `peer` at `addr`, and waits until `peer` is among the
    /// attacker's gossip peers on `topic`. A connection that closes is dialled again, and one
    /// that carries no subscription for a long while (its gossip stream lost on a loaded
    /// machine) is replaced, so that the test measures what it sets out to and not the
    /// machine's load.
    pub async fn join_topic_at(&self, topic: &str, peer: PeerId, addr: Multiaddr) {
        const REDIAL: Duration = Duration::from_secs(3);
        const REPLACE: Duration = Duration::from_secs(15);
        let t = IdentTopic::new(topic);
        self.with(move |s| {
            s.behaviour_mut()
                .gossipsub
                .subscribe(&t)
                .expect("subscribe");
        })
        .await;
        let hash = IdentTopic::new(topic).hash();
        let deadline = Instant::now() + PATIENCE;
        let mut dialled: Option<Instant> = None;
        let mut connected_since: Option<Instant> = None;
        loop {
            let (hash, addr) = (hash.clone(), addr.clone());
            let (joined, connected) = self
                .with(move |s| {
                    let joined = s
                        .behaviour()
                        .gossipsub
                        .all_peers()
                        .any(|(p, topics)| *p == peer && topics.iter().any(|t| **t == hash));
                    (joined, s.is_connected(&peer))
                })
                .await;
            if joined {
                return;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "timed out after {PATIENCE:?} waiting for the peer among the attacker's topic \
                 peers; connection trouble: {:?}",
                self.log(|l| l.connection_trouble.clone())
            );
            match (connected, connected_since) {
                (true, None) => connected_since = Some(now),
                (true, Some(since)) if now - since > REPLACE => {
                    self.with(move |s| {
                        let _ = s.disconnect_peer_id(peer);
                    })
                    .await;
                    connected_since = None;
                }
                (false, _) => {
                    connected_since = None;
                    if dialled.is_none_or(|at| now - at > REDIAL) {
                        dialled = Some(now);
                        self.with(move |s| s.dial(addr).expect("dial the peer"))
                            .await;
                    }
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log<R>(&self, f: impl FnOnce(&AttackerLog) -> R) -> R {
        f(&self.log.lock().expect("attacker log"))
    }
}

impl Drop for AttackerNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers INP requests `accepted` (or drops them, see [`AttackerNode::drop_inp_requests`]) and
/// logs the answers to the attacker's own.
fn on_inp(
    swarm: &mut Swarm<Attacker>,
    log: &Mutex<AttackerLog>,
    drops: &AtomicUsize,
    event: request_response::Event<NegotiationSend, NegotiationAck>,
) {
    let mut log = log.lock().expect("attacker log");
    match event {
        request_response::Event::Message {
            peer,
            message: request_response::Message::Request { channel, .. },
            ..
        } => {
            log.inp_requests += 1;
            let dropping = drops
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if dropping {
                drop(channel);
                let _ = swarm.disconnect_peer_id(peer);
            } else {
                let ack = NegotiationAck {
                    accepted: true,
                    code: String::new(),
                    reason: String::new(),
                };
                let _ = swarm.behaviour_mut().inp.send_response(channel, ack);
            }
        }
        request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        } => log.inp_acks.push((response.accepted, response.code)),
        request_response::Event::OutboundFailure { error, .. } => {
            log.inp_failures.push(error.to_string())
        }
        _ => {}
    }
}

fn record_event(log: &Mutex<AttackerLog>, event: SwarmEvent<AttackerEvent>) {
    match &event {
        SwarmEvent::ConnectionClosed { peer_id, cause, .. } => {
            let mut log = log.lock().expect("attacker log");
            log.connection_trouble
                .push(format!("closed to {peer_id}: {cause:?}"));
            return;
        }
        SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
            let mut log = log.lock().expect("attacker log");
            log.connection_trouble
                .push(format!("dial to {peer_id:?} failed: {error}"));
            return;
        }
        _ => {}
    }
    let SwarmEvent::Behaviour(AttackerEvent::Kad(kad::Event::OutboundQueryProgressed {
        result,
        ..
    })) = event
    else {
        return;
    };
    let mut log = log.lock().expect("attacker log");
    match result {
        QueryResult::PutRecord(Ok(_)) => log.puts_ok += 1,
        QueryResult::PutRecord(Err(e)) => log.puts_failed.push(e.to_string()),
        QueryResult::StartProviding(Ok(_)) => log.provides_ok += 1,
        QueryResult::StartProviding(Err(e)) => log.provides_failed.push(e.to_string()),
        _ => {}
    }
}

/// Polls `check` until it holds, failing the test after [`PATIENCE`].
pub async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
