//! The IDP driver: the state of the Intent Discovery Protocol on one node and what it does
//! with each message.
//!
//! The event loop routes gossip messages on intent topics, catch-up requests and answers,
//! publishes and ticks here. The driver owns the seen and forwarded caches, the publisher and
//! forwarder quotas, the open intents, the publishes waiting for subscribers and the per-peer
//! catch-up rate limit. What reaches outside (local subscribers, the store, peers' local
//! reputation, metrics) goes through an [`IdpContext`] the router hands in; gossipsub is
//! handed in as the behaviour alone. Every method takes its clock readings (`now`, `now_ms`)
//! as arguments, so tests drive it with a controlled clock.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use libp2p::gossipsub::{self, IdentTopic};
use mesh_core::intent::IntentId;
use mesh_core::{Capability, Observation, SignedIntent};
use mesh_proto::v1::{OpenIntentsRequest, OpenIntentsResponse};
use tokio::sync::{broadcast, oneshot};
use tokio::time::Instant;

use super::{SeenIntents, Verdict};
use crate::config::Limits;
use crate::error::PublishError;
use crate::handle::{PublishOutcome, ReceivedIntent, TopicOutcome, id_hex};
use crate::intent_book::{IntentBook, IntentUpdate};
use crate::metrics::MeshMetrics;
use crate::open_intents::{MAX_CATCHUP_INTENTS, OpenIntents};
use crate::peers::PeerBook;
use crate::persist::Write;
use crate::rate_limit::{KeyedLimiter, Window};
use crate::restore::stored_intent;

/// Publishers (and forwarding peers) each intent quota remembers at most.
const QUOTA_KEYS: usize = 16_384;
/// Publishes waiting for subscribers at most.
const MAX_PENDING_PUBLISHES: usize = 256;
/// Shortest interval between two catch-up answers to one peer.
const CATCHUP_MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Peers whose last catch-up request is remembered for rate limiting.
const CATCHUP_PEERS_REMEMBERED: usize = 4096;
/// Capabilities one catch-up request may name.
const MAX_CATCHUP_CAPABILITIES: usize = 64;
/// Topics one node subscribes to at most.
pub(super) const MAX_SUBSCRIPTIONS: usize = 256;
/// New connections asked for catch-up within [`CATCHUP_WINDOW`]: enough for a node that joins
/// or comes back, without a whole catch-up answer (up to 64 intents to verify) for every
/// connection a busy node opens, most of them for DHT queries.
const CATCHUP_ON_CONNECT: usize = 4;
const CATCHUP_WINDOW: Duration = Duration::from_secs(30);

/// What the driver reaches outside its own state: local subscribers, the store, the local
/// reputation of peers and the metrics. The router builds it from its own fields by disjoint
/// borrow.
pub(crate) struct IdpContext<'a> {
    /// Local reputation of peers.
    pub(crate) peers: &'a mut PeerBook,
    /// The node's metrics.
    pub(crate) metrics: &'a MeshMetrics,
    /// Local subscribers of verified intents.
    pub(crate) intents: &'a broadcast::Sender<Arc<ReceivedIntent>>,
    /// Local subscribers of intents' status changes (cancellations).
    pub(crate) updates: &'a broadcast::Sender<Arc<IntentUpdate>>,
    /// The store link: queues a write, dropped when the queue is full or there is no store.
    pub(crate) store: &'a mut dyn FnMut(Write),
}

/// An intent of ours waiting for subscribers on some of its topics.
pub(crate) struct PendingPublish {
    intent: Box<SignedIntent>,
    waiting: Vec<Capability>,
    done: Vec<TopicOutcome>,
    deadline: Instant,
    reply: oneshot::Sender<Result<PublishOutcome, PublishError>>,
}

/// The Intent Discovery Protocol's state on this node.
pub(crate) struct IdpDriver {
    /// Intent ids delivered to local subscribers, until each intent expires.
    seen: SeenIntents,
    /// Gossip message ids accepted for forwarding, until each intent expires: a replay after
    /// gossipsub's own duplicate cache forgot it is not forwarded again.
    forwarded: SeenIntents,
    /// Intents per publisher, at every hop.
    publisher_quota: KeyedLimiter<PeerId>,
    /// Intents new to this node per relaying peer (gossip and catch-up answers).
    forwarder_quota: KeyedLimiter<PeerId>,
    /// Open intents, for catch-up answers and negotiations.
    open_intents: OpenIntents,
    /// When each peer was last answered a catch-up request.
    catchup_served: HashMap<PeerId, Instant>,
    /// Publishes waiting for a subscriber.
    pending_publishes: Vec<PendingPublish>,
    /// Proof-of-work bits asked of every intent (0 for none).
    work_bits: u8,
    /// This node's intents and the cancellations it has seen.
    pub(super) book: IntentBook,
    /// The capabilities whose topics this node joined, at most [`MAX_SUBSCRIPTIONS`].
    pub(super) subscriptions: Vec<Capability>,
    /// New connections asked for catch-up: at most [`CATCHUP_ON_CONNECT`] within
    /// [`CATCHUP_WINDOW`].
    pub(super) catchup_asked: Window,
    /// Capabilities whose topic peers are being looked up in the DHT.
    pub(super) topic_lookups: HashSet<Capability>,
}

