//! A covert attacker of the simulation: a plain libp2p swarm, not a MESH node, on the same
//! simulated links. It speaks just enough of MESH (identify `/mesh/1.0.0`, anonymous
//! gossipsub with content ids and MESH's heartbeat) to join the intent topics' meshes,
//! forwards every message it receives while it behaves, and forwards none once told to stop,
//! while it stays connected and subscribed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, identify};
use mesh_core::Keypair;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::delay::LinkModel;
use crate::net::transport;

/// MESH's gossipsub heartbeat, which the attacker keeps to look like a MESH node.
const HEARTBEAT: Duration = Duration::from_millis(700);

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    gossipsub: gossipsub::Behaviour,
}

/// What a test or scenario asks of the attacker's swarm.
enum Command {
    Subscribe(IdentTopic),
    Dial(Multiaddr),
}

/// A running attacker.
pub struct Attacker {
    /// Its peer id.
    pub peer_id: PeerId,
    forwarding: Arc<AtomicBool>,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

impl Attacker {
    /// Starts an attacker with `key` on a link that behaves as `link`; it forwards until
    /// [`Attacker::stop_forwarding`].
    pub fn spawn(key: Keypair, link: LinkModel, seed: u64) -> anyhow::Result<Self> {
        let peer_id = key.public().to_peer_id();
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let transport = transport(&key, link, seed, sent)?;
        let swarm = SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(|_| transport)?
            .with_behaviour(|key| {
                let identify = identify::Behaviour::new(
                    identify::Config::new(
                        mesh_net::behaviour::IDENTIFY_PROTOCOL.to_owned(),
                        key.public(),
                    )
                    .with_agent_version("sim-attacker/0.0.0".to_owned()),
                );
                let config = gossipsub::ConfigBuilder::default()
                    .heartbeat_interval(HEARTBEAT)
                    .validate_messages()
                    .validation_mode(ValidationMode::Anonymous)
                    .message_id_fn(|m: &gossipsub::Message| {
                        gossipsub::MessageId::from(Sha256::digest(&m.data).to_vec())
                    })
                    .build()?;
                let gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)?;
                Ok(Behaviour {
                    identify,
                    gossipsub,
                })
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build();
        let forwarding = Arc::new(AtomicBool::new(true));
        let (commands, rx) = mpsc::channel(64);
        let task = tokio::spawn(drive(swarm, rx, forwarding.clone()));
        Ok(Self {
            peer_id,
            forwarding,
            commands,
            task,
        })
    }

    /// Subscribes to `topic`.
    pub async fn subscribe(&self, topic: &str) -> anyhow::Result<()> {
        self.send(Command::Subscribe(IdentTopic::new(topic))).await
    }

    /// Dials `addr`.
    pub async fn dial(&self, addr: Multiaddr) -> anyhow::Result<()> {
        self.send(Command::Dial(addr)).await
    }

    /// From now on, forwards nothing it receives (while staying in its peers' meshes).
    pub fn stop_forwarding(&self) {
        self.forwarding.store(false, Ordering::SeqCst);
    }

    async fn send(&self, command: Command) -> anyhow::Result<()> {
        self.commands
            .send(command)
            .await
            .map_err(|_| anyhow::anyhow!("the attacker {} has stopped", self.peer_id))
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs the attacker's swarm. It listens nowhere: it only dials, as a peer behind a NAT would.
async fn drive(
    mut swarm: Swarm<Behaviour>,
    mut commands: mpsc::Receiver<Command>,
    forwarding: Arc<AtomicBool>,
) {
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Subscribe(topic)) => {
                    if let Err(e) = swarm.behaviour_mut().gossipsub.subscribe(&topic) {
                        tracing::warn!(error = %e, "attacker cannot subscribe");
                    }
                }
                Some(Command::Dial(addr)) => {
                    if let Err(e) = swarm.dial(addr) {
                        tracing::debug!(error = %e, "attacker cannot dial");
                    }
                }
                None => return,
            },
            event = swarm.select_next_some() => {
                if let SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                    propagation_source,
                    message_id,
                    ..
                })) = event
                    && forwarding.load(Ordering::SeqCst)
                {
                    let _ = swarm.behaviour_mut().gossipsub.report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        gossipsub::MessageAcceptance::Accept,
                    );
                }
            }
        }
    }
}
