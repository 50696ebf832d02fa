//! The IDP driver's side of the network: the topics this node joined, gossip messages on
//! them, and catch-up requests and answers.

use std::collections::HashSet;
use std::sync::Arc;

use libp2p::gossipsub::{self, IdentTopic};
use libp2p::{PeerId, request_response};
use mesh_core::{Capability, Observation, SignedIntent};
use mesh_proto::v1::{OpenIntentsRequest, OpenIntentsResponse};
use tokio::time::Instant;

use super::Verdict;
use super::driver::{IdpContext, IdpDriver, MAX_SUBSCRIPTIONS, subscribers_of};
use crate::scoring;

/// Codec of the catch-up protocol.
type CatchupBehaviour = request_response::Behaviour<super::CatchupCodec>;

impl IdpDriver {
    /// The capabilities whose topics this node joined.
    pub(crate) fn subscriptions(&self) -> &[Capability] {
        &self.subscriptions
    }

    /// Joins the topics of `capabilities` not joined yet, up to [`MAX_SUBSCRIPTIONS`]; returns
    /// those joined now.
    pub(crate) fn subscribe(
        &mut self,
        gossipsub: &mut gossipsub::Behaviour,
        capabilities: Vec<Capability>,
    ) -> Vec<Capability> {
        let mut added = Vec::new();
        for cap in capabilities {
            if self.subscriptions.contains(&cap) {
                continue;
            }
            if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                tracing::warn!(%cap, "subscription limit reached; not joining topic");
                continue;
            }
            let topic = IdentTopic::new(cap.topic());
            if let Err(e) = gossipsub.subscribe(&topic) {
                tracing::warn!(%cap, error = %e, "cannot subscribe");
                continue;
            }
            if let Err(e) = gossipsub.set_topic_params(topic, scoring::topic_params(None)) {
                tracing::warn!(%cap, error = %e, "cannot set topic score parameters");
            }
            self.subscriptions.push(cap.clone());
            added.push(cap);
        }
        added
    }

    /// The catch-up request for a new connection, while fewer than the most in the window
    /// were asked and the node has topics.
    pub(crate) fn catchup_on_connect(&mut self, now: Instant) -> Option<OpenIntentsRequest> {
        if self.subscriptions.is_empty() || !self.catchup_asked.take(now) {
            return None;
        }
        Self::catchup_request(&self.subscriptions)
    }

    /// Whether a DHT lookup of `cap`'s topic peers should start (none is running).
    pub(crate) fn start_topic_lookup(&mut self, cap: &Capability) -> bool {
        self.topic_lookups.insert(cap.clone())
    }

    /// The topic lookups still running are `running`; the others ended.
    pub(crate) fn topic_lookups_running(&mut self, running: &HashSet<Capability>) {
        self.topic_lookups.retain(|c| running.contains(c));
    }

    /// Joined topics with fewer than `low` known subscribers.
    pub(crate) fn topics_short_of_peers(
        &self,
        gossipsub: &gossipsub::Behaviour,
        low: usize,
    ) -> Vec<Capability> {
        self.subscriptions
            .iter()
            .filter(|c| subscribers_of(gossipsub, c) < low)
            .cloned()
            .collect()
    }

    /// A gossip message on an intent topic, from `source`: validated, reported to gossipsub,
    /// and delivered (or applied, for a cancellation). Returns the publisher of an intent
    /// accepted, an input of gossipsub's scoring.
    #[allow(clippy::too_many_arguments)] // the message's parts as gossipsub hands them, and the clock
    pub(crate) fn on_gossip(
        &mut self,
        ctx: &mut IdpContext<'_>,
        gossipsub: &mut gossipsub::Behaviour,
        source: PeerId,
        message_id: gossipsub::MessageId,
        message: &gossipsub::Message,
        now_ms: u64,
        now: Instant,
    ) -> Option<PeerId> {
        let verdict = self.check_gossip(
            message.topic.as_str(),
            &message.data,
            &message_id,
            source,
            now_ms,
            now,
        );
        gossipsub.report_message_validation_result(&message_id, &source, verdict.acceptance());
        match verdict {
            Verdict::Accept(intent) => {
                ctx.peers.observe(source, Observation::Valid);
                let publisher = intent.publisher;
                if let Some(topic) = Capability::from_topic(message.topic.as_str()) {
                    if self.deliver(ctx, *intent, source, topic, now_ms, now) {
                        ctx.metrics.intents_received.inc();
                    } else {
                        ctx.metrics.intents_duplicate.inc();
                    }
                }
                Some(publisher)
            }
            Verdict::Cancel(c) => {
                ctx.peers.observe(source, Observation::Valid);
                self.apply_cancellation(ctx, Arc::from(c), now_ms);
                None
            }
            Verdict::Ignore(reason) => {
                ctx.metrics.reject_message(reason);
                None
            }
            Verdict::Reject(reason) => {
                ctx.metrics.reject_message(reason);
                let score = ctx.peers.observe(source, Observation::Invalid);
                tracing::warn!(peer = %source, reason, score, "invalid intent dropped");
                None
            }
        }
    }

    /// An event of the catch-up protocol: a request answered with the open intents that
    /// `offered` lets through, or an answer taken.
    pub(crate) fn on_catchup_event(
        &mut self,
        ctx: &mut IdpContext<'_>,
        wire: &mut CatchupBehaviour,
        event: request_response::Event<OpenIntentsRequest, OpenIntentsResponse>,
        offered: impl Fn(&SignedIntent) -> bool,
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
                let response = self.answer_catchup(ctx, peer, &request, offered, now_ms, now);
                let _ = wire.send_response(channel, response);
            }
            request_response::Event::Message {
                peer,
                message: request_response::Message::Response { response, .. },
                ..
            } => self.take_catchup_answer(ctx, peer, response, now_ms, now),
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "catch-up request failed");
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "catch-up answer failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}