impl IdpDriver {
    /// A driver with the intent quotas of `limits`, asking `work_bits` of proof of work.
    pub(crate) fn new(limits: &Limits, work_bits: u8) -> Self {
        Self {
            seen: SeenIntents::default(),
            forwarded: SeenIntents::default(),
            publisher_quota: KeyedLimiter::new(limits.intents_per_publisher, QUOTA_KEYS),
            forwarder_quota: KeyedLimiter::new(limits.intents_per_forwarder, QUOTA_KEYS),
            open_intents: OpenIntents::default(),
            catchup_served: HashMap::new(),
            pending_publishes: Vec::new(),
            work_bits,
            book: IntentBook::default(),
            subscriptions: Vec::new(),
            catchup_asked: Window::new(CATCHUP_ON_CONNECT, CATCHUP_WINDOW),
            topic_lookups: HashSet::new(),
        }
    }

    /// The open intents held.
    pub(crate) fn open(&self) -> &OpenIntents {
        &self.open_intents
    }

    /// Drops intent `id` from the open ones (cancelled).
    pub(crate) fn forget(&mut self, id: &IntentId) {
        self.open_intents.remove(id);
    }

    /// Holds an intent known from elsewhere (our own, or one read back from the store): it
    /// counts as seen and is open.
    pub(crate) fn hold(&mut self, intent: Arc<SignedIntent>, now_ms: u64) {
        self.seen.insert(intent.id.0, intent.content.expires_at_ms);
        self.open_intents.insert(intent, now_ms);
    }

    /// Forgets the seen and forwarded ids expired at `now_ms`.
    pub(crate) fn prune(&mut self, now_ms: u64) {
        self.seen.prune(now_ms);
        self.forwarded.prune(now_ms);
    }

    // ----- publishing -----

    /// Whether this node may publish one more intent: every node drops a publisher's intents
    /// beyond the quota, so the node keeps to it rather than publish what the network refuses.
    pub(crate) fn allow_publish(
        &mut self,
        local: PeerId,
        now: Instant,
    ) -> Result<(), PublishError> {
        if self.publisher_quota.allow(&local, now) {
            return Ok(());
        }
        let rate = self.publisher_quota.rate();
        Err(PublishError::RateLimited {
            what: "intents published",
            per_minute: rate.per_second * 60.0,
            burst: rate.burst,
        })
    }

    /// Publishes our intent (already held, see [`IdpDriver::hold`]) on each of its topics that
    /// has subscribers; the others wait until `deadline`. Returns the capabilities whose
    /// subscribers the router should look up in the DHT (none when it is done).
    pub(crate) fn publish(
        &mut self,
        gossipsub: &mut gossipsub::Behaviour,
        intent: Box<SignedIntent>,
        reply: oneshot::Sender<Result<PublishOutcome, PublishError>>,
        deadline: Instant,
    ) -> Vec<Capability> {
        let mut pending = PendingPublish {
            waiting: intent.capabilities.clone(),
            intent,
            done: Vec::new(),
            deadline,
            reply,
        };
        try_publish(gossipsub, &mut pending, false);
        if pending.waiting.is_empty() {
            finish_publish(pending);
            Vec::new()
        } else if self.pending_publishes.len() >= MAX_PENDING_PUBLISHES {
            try_publish(gossipsub, &mut pending, true);
            finish_publish(pending);
            Vec::new()
        } else {
            let lookups = pending.waiting.clone();
            self.pending_publishes.push(pending);
            lookups
        }
    }

    /// Whether publishes wait for subscribers.
    pub(crate) fn has_pending_publishes(&self) -> bool {
        !self.pending_publishes.is_empty()
    }

    /// Publishes waiting ones where subscribers arrived; with `force_expired`, those past
    /// their deadline are published anyway (to no one) and answered.
    pub(crate) fn retry_publishes(
        &mut self,
        gossipsub: &mut gossipsub::Behaviour,
        force_expired: bool,
        now: Instant,
    ) {
        let pending = std::mem::take(&mut self.pending_publishes);
        for mut p in pending {
            let force = force_expired && p.deadline <= now;
            try_publish(gossipsub, &mut p, force);
            if p.waiting.is_empty() {
                finish_publish(p);
            } else {
                self.pending_publishes.push(p);
            }
        }
    }

