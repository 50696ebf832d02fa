//! Starting the network task: the swarm's listeners, the channels of the handle, the state
//! read back from the store, then the task itself.

use std::collections::HashMap;
use std::sync::Arc;

use libp2p::metrics::Metrics as Libp2pMetrics;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm};
use mesh_core::Keypair;
use mesh_core::negotiation::NegotiationId;
use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{EventLoop, HOUSEKEEPING, TOPIC_CHECK, now_ms, reach, receipts};
use crate::adp::driver::AdpDriver;
use crate::behaviour::{MeshBehaviour, build_swarm};
use crate::config::NetConfig;
use crate::connections::Connections;
use crate::error::NetError;
use crate::handle::{COMMAND_QUEUE, MeshHandle};
use crate::idp::driver::IdpDriver;
use crate::inp::driver::InpDriver;
use crate::metrics::MeshMetrics;
use crate::peers::PeerBook;
use crate::restore::restore;
use crate::store_link::StoreLink;

/// Known peers redialled at start, at most.
const PEERS_REDIALLED: usize = 16;

/// Whether an address is worth keeping to dial again (not a loopback-only wildcard).
pub(super) fn is_dialable(addr: &Multiaddr) -> bool {
    !crate::addr_scope::is_unspecified(addr)
}

/// Starts the network task. Returns its handle and the task's join handle.
pub fn spawn(
    keypair: Keypair,
    config: NetConfig,
    registry: &mut Registry,
) -> Result<(MeshHandle, JoinHandle<()>), NetError> {
    let swarm = build_swarm(keypair.clone(), &config, registry)?;
    spawn_swarm(keypair, config, registry, swarm)
}

/// Starts the network task on `transport` instead of TCP and QUIC (for example an in-memory
/// transport in a simulation). Everything else is as [`spawn`].
pub fn spawn_on(
    keypair: Keypair,
    config: NetConfig,
    registry: &mut Registry,
    transport: crate::behaviour::BoxedTransport,
) -> Result<(MeshHandle, JoinHandle<()>), NetError> {
    let swarm = crate::behaviour::build_swarm_on(keypair.clone(), &config, registry, transport)?;
    spawn_swarm(keypair, config, registry, swarm)
}

fn spawn_swarm(
    keypair: Keypair,
    config: NetConfig,
    registry: &mut Registry,
    mut swarm: Swarm<MeshBehaviour>,
) -> Result<(MeshHandle, JoinHandle<()>), NetError> {
    let libp2p_metrics = Libp2pMetrics::new(registry);
    let metrics = MeshMetrics::register(registry);
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Setup(format!("cannot listen on {addr}: {e}")))?;
    }
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let (intents, _) = broadcast::channel(config.intent_queue.max(1));
    let (negotiation_events, _) = broadcast::channel(config.intent_queue.max(1));
    let (intent_updates, _) = broadcast::channel(config.intent_queue.max(1));
    let handle = MeshHandle {
        commands: tx,
        intents: intents.downgrade(),
        negotiation_events: negotiation_events.downgrade(),
        intent_updates: intent_updates.downgrade(),
        keypair: keypair.clone(),
        metrics: metrics.clone(),
        proof_of_work_bits: config.proof_of_work_bits,
    };
    let now = Instant::now();
    let limits = config.limits;
    let work_bits = config.proof_of_work_bits;
    let config_for_reach = config.clone();
    let keypair_peer = keypair.public().to_peer_id();
    let mut event_loop = EventLoop {
        local: keypair.public().to_peer_id(),
        keypair,
        conns: Connections::new(&config, now),
        next_housekeeping_ids: now + HOUSEKEEPING,
        config,
        swarm,
        commands: rx,
        intents,
        negotiation_events,
        intent_updates,
        inp: InpDriver::new(limits.negotiation_messages_per_peer),
        store: StoreLink::default(),
        awaiting_store: HashMap::new(),
        next_housekeeping: now + HOUSEKEEPING,
        metrics,
        libp2p_metrics,
        peers: PeerBook::default(),
        idp: IdpDriver::new(&limits, work_bits),
        adp: AdpDriver::new(&config_for_reach, keypair_peer, now),
        listen_addrs: Vec::new(),
        queries: HashMap::new(),
        closest_replies: HashMap::new(),
        next_topic_check: now + TOPIC_CHECK,
        nat: reach::Reach::new(&config_for_reach, registry, now),
        receipts: receipts::Receipts::new(
            &config_for_reach,
            keypair_peer,
            registry.sub_registry_with_prefix("mesh"),
        ),
    };
    event_loop.add_configured_external();
    if let Some(store) = event_loop.config.store.clone() {
        let completed = event_loop.restore_from(&store)?;
        event_loop.store = StoreLink::start(
            store,
            event_loop.metrics.store_errors.clone(),
            event_loop.metrics.store_writes_dropped.clone(),
        )
        .map_err(|e| NetError::Setup(format!("cannot start the store writer: {e}")))?;
        let again = event_loop.attest_restored(&completed);
        if again > 0 {
            tracing::info!(
                again,
                "own receipts attested again from their stored transcripts"
            );
        }
    }
    let own = event_loop.config.capabilities.clone();
    event_loop.subscribe(own);
    event_loop.join_receipts_topic();
    let task = tokio::spawn(event_loop.run());
    Ok((handle, task))
}

impl EventLoop {
    /// Reads back what the store holds, before the loop starts.
    /// Reads the store back; returns the completed negotiations restored (id, publisher,
    /// agent), for [`EventLoop::attest_restored`] once the writer runs.
    pub(super) fn restore_from(
        &mut self,
        store: &mesh_store::Store,
    ) -> Result<Vec<(NegotiationId, PeerId, PeerId)>, NetError> {
        let now = now_ms();
        let restored = restore(store, now, self.config.negotiation_retention)
            .map_err(|e| NetError::Setup(format!("cannot read the store: {e}")))?;
        for intent in &restored.own_intents {
            self.idp.hold_own(Arc::clone(intent), now);
        }
        for (c, intent) in restored.cancellations {
            self.idp.restore_cancellation(c, intent, now);
        }
        for intent in restored.open_intents {
            self.idp.hold(intent, now);
        }
        let negotiations = restored.negotiations.len();
        let completed: Vec<_> = restored
            .negotiations
            .iter()
            .filter(|n| n.state() == mesh_core::negotiation::State::Completed)
            .map(|n| (n.id(), n.publisher(), n.agent()))
            .collect();
        for n in restored.negotiations {
            self.inp.restore(n);
        }
        for record in restored.records {
            self.adp.cache_record(record);
        }
        for (peer, score, observations) in restored.reputations {
            self.peers.restore_reputation(peer, score, observations);
        }
        self.restore_attestations(&restored.attestations);
        let peers = restored.peers.len();
        for (peer, addrs) in restored.peers {
            if peer == self.local {
                continue;
            }
            for addr in &addrs {
                self.swarm.add_peer_address(peer, addr.clone());
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
            }
            if self.peers.connected_count() < PEERS_REDIALLED {
                let opts = DialOpts::peer_id(peer).addresses(addrs).build();
                if let Err(e) = self.swarm.dial(opts) {
                    tracing::debug!(%peer, error = %e, "cannot redial a known peer");
                }
            }
        }
        tracing::info!(
            own_intents = self.idp.book().own_intents().len(),
            open_intents = self.idp.open().len(),
            negotiations,
            peers,
            skipped = restored.skipped,
            "restored from the store"
        );
        Ok(completed)
    }
}
