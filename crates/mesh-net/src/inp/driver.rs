//! The INP driver: owns every piece of the protocol's state, so an in-flight message has one
//! owner from the local caller's action to the answer.
//!
//! | state | what it holds |
//! |---|---|
//! | `registry` | every negotiation, with our messages waiting for their acknowledgement |
//! | `pending` | requests on the wire, by request id |
//! | `outbox` | messages queued behind a busy peer or parked during a DHT lookup of it |
//! | `awaiting` | steps waiting for their write to be durable, by store token |
//! | `persisted_len` | messages of each negotiation handed to the writer |
//! | `limit` | negotiation messages taken per peer |
//!
//! The event loop hands it an [`InpContext`] (the request-response behaviour, the peer book,
//! the store link, the intent lookup) and carries out the [`InpAction`]s it returns: what
//! belongs to another part of the node (DHT lookups, connection slots, receipts).

use std::collections::HashMap;
use std::sync::Arc;

use libp2p::{PeerId, request_response};
use mesh_core::negotiation::{Negotiation, NegotiationId};
use mesh_core::{Keypair, Observation};
use mesh_proto::v1::{NegotiationAck, NegotiationSend};
use tokio::sync::{broadcast, oneshot};
use tokio::time::Instant;

use super::outbox::{self, Admit, Outbox, Park};
use super::{
    Action, InpCodec, IntentLookup, NegotiationEvent, NegotiationEventKind, Prepared, Registry,
};
use crate::error::NegotiateError;
use crate::metrics::MeshMetrics;
use crate::peers::PeerBook;
use crate::persist::Write;
use crate::rate_limit::{KeyedLimiter, Rate};
use crate::restore::meta_of;
use crate::store_link::{Completion, Owner, StoreLink};

/// Peers the per-peer message limit remembers at most.
const LIMITED_PEERS: usize = 16_384;

/// What the event loop lends the driver for one call.
pub(crate) struct InpContext<'a> {
    /// This node.
    pub(crate) local: PeerId,
    /// This node's key, which signs its messages.
    pub(crate) keypair: &'a Keypair,
    /// The protocol's request-response behaviour.
    pub(crate) wire: &'a mut request_response::Behaviour<InpCodec>,
    /// Reputation and connection facts of peers.
    pub(crate) peers: &'a mut PeerBook,
    pub(crate) metrics: &'a MeshMetrics,
    /// The store's writer.
    pub(crate) store: &'a mut StoreLink,
    /// The intents this node takes negotiations on.
    pub(crate) lookup: &'a IntentLookup<'a>,
    /// Where local subscribers hear of every message taken.
    pub(crate) events: &'a broadcast::Sender<Arc<NegotiationEvent>>,
    /// What the event loop does after the call.
    pub(crate) actions: &'a mut Vec<InpAction>,
}

/// Work for other parts of the node, carried out by the event loop after the call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InpAction {
    /// Look the peer up in the DHT, then answer with [`InpDriver::on_peer_found`].
    FindPeer(PeerId),
    /// A message is going to a peer this node is not connected to: let the dial for it use
    /// the connection gate's reserve, so no DHT dial takes the last slot first.
    Reach(PeerId),
    /// A dial failed, maybe at the connection limit: free a slot.
    MakeRoom,
    /// The peer sent or answered a negotiation message: keep its connection a while.
    Negotiated(PeerId),
    /// A receipt of this negotiation was taken: attest it for reputation.
    Attest(NegotiationId),
}

/// A caller waiting for the outcome of one of our messages.
pub(crate) type Reply = oneshot::Sender<Result<NegotiationEvent, NegotiateError>>;

/// An INP message on its way: signed, waiting to be sent or for its acknowledgement.
struct Outgoing {
    prepared: Prepared,
    reply: Reply,
    /// Whether the peer was already looked up in the DHT for it.
    looked_up: bool,
    /// Whether it was already sent again after its connection closed before the answer.
    resent: bool,
}

/// A negotiation step waiting for its write to be durable.
enum Awaiting {
    /// A received message: acknowledge it (or refuse it and roll back) once stored.
    Ack {
        channel: request_response::ResponseChannel<NegotiationAck>,
        peer: PeerId,
        id: NegotiationId,
        previous: Option<Box<Negotiation>>,
        event: NegotiationEvent,
    },
    /// Our own message, acknowledged by the other party: answer the local caller once stored.
    Reply {
        reply: Reply,
        id: NegotiationId,
        event: NegotiationEvent,
    },
}

/// What became of a negotiation's write.
enum Stored {
    /// Queued; reported back under this token.
    Later(u64),
    /// The queue is full.
    Refused,
    /// Nothing to write, or no store.
    NoStore,
}

