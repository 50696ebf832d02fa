//! Every negotiation of this node, bounded: what is sent, received, in flight and adopted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use mesh_core::intent::IntentId;
use mesh_core::negotiation::{
    Body, Config, Header, MessageKind, Negotiation, NegotiationId, Role, State, Transcript, peek,
};
use mesh_core::{IntentStatus, Keypair, SignedIntent};

use super::view::{FaultView, NegotiationEventKind, event_view, summary};
use super::{
    Action, InpError, MAX_LIVE_OFFERS_PER_INTENT, MAX_LIVE_OFFERS_PER_IP, MAX_LIVE_OFFERS_PER_PEER,
    MAX_NEGOTIATIONS, NegotiationEvent, NegotiationSummary,
};

/// Looks up an intent this node holds, or says why it takes no negotiation.
pub(crate) type IntentLookup<'a> = dyn Fn(&IntentId) -> Result<Arc<SignedIntent>, InpError> + 'a;

/// Every negotiation of this node. Owned by the event loop.
#[derive(Debug, Default)]
pub struct Registry {
    negotiations: HashMap<NegotiationId, Negotiation>,
    /// Our messages waiting for their acknowledgement: the negotiation as it will be once
    /// acknowledged. At most one per negotiation.
    in_flight: HashMap<NegotiationId, Pending>,
    /// Our messages the other party evidently took before its acknowledgement reached us: its
    /// next message chained on them. Settled by `commit` or `abandon`.
    adopted: HashMap<NegotiationId, NegotiationEvent>,
    /// The IP address each negotiation opened here by an agent's offer came from (loopback
    /// and unknown ones are not kept), for [`MAX_LIVE_OFFERS_PER_IP`].
    origins: HashMap<NegotiationId, IpAddr>,
}

#[derive(Debug)]
struct Pending {
    advanced: Negotiation,
    body: Body,
    seq: u64,
}

/// A message made and signed, waiting for the recipient's acknowledgement.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The negotiation.
    pub id: NegotiationId,
    /// The recipient.
    pub peer: PeerId,
    /// The signed envelope.
    pub envelope: Vec<u8>,
    /// Where the recipient takes offers, when it is the intent's publisher: the addresses it
    /// signed into the intent, dialled when not connected.
    pub route: Vec<libp2p::Multiaddr>,
}