    /// Answers every waiting publish with [`PublishError::Stopped`].
    pub(crate) fn stop(&mut self) {
        for p in self.pending_publishes.drain(..) {
            let _ = p.reply.send(Err(PublishError::Stopped));
        }
    }

    // ----- gossip -----

    /// Validates a gossip message on an intent topic and applies what validation alone cannot
    /// see: a replay of a message accepted before is ignored, and an intent beyond its
    /// publisher's quota is dropped (rejected, with a penalty, when the publisher itself sent
    /// it).
    pub(crate) fn check_gossip(
        &mut self,
        topic: &str,
        data: &[u8],
        message_id: &gossipsub::MessageId,
        source: PeerId,
        now_ms: u64,
        now: Instant,
    ) -> Verdict {
        let verdict = super::validate_stamped(topic, data, now_ms, self.work_bits);
        self.admit(verdict, message_id, source, now)
    }

    fn admit(
        &mut self,
        verdict: Verdict,
        message_id: &gossipsub::MessageId,
        source: PeerId,
        now: Instant,
    ) -> Verdict {
        let expires_at_ms = match &verdict {
            Verdict::Accept(intent) => intent.content.expires_at_ms,
            Verdict::Cancel(c) => c.content.expires_at_ms,
            Verdict::Ignore(_) | Verdict::Reject(_) => return verdict,
        };
        let Some(key) = super::message_key(message_id) else {
            return verdict;
        };
        if self.forwarded.contains(&key) {
            return Verdict::Ignore("replayed");
        }
        if let Verdict::Accept(intent) = &verdict
            && !self.seen.contains(&intent.id.0)
            && !self.publisher_quota.allow(&intent.publisher, now)
        {
            return if intent.publisher == source {
                Verdict::Reject("over_quota")
            } else {
                Verdict::Ignore("over_quota_relayed")
            };
        }
        self.forwarded.insert(key, expires_at_ms);
        verdict
    }

    /// Keeps a verified intent among the open ones and hands it to local subscribers, unless it
    /// was seen before (or cancelled). Returns whether it was new.
    ///
    /// It is stored only while the peer it came from (gossip's forwarder, or the peer that
    /// answered a catch-up) is within its quota of new intents: fresh keys behind one peer
    /// each pass the per-publisher quota, and this bounds what one peer makes the node write.
    /// Beyond it the intent is still delivered and forwarded: refusing it would mark it seen
    /// in gossipsub, and a peer over its quota could then keep honest intents from arriving
    /// through anyone else.
    pub(crate) fn deliver(
        &mut self,
        ctx: &mut IdpContext<'_>,
        intent: SignedIntent,
        from: PeerId,
        topic: Capability,
        now_ms: u64,
        now: Instant,
    ) -> bool {
        if self.book.cancellation_of(&intent).is_some()
            || !self.seen.insert(intent.id.0, intent.content.expires_at_ms)
        {
            return false;
        }
        self.open_intents.insert(Arc::new(intent.clone()), now_ms);
        if self.forwarder_quota.allow(&from, now) {
            (ctx.store)(Write::Intent(stored_intent(&intent, false, now_ms)));
        } else {
            ctx.metrics.throttle_intent("forwarder");
        }
        tracing::debug!(id = %intent.id, %topic, %from, "intent received");
        let _ = ctx.intents.send(Arc::new(ReceivedIntent {
            intent,
            from,
            topic,
            received_at_ms: now_ms,
        }));
        true
    }

    // ----- catch-up -----

    /// The catch-up request for `capabilities`, if there are any.
    pub(crate) fn catchup_request(capabilities: &[Capability]) -> Option<OpenIntentsRequest> {
        if capabilities.is_empty() {
            return None;
        }
        Some(OpenIntentsRequest {
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            limit: u32::try_from(MAX_CATCHUP_INTENTS).unwrap_or(u32::MAX),
        })
    }