fn accepted() -> NegotiationAck {
    NegotiationAck {
        accepted: true,
        code: String::new(),
        reason: String::new(),
    }
}

fn storage_refusal() -> NegotiationAck {
    NegotiationAck {
        accepted: false,
        code: "busy".into(),
        reason: "the recipient cannot store the message right now; retry shortly".into(),
    }
}

/// The Intent Negotiation Protocol's state and rules on the network.
pub(crate) struct InpDriver {
    registry: Registry,
    pending: HashMap<request_response::OutboundRequestId, Outgoing>,
    outbox: Outbox<Outgoing>,
    awaiting: HashMap<u64, Awaiting>,
    persisted_len: HashMap<NegotiationId, usize>,
    limit: KeyedLimiter<PeerId>,
}

impl InpDriver {
    /// A driver taking at most `rate` messages from each peer.
    pub(crate) fn new(rate: Rate) -> Self {
        Self {
            registry: Registry::default(),
            pending: HashMap::new(),
            outbox: Outbox::default(),
            awaiting: HashMap::new(),
            persisted_len: HashMap::new(),
            limit: KeyedLimiter::new(rate, LIMITED_PEERS),
        }
    }

    /// Every negotiation of this node.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Requests to `peer` on the wire now.
    pub(crate) fn in_flight(&self, peer: &PeerId) -> usize {
        self.outbox.in_flight(peer)
    }

    /// Takes a negotiation read back from the store (already durable).
    pub(crate) fn restore(&mut self, negotiation: Negotiation) {
        let (id, len) = (negotiation.id(), negotiation.transcript().len());
        if self.registry.insert_restored(negotiation) {
            self.persisted_len.insert(id, len);
        }
    }

    /// Makes, signs and sends our next message; `reply` hears the outcome.
    pub(crate) fn negotiate(
        &mut self,
        ctx: &mut InpContext<'_>,
        action: Action,
        reply: Reply,
        now_ms: u64,
    ) {
        match self
            .registry
            .prepare(action, ctx.keypair, ctx.lookup, now_ms)
        {
            Ok(prepared) => self.send(
                ctx,
                Outgoing {
                    prepared,
                    reply,
                    looked_up: false,
                    resent: false,
                },
            ),
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
        }
    }

    /// An event of the protocol's request-response behaviour.
    pub(crate) fn on_event(
        &mut self,
        ctx: &mut InpContext<'_>,
        event: request_response::Event<NegotiationSend, NegotiationAck>,
        now_ms: u64,
        now: Instant,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                if let Some(ack) = self.on_request(ctx, peer, request, channel, now_ms, now) {
                    let (channel, ack) = ack;
                    let _ = ctx.wire.send_response(channel, ack);
                }
            }
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.on_response(ctx, peer, request_id, response, now_ms),
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => self.on_failure(ctx, peer, request_id, error),
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "negotiation answer failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// A message from `peer`: the acknowledgement to send now, or `None` when it waits for its
    /// write (see [`InpDriver::on_stored`]).
    fn on_request(
        &mut self,
        ctx: &mut InpContext<'_>,
        peer: PeerId,
        request: NegotiationSend,
        channel: request_response::ResponseChannel<NegotiationAck>,
        now_ms: u64,
        now: Instant,
    ) -> Option<(
        request_response::ResponseChannel<NegotiationAck>,
        NegotiationAck,
    )> {
        if !self.limit.allow(&peer, now) {
            ctx.metrics.reject_message("rate_limited");
            let ack = NegotiationAck {
                accepted: false,
                code: "rate_limited".into(),
                reason: "too many negotiation messages from this peer; retry shortly".into(),
            };
            return Some((channel, ack));
        }
        let header = mesh_core::negotiation::peek(&request.envelope).ok();
        let nid = header.as_ref().map(|h| h.negotiation_id);
        if header
            .as_ref()
            .is_some_and(|h| self.registry.holds(h, &request.envelope, &peer))
            && !self
                .awaiting
                .values()
                .any(|a| matches!(a, Awaiting::Ack { id, .. } if Some(*id) == nid))
        {
            // Our acknowledgement was lost with its connection: say again that we have the
            // message (only once it is durable, hence the check above).
            ctx.actions.push(InpAction::Negotiated(peer));
            ctx.metrics.inp_repeats_acknowledged.inc();
            return Some((channel, accepted()));
        }
        let previous = nid.and_then(|id| self.registry.get(&id).cloned().map(Box::new));
        let from_ip = ctx.peers.remote_ip(&peer);
        let result = self.registry.receive(
            &request.envelope,
            peer,
            from_ip,
            ctx.local,
            ctx.lookup,
            now_ms,
        );
        let ack = match result {
            Ok(event) => {
                ctx.actions.push(InpAction::Negotiated(peer));
                let id = nid?;
                match self.persist(ctx, &id, true, now_ms) {
                    Stored::Later(token) => {
                        // Acknowledged once durable (see `on_stored`).
                        self.awaiting.insert(
                            token,
                            Awaiting::Ack {
                                channel,
                                peer,
                                id,
                                previous,
                                event,
                            },
                        );
                        return None;
                    }
                    Stored::Refused => {
                        self.registry.roll_back(id, previous.map(|b| *b));
                        self.persisted_len.remove(&id);
                        storage_refusal()
                    }
                    Stored::NoStore => {
                        ctx.peers.observe(peer, Observation::Valid);
                        self.emit(ctx, Arc::new(event));
                        accepted()
                    }
                }
            }
            Err(e) => {
                if e.is_misbehaviour() {
                    let score = ctx.peers.observe(peer, Observation::Invalid);
                    ctx.metrics.reject_message(e.code());
                    tracing::warn!(%peer, error = %e, score, "negotiation message refused");
                }
                NegotiationAck {
                    accepted: false,
                    code: e.code().to_owned(),
                    reason: e.to_string(),
                }
            }
        };
        Some((channel, ack))
    }