impl Registry {
    /// Makes and signs our next message, without changing the registry until
    /// [`Registry::commit`].
    pub(crate) fn prepare(
        &mut self,
        action: Action,
        keypair: &Keypair,
        intent_of: &IntentLookup<'_>,
        now_ms: u64,
    ) -> Result<Prepared, InpError> {
        let local = keypair.public().to_peer_id();
        let (id, mut negotiation, body) = match action {
            Action::Offer { intent, proposal } => {
                let signed = intent_of(&intent)?;
                if signed.is_expired(now_ms) {
                    return Err(InpError::UnknownIntent(intent.to_string()));
                }
                let id = NegotiationId::derive(&intent, &signed.publisher, &local);
                let negotiation = match self.negotiations.get(&id) {
                    Some(n) => n.clone(),
                    None => Negotiation::new(
                        intent,
                        signed.publisher,
                        local,
                        Config::default().with_agree_by_ms(signed.content.expires_at_ms),
                        now_ms,
                    )?,
                };
                (id, negotiation, Body::Offer(proposal))
            }
            Action::Reply { negotiation, body } => {
                let n = self
                    .negotiations
                    .get(&negotiation)
                    .cloned()
                    .ok_or_else(|| InpError::UnknownNegotiation(negotiation.to_string()))?;
                (negotiation, n, body)
            }
        };
        if self.in_flight.contains_key(&id) {
            return Err(InpError::InFlight(id.to_string()));
        }
        let role = negotiation
            .role_of(&local)
            .ok_or_else(|| InpError::NotForUs(local.to_string()))?;
        if role == Role::Publisher && matches!(body, Body::Accept) {
            self.refuse_second_agreement(&negotiation)?;
        }
        let peer = negotiation.peer(role.other());
        let route = if role == Role::Agent {
            intent_of(&negotiation.intent_id())
                .map(|i| i.publisher_addrs())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let seq = negotiation.next_seq();
        let envelope = negotiation.send(body.clone(), keypair, now_ms)?;
        self.in_flight.insert(
            id,
            Pending {
                advanced: negotiation,
                body,
                seq,
            },
        );
        Ok(Prepared {
            id,
            peer,
            envelope,
            route,
        })
    }

    /// The recipient acknowledged our message of negotiation `id`: take the step. Returns the
    /// event.
    pub(crate) fn commit(
        &mut self,
        id: &NegotiationId,
        local: PeerId,
    ) -> Result<NegotiationEvent, InpError> {
        if let Some(view) = self.adopted.remove(id) {
            return Ok(view);
        }
        let pending = self
            .in_flight
            .remove(id)
            .ok_or_else(|| InpError::UnknownNegotiation(id.to_string()))?;
        if !self.negotiations.contains_key(id) {
            self.make_room()?;
        }
        self.settle(*id, pending, local)
    }

    fn settle(
        &mut self,
        id: NegotiationId,
        pending: Pending,
        local: PeerId,
    ) -> Result<NegotiationEvent, InpError> {
        let role = pending
            .advanced
            .role_of(&local)
            .ok_or_else(|| InpError::NotForUs(local.to_string()))?;
        let view = event_view(&pending.advanced, pending.seq, &pending.body, role, false);
        self.negotiations.insert(id, pending.advanced);
        Ok(view)
    }

    /// The recipient refused our message, or never answered: forget the prepared step. If the
    /// other party had in fact taken it (its next message chained on it), the step stands and
    /// its event is returned.
    pub(crate) fn abandon(&mut self, id: &NegotiationId) -> Option<NegotiationEvent> {
        self.in_flight.remove(id);
        self.adopted.remove(id)
    }

    /// Whether `envelope` (whose verified header is `header`), sent by `from`, is already in
    /// its negotiation's transcript: a retry of a message whose acknowledgement was lost with
    /// its connection. It is acknowledged again and changes nothing (see `docs/PROTOCOLS.md`,
    /// "Retries").
    pub fn holds(&self, header: &Header, envelope: &[u8], from: &PeerId) -> bool {
        header.sender == *from
            && self
                .negotiations
                .get(&header.negotiation_id)
                .is_some_and(|n| n.transcript().envelopes().iter().any(|e| e == envelope))
    }

    /// Takes a received envelope into its negotiation (opening one for an `Offer` on an intent
    /// this node published).
    ///
    /// `from_ip` is the address the sender is connected from, if known: a new offer is
    /// refused when its intent, its agent or (`from_ip` not loopback) its address already has
    /// the most live offers allowed ([`MAX_LIVE_OFFERS_PER_INTENT`],
    /// `MAX_LIVE_OFFERS_PER_PEER`, `MAX_LIVE_OFFERS_PER_IP`).
    pub fn receive(
        &mut self,
        envelope: &[u8],
        from: PeerId,
        from_ip: Option<IpAddr>,
        local: PeerId,
        intent_of: &IntentLookup<'_>,
        now_ms: u64,
    ) -> Result<NegotiationEvent, InpError> {
        let header = peek(envelope)?;
        if header.sender != from {
            return Err(InpError::Relayed {
                signer: header.sender.to_string(),
                from: from.to_string(),
            });
        }
        if header.recipient != local {
            return Err(InpError::NotForUs(header.recipient.to_string()));
        }
        if let Some(pending) = self.in_flight.get(&header.negotiation_id) {
            // The other party answered our message before its acknowledgement reached us: its
            // message chains on ours, which proves it took ours. Take our step first.
            if header.seq != pending.advanced.next_seq() {
                return Err(InpError::InFlight(header.negotiation_id.to_string()));
            }
            if let Some(pending) = self.in_flight.remove(&header.negotiation_id) {
                let view = self.settle(header.negotiation_id, pending, local)?;
                self.adopted.insert(header.negotiation_id, view);
            }
        }
        let mut negotiation = match self.negotiations.get(&header.negotiation_id) {
            Some(n) => n.clone(),
            None => {
                if header.kind != MessageKind::Offer || header.seq != 0 {
                    return Err(InpError::UnknownNegotiation(
                        header.negotiation_id.to_string(),
                    ));
                }
                let intent = intent_of(&header.intent_id)?;
                if intent.publisher != local || intent.is_expired(now_ms) {
                    return Err(InpError::UnknownIntent(header.intent_id.to_string()));
                }
                if self.agreement_on(&header.intent_id).is_some() {
                    return Err(InpError::IntentClosed {
                        id: header.intent_id.to_string(),
                        status: self.status_of(
                            &header.intent_id,
                            intent.content.expires_at_ms,
                            false,
                            now_ms,
                        ),
                    });
                }
                let from_ip = from_ip.filter(|ip| !ip.is_loopback());
                self.check_offer_caps(&header.intent_id, &from, from_ip, local)?;
                self.make_room()?;
                if let Some(ip) = from_ip {
                    self.origins.insert(header.negotiation_id, ip);
                }
                Negotiation::new(
                    header.intent_id,
                    local,
                    from,
                    Config::default().with_agree_by_ms(intent.content.expires_at_ms),
                    now_ms,
                )?
            }
        };
        if header.kind == MessageKind::Accept
            && negotiation.role_of(&local) == Some(Role::Publisher)
        {
            self.refuse_second_agreement(&negotiation)?;
        }
        let event = match negotiation.handle(envelope, now_ms) {
            Ok(event) => event,
            Err(e) => {
                if !self.negotiations.contains_key(&header.negotiation_id) {
                    self.origins.remove(&header.negotiation_id);
                }
                return Err(e.into());
            }
        };
        let role = negotiation
            .role_of(&local)
            .ok_or_else(|| InpError::NotForUs(local.to_string()))?;
        let view = event_view(&negotiation, event.seq, &event.body, role, true);
        self.negotiations.insert(header.negotiation_id, negotiation);
        Ok(view)
    }

    /// Refuses a new offer on `intent` from `agent` (at `ip`, if not loopback) when the
    /// intent, the agent or the address already has the most live offers allowed here.
    fn check_offer_caps(
        &self,
        intent: &IntentId,
        agent: &PeerId,
        ip: Option<IpAddr>,
        local: PeerId,
    ) -> Result<(), InpError> {
        let (mut on_intent, mut by_agent, mut from_ip) = (0, 0, 0);
        for (id, n) in &self.negotiations {
            if n.publisher() != local
                || !matches!(
                    n.state(),
                    State::AwaitingOffer | State::Offered | State::Countered
                )
            {
                continue;
            }
            on_intent += usize::from(n.intent_id() == *intent);
            by_agent += usize::from(n.agent() == *agent);
            from_ip += usize::from(ip.is_some() && self.origins.get(id) == ip.as_ref());
        }
        let full = |what, count, limit| {
            if count >= limit {
                Err(InpError::TooManyOffers { what, limit })
            } else {
                Ok(())
            }
        };
        full("this intent", on_intent, MAX_LIVE_OFFERS_PER_INTENT)?;
        full("this agent", by_agent, MAX_LIVE_OFFERS_PER_PEER)?;
        full("this address", from_ip, MAX_LIVE_OFFERS_PER_IP)
    }

    /// The event of negotiation `id`'s expiry (kind `timeout`, no message), with its fault.
    pub(crate) fn timeout_event(
        &self,
        id: &NegotiationId,
        local: PeerId,
    ) -> Option<NegotiationEvent> {
        let n = self.negotiations.get(id)?;
        let role = n.role_of(&local)?;
        Some(NegotiationEvent {
            negotiation_id: id.to_string(),
            intent_id: n.intent_id().to_string(),
            peer: n.peer(role.other()).to_string(),
            role,
            seq: n.next_seq(),
            kind: NegotiationEventKind::Timeout,
            received: false,
            state: n.state().kind(),
            price: None,
            fault: n.fault().map(|f| FaultView::of(n, f)),
        })
    }

    /// Forgets the finished negotiations that ended `retention` or longer before `now_ms`;
    /// returns them.
    pub(crate) fn prune_finished(
        &mut self,
        now_ms: u64,
        retention: Duration,
    ) -> Vec<NegotiationId> {
        let retention_ms = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
        let old: Vec<NegotiationId> = self
            .negotiations
            .iter()
            .filter(|(id, n)| {
                !self.in_flight.contains_key(id)
                    && n.ended_at_ms()
                        .is_some_and(|end| end.saturating_add(retention_ms) <= now_ms)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &old {
            self.negotiations.remove(id);
            self.origins.remove(id);
        }
        old
    }

    /// The negotiation on `intent` that reached an agreement (agreed, delivered or completed),
    /// if any. A publisher's node allows at most one.
    pub(crate) fn agreement_on(&self, intent: &IntentId) -> Option<NegotiationId> {
        self.negotiations
            .iter()
            .find(|(_, n)| {
                n.intent_id() == *intent
                    && matches!(
                        n.state(),
                        State::Agreed | State::Delivered | State::Completed
                    )
            })
            .map(|(id, _)| *id)
    }

    /// The states of this node's negotiations on `intent`.
    pub(crate) fn states_of<'a>(
        &'a self,
        intent: &'a IntentId,
    ) -> impl Iterator<Item = State> + 'a {
        self.negotiations
            .values()
            .filter(move |n| n.intent_id() == *intent)
            .map(Negotiation::state)
    }

    /// The negotiations on `intent` still before an agreement (offered or countered).
    pub(crate) fn open_on(&self, intent: &IntentId) -> Vec<NegotiationId> {
        self.negotiations
            .iter()
            .filter(|(_, n)| {
                n.intent_id() == *intent && matches!(n.state(), State::Offered | State::Countered)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Where `intent` stands, from this node's negotiations on it.
    pub(crate) fn status_of(
        &self,
        intent: &IntentId,
        expires_at_ms: u64,
        cancelled: bool,
        now_ms: u64,
    ) -> IntentStatus {
        IntentStatus::derive(expires_at_ms, cancelled, self.states_of(intent), now_ms)
    }

    /// Refuses an agreement in `negotiation` when another negotiation on the same intent
    /// already has one: a publisher agrees with exactly one agent.
    fn refuse_second_agreement(&self, negotiation: &Negotiation) -> Result<(), InpError> {
        match self.agreement_on(&negotiation.intent_id()) {
            Some(other) if other != negotiation.id() => Err(InpError::IntentClosed {
                id: negotiation.intent_id().to_string(),
                status: IntentStatus::Agreed,
            }),
            _ => Ok(()),
        }
    }

    /// How many negotiations the registry holds, live and finished.
    pub fn len(&self) -> usize {
        self.negotiations.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.negotiations.is_empty()
    }

    /// Takes a negotiation rebuilt from storage at start. Returns `false` when the registry is
    /// full.
    pub fn insert_restored(&mut self, negotiation: Negotiation) -> bool {
        if self.negotiations.len() >= MAX_NEGOTIATIONS {
            return false;
        }
        self.negotiations.insert(negotiation.id(), negotiation);
        true
    }

    /// Puts a negotiation back as it was before a step that could not be stored (`None`: it
    /// did not exist).
    pub(crate) fn roll_back(&mut self, id: NegotiationId, previous: Option<Negotiation>) {
        match previous {
            Some(n) => {
                self.negotiations.insert(id, n);
            }
            None => {
                self.negotiations.remove(&id);
                self.origins.remove(&id);
            }
        }
    }

    /// Fires due timeouts; returns the negotiations that expired.
    pub(crate) fn handle_timeouts(&mut self, now_ms: u64) -> Vec<NegotiationId> {
        let mut expired = Vec::new();
        for (id, n) in &mut self.negotiations {
            if n.poll_timeout().is_some_and(|t| t <= now_ms) && n.handle_timeout(now_ms) {
                expired.push(*id);
            }
        }
        expired
    }

    /// A negotiation by id.
    pub fn get(&self, id: &NegotiationId) -> Option<&Negotiation> {
        self.negotiations.get(id)
    }

    /// The transcript of a negotiation.
    pub fn transcript(&self, id: &NegotiationId) -> Option<Transcript> {
        self.negotiations.get(id).map(|n| n.transcript().clone())
    }

    /// All negotiations, most advanced first.
    pub fn list(&self, local: PeerId, now_ms: u64) -> Vec<NegotiationSummary> {
        let mut out: Vec<NegotiationSummary> = self
            .negotiations
            .iter()
            .map(|(id, n)| summary(id, n, local, now_ms))
            .collect();
        out.sort_by(|a, b| {
            b.messages
                .cmp(&a.messages)
                .then_with(|| a.negotiation_id.cmp(&b.negotiation_id))
        });
        out
    }

    fn make_room(&mut self) -> Result<(), InpError> {
        if self.negotiations.len() < MAX_NEGOTIATIONS {
            return Ok(());
        }
        let victim = self
            .negotiations
            .iter()
            .find(|(_, n)| n.state().is_final())
            .map(|(id, _)| *id);
        match victim {
            Some(id) => {
                self.negotiations.remove(&id);
                self.origins.remove(&id);
                Ok(())
            }
            None => Err(InpError::Full),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::Intent;
    use mesh_core::negotiation::{Eta, Price, Proposal, StateKind};
    use std::time::Duration;

    const NOW: u64 = 1_700_000_000_000;

    fn none(id: &IntentId) -> Result<Arc<SignedIntent>, InpError> {
        Err(InpError::UnknownIntent(id.to_string()))
    }

    struct Parties {
        publisher: Keypair,
        agent: Keypair,
        intent: Arc<SignedIntent>,
    }

    fn parties() -> Parties {
        let publisher = Keypair::generate_ed25519();
        let intent = Arc::new(
            Intent::new("t")
                .capabilities(["a"])
                .ttl(Duration::from_secs(600))
                .sign(&publisher, NOW)
                .unwrap(),
        );
        Parties {
            publisher,
            agent: Keypair::generate_ed25519(),
            intent,
        }
    }

    fn proposal(amount: &str) -> Proposal {
        Proposal::new(
            Price::new(amount, "USD").unwrap(),
            Eta::Within(Duration::from_secs(60)),
        )
    }

    /// The agent's signed offer, made through its own registry.
    fn offer(p: &Parties, agent_side: &mut Registry) -> Prepared {
        let intent = Arc::clone(&p.intent);
        agent_side
            .prepare(
                Action::Offer {
                    intent: p.intent.id,
                    proposal: proposal("2"),
                },
                &p.agent,
                &move |_: &IntentId| Ok(Arc::clone(&intent)),
                NOW,
            )
            .unwrap()
    }

    #[test]
    fn offer_opens_a_negotiation_only_for_our_open_intent() {
        let p = parties();
        let (publisher, agent) = (
            p.publisher.public().to_peer_id(),
            p.agent.public().to_peer_id(),
        );
        let prepared = offer(&p, &mut Registry::default());
        let intent = Arc::clone(&p.intent);
        let ours = move |_: &IntentId| Ok(Arc::clone(&intent));

        // Not an intent we know.
        let err = Registry::default()
            .receive(&prepared.envelope, agent, None, publisher, &none, NOW)
            .unwrap_err();
        assert_eq!(err.code(), "unknown_intent");
        assert!(!err.is_misbehaviour());

        // Relayed by someone other than the signer.
        let err = Registry::default()
            .receive(
                &prepared.envelope,
                PeerId::random(),
                None,
                publisher,
                &ours,
                NOW,
            )
            .unwrap_err();
        assert_eq!(err.code(), "relayed");
        assert!(err.is_misbehaviour());

        // Addressed to another node.
        let err = Registry::default()
            .receive(
                &prepared.envelope,
                agent,
                None,
                PeerId::random(),
                &ours,
                NOW,
            )
            .unwrap_err();
        assert_eq!(err.code(), "not_for_us");

        // Tampered.
        let mut tampered = prepared.envelope.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let err = Registry::default()
            .receive(&tampered, agent, None, publisher, &ours, NOW)
            .unwrap_err();
        assert!(err.is_misbehaviour(), "{err}");

        // The genuine offer opens it; a replay is refused and changes nothing.
        let mut registry = Registry::default();
        let event = registry
            .receive(&prepared.envelope, agent, None, publisher, &ours, NOW)
            .unwrap();
        assert_eq!(
            (event.kind, event.state),
            (NegotiationEventKind::Offer, StateKind::Offered)
        );
        assert_eq!(event.role, Role::Publisher);
        let err = registry
            .receive(&prepared.envelope, agent, None, publisher, &ours, NOW)
            .unwrap_err();
        assert_eq!(err.code(), "stale", "replay: {err}");
        assert!(!err.is_misbehaviour(), "a replay can be an honest retry");
        assert_eq!(registry.list(publisher, NOW)[0].messages, 1);

        // A retry is known as one, from its sender only, and so is nothing else.
        let holds = |r: &Registry, env: &[u8], from: &PeerId| {
            peek(env).is_ok_and(|header| r.holds(&header, env, from))
        };
        assert!(holds(&registry, &prepared.envelope, &agent));
        assert!(!holds(&registry, &prepared.envelope, &publisher));
        assert!(!holds(&registry, &tampered, &agent));
        assert!(!holds(&registry, b"not an envelope", &agent));
        assert!(!holds(&Registry::default(), &prepared.envelope, &agent));
    }

    #[test]
    fn an_answer_that_overtakes_the_acknowledgement_settles_the_send() {
        let p = parties();
        let (publisher, agent) = (
            p.publisher.public().to_peer_id(),
            p.agent.public().to_peer_id(),
        );
        let intent = Arc::clone(&p.intent);
        let ours = move |_: &IntentId| Ok(Arc::clone(&intent));
        let mut agent_side = Registry::default();
        let mut publisher_side = Registry::default();
        let offer = offer(&p, &mut agent_side);
        publisher_side
            .receive(&offer.envelope, agent, None, publisher, &ours, NOW)
            .unwrap();
        let accept = publisher_side
            .prepare(
                Action::Reply {
                    negotiation: offer.id,
                    body: Body::Accept,
                },
                &p.publisher,
                &ours,
                NOW,
            )
            .unwrap();
        // The publisher's Accept reaches the agent before the ack of the agent's Offer.
        let event = agent_side
            .receive(&accept.envelope, publisher, None, agent, &ours, NOW)
            .unwrap();
        assert_eq!(event.state, StateKind::Agreed);
        // The late ack (or its loss) settles the offer as sent, once.
        let sent = agent_side.commit(&offer.id, agent).unwrap();
        assert_eq!((sent.kind, sent.seq), (NegotiationEventKind::Offer, 0));
        assert!(agent_side.abandon(&offer.id).is_none());
        assert_eq!(agent_side.transcript(&offer.id).unwrap().len(), 2);
    }

    #[test]
    fn sends_advance_only_when_committed() {
        let p = parties();
        let agent = p.agent.public().to_peer_id();
        let mut agent_side = Registry::default();
        let prepared = offer(&p, &mut agent_side);
        let id = prepared.id;
        assert!(
            agent_side.get(&id).is_none(),
            "nothing stored before the ack"
        );
        // A second message while the first is in flight is refused.
        let intent = Arc::clone(&p.intent);
        let err = agent_side
            .prepare(
                Action::Offer {
                    intent: p.intent.id,
                    proposal: proposal("3"),
                },
                &p.agent,
                &move |_: &IntentId| Ok(Arc::clone(&intent)),
                NOW,
            )
            .unwrap_err();
        assert_eq!(err.code(), "in_flight");
        assert!(agent_side.abandon(&id).is_none());
        assert!(agent_side.get(&id).is_none());

        let prepared = offer(&p, &mut agent_side);
        let event = agent_side.commit(&prepared.id, agent).unwrap();
        assert_eq!(event.state, StateKind::Offered);
        assert_eq!(agent_side.transcript(&id).unwrap().len(), 1);
        // The publisher's turn: the agent cannot accept its own offer.
        let err = agent_side
            .prepare(
                Action::Reply {
                    negotiation: id,
                    body: Body::Accept,
                },
                &p.agent,
                &none,
                NOW,
            )
            .unwrap_err();
        assert_eq!(err.code(), "illegal_transition");
    }

    /// A fresh agent's signed offer on `p.intent`.
    fn stranger_offer(p: &Parties) -> (PeerId, Vec<u8>) {
        let stranger = Parties {
            publisher: p.publisher.clone(),
            agent: Keypair::generate_ed25519(),
            intent: Arc::clone(&p.intent),
        };
        let prepared = offer(&stranger, &mut Registry::default());
        (stranger.agent.public().to_peer_id(), prepared.envelope)
    }

    #[test]
    fn live_offers_are_capped_per_intent_and_address_without_evicting_any() {
        let p = parties();
        let publisher = p.publisher.public().to_peer_id();
        let intent = Arc::clone(&p.intent);
        let ours = move |_: &IntentId| Ok(Arc::clone(&intent));
        let mut registry = Registry::default();
        // The honest bidder comes first.
        let honest = offer(&p, &mut Registry::default());
        let agent = p.agent.public().to_peer_id();
        registry
            .receive(&honest.envelope, agent, None, publisher, &ours, NOW)
            .unwrap();
        for _ in 1..MAX_LIVE_OFFERS_PER_INTENT {
            let (peer, env) = stranger_offer(&p);
            registry
                .receive(&env, peer, None, publisher, &ours, NOW)
                .unwrap();
        }
        let (peer, env) = stranger_offer(&p);
        let err = registry
            .receive(&env, peer, None, publisher, &ours, NOW)
            .unwrap_err();
        assert_eq!(err.code(), "too_many_offers", "{err}");
        assert!(!err.is_misbehaviour());
        assert!(
            registry.get(&honest.id).is_some(),
            "a live offer is never evicted"
        );
        assert_eq!(
            registry.list(publisher, NOW).len(),
            MAX_LIVE_OFFERS_PER_INTENT
        );

        // Per address, across intents: loopback is exempt, a public address is not.
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let mut registry = Registry::default();
        let mut intents = Vec::new();
        for i in 0..=MAX_LIVE_OFFERS_PER_IP {
            let q = Parties {
                publisher: p.publisher.clone(),
                agent: Keypair::generate_ed25519(),
                intent: Arc::new(
                    Intent::new(format!("t{i}"))
                        .capabilities(["a"])
                        .ttl(Duration::from_secs(600))
                        .sign(&p.publisher, NOW)
                        .unwrap(),
                ),
            };
            let prepared = offer(&q, &mut Registry::default());
            intents.push((q, prepared));
        }
        for (i, (q, prepared)) in intents.iter().enumerate() {
            let intent = Arc::clone(&q.intent);
            let lookup = move |_: &IntentId| Ok(Arc::clone(&intent));
            let from = q.agent.public().to_peer_id();
            let result =
                registry.receive(&prepared.envelope, from, Some(ip), publisher, &lookup, NOW);
            if i < MAX_LIVE_OFFERS_PER_IP {
                result.unwrap();
            } else {
                assert_eq!(result.unwrap_err().code(), "too_many_offers");
                let loopback = Some(IpAddr::from([127, 0, 0, 1]));
                registry
                    .receive(&prepared.envelope, from, loopback, publisher, &lookup, NOW)
                    .unwrap();
            }
        }
    }

    #[test]
    fn finished_negotiations_are_pruned_after_the_retention() {
        let p = parties();
        let (publisher, agent) = (
            p.publisher.public().to_peer_id(),
            p.agent.public().to_peer_id(),
        );
        let intent = Arc::clone(&p.intent);
        let ours = move |_: &IntentId| Ok(Arc::clone(&intent));
        let mut registry = Registry::default();
        let prepared = offer(&p, &mut Registry::default());
        registry
            .receive(&prepared.envelope, agent, None, publisher, &ours, NOW)
            .unwrap();
        let retention = Duration::from_secs(3600);
        let day = 24 * 3600 * 1000;
        assert!(
            registry.prune_finished(NOW + day, retention).is_empty(),
            "live"
        );
        let reject = registry
            .prepare(
                Action::Reply {
                    negotiation: prepared.id,
                    body: Body::Reject {
                        reason: "no".into(),
                    },
                },
                &p.publisher,
                &ours,
                NOW + 10,
            )
            .unwrap();
        registry.commit(&reject.id, publisher).unwrap();
        assert!(registry.prune_finished(NOW + 10, retention).is_empty());
        assert_eq!(
            registry.prune_finished(NOW + 10 + 3_600_000, retention),
            [prepared.id]
        );
        assert!(registry.get(&prepared.id).is_none());
    }

    #[test]
    fn state_names_are_snake_case() {
        assert_eq!(State::AwaitingOffer.kind().as_str(), "awaiting_offer");
        assert_eq!(State::Agreed.kind().as_str(), "agreed");
    }
}