    /// The answer to `peer`'s catch-up request: the open intents of the capabilities asked for
    /// that `offered` lets through, or nothing when the peer asked less than
    /// [`CATCHUP_MIN_INTERVAL`] ago or the request is malformed (which counts against it).
    pub(crate) fn answer_catchup(
        &mut self,
        ctx: &mut IdpContext<'_>,
        peer: PeerId,
        request: &OpenIntentsRequest,
        offered: impl Fn(&SignedIntent) -> bool,
        now_ms: u64,
        now: Instant,
    ) -> OpenIntentsResponse {
        let too_soon = self
            .catchup_served
            .get(&peer)
            .is_some_and(|last| now.duration_since(*last) < CATCHUP_MIN_INTERVAL);
        if self.catchup_served.len() >= CATCHUP_PEERS_REMEMBERED {
            self.catchup_served
                .retain(|_, last| now.duration_since(*last) < CATCHUP_MIN_INTERVAL);
        }
        self.catchup_served.insert(peer, now);
        let parsed = if request.capabilities.len() > MAX_CATCHUP_CAPABILITIES {
            None
        } else {
            mesh_core::capability::parse_capabilities(&request.capabilities).ok()
        };
        let envelopes = match parsed {
            None => {
                ctx.peers.observe(peer, Observation::Invalid);
                ctx.metrics.reject_message("bad_catchup_request");
                Vec::new()
            }
            Some(_) if too_soon => Vec::new(),
            Some(caps) => {
                let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
                ctx.metrics.catchup_served.inc();
                self.open_intents
                    .matching(&caps, limit, now_ms)
                    .iter()
                    .filter(|i| offered(i))
                    .map(|i| i.envelope.clone())
                    .collect()
            }
        };
        OpenIntentsResponse { envelopes }
    }

    /// Takes `peer`'s answer to our catch-up request: each intent goes through the same
    /// verification and de-duplication as gossip, and must be on one of `subscriptions`.
    pub(crate) fn take_catchup_answer(
        &mut self,
        ctx: &mut IdpContext<'_>,
        peer: PeerId,
        response: OpenIntentsResponse,
        now_ms: u64,
        now: Instant,
    ) {
        if response.envelopes.len() > MAX_CATCHUP_INTENTS {
            ctx.peers.observe(peer, Observation::Invalid);
            ctx.metrics.reject_message("catchup_too_many");
            return;
        }
        // Up to 64 intents from as many publishers: their signatures are checked in one batch
        // (falling back to one by one when the batch fails), see BENCHMARKS.md.
        let items: Vec<&[u8]> = response.envelopes.iter().map(Vec::as_slice).collect();
        for verified in SignedIntent::verify_batch(&items, now_ms) {
            match verified {
                Ok(intent)
                    if self.work_bits > 0 && intent.work_bits() < u32::from(self.work_bits) =>
                {
                    ctx.peers.observe(peer, Observation::Invalid);
                    ctx.metrics.reject_message("insufficient_work");
                }
                Ok(intent) => {
                    let Some(topic) = intent
                        .capabilities
                        .iter()
                        .find(|c| self.subscriptions.contains(c))
                        .cloned()
                    else {
                        ctx.peers.observe(peer, Observation::Invalid);
                        ctx.metrics.reject_message("catchup_unasked");
                        continue;
                    };
                    ctx.peers.observe(peer, Observation::Valid);
                    if self.deliver(ctx, intent, peer, topic, now_ms, now) {
                        ctx.metrics.intents_caught_up.inc();
                    }
                }
                Err(mesh_core::IntentError::Expired { .. })
                | Err(mesh_core::IntentError::FromTheFuture { .. }) => {}
                Err(e) => {
                    ctx.metrics.reject_message(super::reason_of(&e));
                    let score = ctx.peers.observe(peer, Observation::Invalid);
                    tracing::warn!(%peer, error = %e, score, "invalid intent in catch-up answer");
                }
            }
        }
    }
}

/// Peers known to be subscribed to `cap`'s topic.
pub(crate) fn subscribers_of(gossipsub: &gossipsub::Behaviour, cap: &Capability) -> usize {
    let hash = IdentTopic::new(cap.topic()).hash();
    gossipsub
        .all_peers()
        .filter(|(_, topics)| topics.contains(&&hash))
        .count()
}

/// Publishes on every waiting topic that has subscribers (or on all of them if `force`).
fn try_publish(gossipsub: &mut gossipsub::Behaviour, pending: &mut PendingPublish, force: bool) {
    let mut still_waiting = Vec::new();
    for cap in std::mem::take(&mut pending.waiting) {
        let peers = subscribers_of(gossipsub, &cap);
        if peers == 0 && !force {
            still_waiting.push(cap);
            continue;
        }
        let topic = IdentTopic::new(cap.topic());
        let result = gossipsub.publish(topic, pending.intent.envelope.clone());
        let peers = match result {
            Ok(_) => peers,
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => 0,
            Err(gossipsub::PublishError::Duplicate) => peers,
            Err(e) => {
                tracing::warn!(%cap, error = %e, "publish failed");
                0
            }
        };
        pending.done.push(TopicOutcome {
            capability: cap.to_string(),
            peers,
        });
    }
    pending.waiting = still_waiting;
}

fn finish_publish(pending: PendingPublish) {
    let outcome = PublishOutcome {
        id: id_hex(&pending.intent.id),
        topics: pending.done,
    };
    let _ = pending.reply.send(Ok(outcome));
}

#[cfg(test)]
mod tests;