    /// The other party's answer to one of our messages.
    fn on_response(
        &mut self,
        ctx: &mut InpContext<'_>,
        peer: PeerId,
        request_id: request_response::OutboundRequestId,
        response: NegotiationAck,
        now_ms: u64,
    ) {
        let Some(Outgoing {
            prepared, reply, ..
        }) = self.finish(ctx, request_id)
        else {
            return;
        };
        if response.accepted {
            ctx.actions.push(InpAction::Negotiated(peer));
            match self.registry.commit(&prepared.id, ctx.local) {
                Ok(event) => {
                    if let Stored::Later(token) = self.persist(ctx, &prepared.id, false, now_ms) {
                        self.awaiting.insert(
                            token,
                            Awaiting::Reply {
                                reply,
                                id: prepared.id,
                                event,
                            },
                        );
                        return;
                    }
                    let event = Arc::new(event);
                    self.emit(ctx, Arc::clone(&event));
                    let _ = reply.send(Ok((*event).clone()));
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            }
        } else if let Some(event) = self.registry.abandon(&prepared.id) {
            // Its next message already proved it took ours.
            self.persist(ctx, &prepared.id, false, now_ms);
            self.emit(ctx, Arc::new(event.clone()));
            let _ = reply.send(Ok(event));
        } else {
            let _ = reply.send(Err(NegotiateError::Refused {
                code: response.code,
                reason: response.reason,
            }));
        }
    }

    /// One of our requests failed before its answer.
    fn on_failure(
        &mut self,
        ctx: &mut InpContext<'_>,
        peer: PeerId,
        request_id: request_response::OutboundRequestId,
        error: request_response::OutboundFailure,
    ) {
        let Some(out) = self.finish(ctx, request_id) else {
            return;
        };
        tracing::debug!(
            local = %ctx.local,
            %peer,
            %error,
            looked_up = out.looked_up,
            resent = out.resent,
            "a negotiation message failed before its answer"
        );
        if matches!(error, request_response::OutboundFailure::DialFailure) {
            if out.looked_up {
                self.fail(ctx, out, "no known address works, nor any the DHT knows");
                return;
            }
            // The connection limit may have refused the dial: free a slot for it.
            ctx.actions.push(InpAction::MakeRoom);
            // No known address may work: look the peer up in the DHT, then retry once.
            self.park(ctx, peer, out);
            return;
        }
        let lost_with_connection = matches!(
            error,
            request_response::OutboundFailure::ConnectionClosed
                | request_response::OutboundFailure::Io(_)
        );
        if lost_with_connection && !out.resent {
            // The other side may have closed the connection to make room before it answered,
            // or answered and lost the answer with it: send the same envelope once more (a
            // repeat is acknowledged without a change).
            ctx.metrics.inp_resent.inc();
            let mut out = out;
            out.resent = true;
            self.send(ctx, out);
            return;
        }
        self.fail(ctx, out, &error.to_string());
    }

    /// Sends a message now, or queues it behind the peer's in-flight requests.
    fn send(&mut self, ctx: &mut InpContext<'_>, out: Outgoing) {
        let peer = out.prepared.peer;
        match self.outbox.admit(peer, out) {
            Admit::Send(out) => self.dispatch(ctx, out),
            Admit::Queued => {}
            Admit::Full(out) => {
                self.registry.abandon(&out.prepared.id);
                let _ = out.reply.send(Err(NegotiateError::Busy {
                    what: "negotiation messages queued for one peer",
                    limit: outbox::MAX_QUEUED_PER_PEER,
                }));
            }
        }
    }

    fn dispatch(&mut self, ctx: &mut InpContext<'_>, out: Outgoing) {
        let peer = out.prepared.peer;
        let mut route = Vec::new();
        if !ctx.peers.is_connected(&peer) {
            ctx.actions.push(InpAction::Reach(peer));
            // The addresses the publisher signed into its intent, besides any the node knows.
            let local_link = ctx.peers.any_local_link();
            route = out
                .prepared
                .route
                .iter()
                .filter(|a| crate::addr_scope::usable(a, local_link))
                .cloned()
                .collect();
        }
        let request = NegotiationSend {
            envelope: out.prepared.envelope.clone(),
        };
        let id = ctx.wire.send_request_with_addresses(&peer, request, route);
        self.pending.insert(id, out);
    }

    /// A request ended: frees its slot (sending the next queued message) and returns it.
    fn finish(
        &mut self,
        ctx: &mut InpContext<'_>,
        id: request_response::OutboundRequestId,
    ) -> Option<Outgoing> {
        let out = self.pending.remove(&id)?;
        if let Some(next) = self.outbox.finished(&out.prepared.peer) {
            self.dispatch(ctx, next);
        }
        Some(out)
    }

    /// Parks a message whose peer could not be dialled and asks for a DHT lookup of the peer.
    fn park(&mut self, ctx: &mut InpContext<'_>, peer: PeerId, mut out: Outgoing) {
        out.looked_up = true;
        match self.outbox.park(peer, out) {
            Park::Lookup => {
                ctx.metrics.inp_route_lookups.inc();
                ctx.actions.push(InpAction::FindPeer(peer));
            }
            Park::Waiting => {}
            Park::Full(out) => self.fail(ctx, out, "too many messages waiting for a route"),
        }
    }

    /// The DHT lookup of `peer` ended (its addresses, if any, are known to the swarm now):
    /// sends its parked messages once more.
    pub(crate) fn on_peer_found(&mut self, ctx: &mut InpContext<'_>, peer: &PeerId) {
        for out in self.outbox.unpark(peer) {
            self.send(ctx, out);
        }
    }

    fn fail(&mut self, ctx: &mut InpContext<'_>, out: Outgoing, reason: &str) {
        let result = match self.registry.abandon(&out.prepared.id) {
            Some(event) => {
                self.emit(ctx, Arc::new(event.clone()));
                Ok(event)
            }
            None => Err(NegotiateError::Unreachable {
                peer: out.prepared.peer.to_string(),
                reason: reason.to_owned(),
            }),
        };
        let _ = out.reply.send(result);
    }

    /// Tells subscribers of a negotiation's new message; a receipt, sent or received, also
    /// becomes evidence for reputation, and a broken commitment of the other party (no
    /// delivery by the due time, no receipt after a delivery) lowers its reputation.
    fn emit(&mut self, ctx: &mut InpContext<'_>, event: Arc<NegotiationEvent>) {
        if event.kind == NegotiationEventKind::Receipt
            && let Ok(id) = event.negotiation_id.parse::<NegotiationId>()
        {
            ctx.actions.push(InpAction::Attest(id));
        }
        if let Some(fault) = &event.fault
            && let Ok(peer) = fault.peer.parse::<PeerId>()
            && peer != ctx.local
        {
            let score = ctx.peers.observe(peer, Observation::Fault);
            tracing::info!(%peer, kind = %fault.kind, score, negotiation = %event.negotiation_id, "negotiation fault");
        }
        let _ = ctx.events.send(event);
    }

    // ----- persistence -----

    /// Hands the negotiation's messages not yet written to the writer. With `report`, or when
    /// a local caller waits, the write is reported back under the returned token.
    fn persist(
        &mut self,
        ctx: &mut InpContext<'_>,
        id: &NegotiationId,
        report: bool,
        now_ms: u64,
    ) -> Stored {
        let Some(n) = self.registry.get(id) else {
            return Stored::NoStore;
        };
        let done = self.persisted_len.get(id).copied().unwrap_or(0);
        let envelopes = n.transcript().envelopes();
        if done >= envelopes.len() {
            return Stored::NoStore;
        }
        let len = envelopes.len();
        let meta = meta_of(n, &ctx.local, n.state().kind(), now_ms);
        let write = |token| Write::Transcript {
            id: id.0,
            meta,
            first_seq: u64::try_from(done).unwrap_or(u64::MAX),
            messages: envelopes[done..].to_vec(),
            token: Some(token),
        };
        match ctx.store.write_reported(Owner::Negotiation, write) {
            Ok(Some(token)) => {
                self.persisted_len.insert(*id, len);
                Stored::Later(token)
            }
            Ok(None) => Stored::NoStore,
            Err(_) if report => Stored::Refused,
            // Written with the negotiation's next change.
            Err(_) => Stored::NoStore,
        }
    }

    fn save_meta(&self, ctx: &mut InpContext<'_>, id: &NegotiationId, now_ms: u64) {
        if let Some(n) = self.registry.get(id) {
            ctx.store.save(Write::Meta {
                id: id.0,
                meta: meta_of(n, &ctx.local, n.state().kind(), now_ms),
            });
        }
    }

    /// A write of ours is durable, or failed: acknowledge or refuse the message it held, or
    /// answer the local caller.
    pub(crate) fn on_stored(&mut self, ctx: &mut InpContext<'_>, done: Completion) {
        let Some(waiting) = self.awaiting.remove(&done.token) else {
            return;
        };
        match waiting {
            Awaiting::Ack {
                channel,
                peer,
                id,
                previous,
                event,
            } => {
                let ack = match done.result {
                    Ok(()) => {
                        ctx.peers.observe(peer, Observation::Valid);
                        self.emit(ctx, Arc::new(event));
                        accepted()
                    }
                    Err(reason) => {
                        tracing::error!(%reason, negotiation = %id, "negotiation message not stored; refused");
                        self.registry.roll_back(id, previous.map(|b| *b));
                        self.persisted_len.remove(&id);
                        storage_refusal()
                    }
                };
                let _ = ctx.wire.send_response(channel, ack);
            }
            Awaiting::Reply { reply, id, event } => {
                let result = match done.result {
                    Ok(()) => {
                        self.emit(ctx, Arc::new(event.clone()));
                        Ok(event)
                    }
                    Err(reason) => {
                        // Written again from the start with the next change (rewrites of the
                        // same bytes are no-ops).
                        self.persisted_len.remove(&id);
                        Err(NegotiateError::Storage {
                            what: "its message, which the other party took",
                            reason,
                        })
                    }
                };
                let _ = reply.send(result);
            }
        }
    }

    // ----- housekeeping -----

    /// Negotiations past their deadlines end; one whose expiry left a commitment unmet is
    /// reported as a fault.
    pub(crate) fn tick(&mut self, ctx: &mut InpContext<'_>, now_ms: u64) {
        for id in self.registry.handle_timeouts(now_ms) {
            tracing::info!(negotiation = %id, "negotiation timed out");
            self.save_meta(ctx, &id, now_ms);
            if let Some(event) = self.registry.timeout_event(&id, ctx.local)
                && event.fault.is_some()
            {
                self.emit(ctx, Arc::new(event));
            }
        }
    }

    /// Forgets finished negotiations past `retention`, and has the store do the same (and
    /// keep at most [`super::MAX_FINISHED_STORED`] finished ones).
    pub(crate) fn prune(
        &mut self,
        ctx: &mut InpContext<'_>,
        now_ms: u64,
        retention: std::time::Duration,
    ) {
        let pruned = self.registry.prune_finished(now_ms, retention);
        for id in &pruned {
            self.persisted_len.remove(id);
        }
        // Past their retention, or beyond the store's count of finished ones (the registry
        // forgets finished negotiations when it is full, the store keeps the newest).
        let crowded = self.registry.len() >= super::MAX_NEGOTIATIONS / 2;
        if (!pruned.is_empty() || crowded) && ctx.store.is_open() {
            let retention = u64::try_from(retention.as_millis());
            ctx.store.save(Write::PruneNegotiations {
                finished: super::FINISHED_STATES,
                before_ms: now_ms.saturating_sub(retention.unwrap_or(u64::MAX)),
                keep: super::MAX_FINISHED_STORED,
            });
        }
    }

    /// The node stops: every local caller still waiting hears so.
    pub(crate) fn stop(&mut self) {
        for (_, waiting) in self.awaiting.drain() {
            if let Awaiting::Reply { reply, .. } = waiting {
                let _ = reply.send(Err(NegotiateError::Stopped));
            }
        }
        let waiting = self.outbox.drain();
        for out in self.pending.drain().map(|(_, o)| o).chain(waiting) {
            let _ = out.reply.send(Err(NegotiateError::Stopped));
        }
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
