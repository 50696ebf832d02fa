//! The deterministic negotiation state machine.

use std::time::Duration;

use libp2p::identity::{Keypair, PeerId};
use mesh_proto::v1;

use super::message::{self, Opened, duration_ms};
use super::{
    Body, Delivery, MAX_PROPOSALS, MessageHash, MessageKind, NegotiationError, NegotiationId,
    Proposal, Receipt, Role, State, Transcript, TranscriptError,
};
use crate::intent::{IntentId, MAX_CLOCK_SKEW};

/// How long a negotiation waits on each party. Built with `Config::default()` and `with_*`.
///
/// ```
/// use mesh_core::negotiation::Config;
/// use std::time::Duration;
/// let config = Config::default()
///     .with_answer_timeout(Duration::from_secs(30))
///     .with_agree_by_ms(1_700_000_600_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    offer_timeout: Duration,
    answer_timeout: Duration,
    delivery_grace: Duration,
    receipt_timeout: Duration,
    agree_by_ms: Option<u64>,
}

impl Default for Config {
    /// Offer 1 minute, answer 5 minutes, delivery grace 10 minutes, receipt 1 hour, no
    /// agreement deadline.
    fn default() -> Self {
        Self {
            offer_timeout: Duration::from_secs(60),
            answer_timeout: Duration::from_secs(300),
            delivery_grace: Duration::from_secs(600),
            receipt_timeout: Duration::from_secs(3600),
            agree_by_ms: None,
        }
    }
}

impl Config {
    /// How long a new negotiation waits for the agent's first `Offer`.
    pub fn with_offer_timeout(mut self, timeout: Duration) -> Self {
        self.offer_timeout = timeout;
        self
    }

    /// How long an outstanding `Offer` or `Counter` waits for its answer.
    pub fn with_answer_timeout(mut self, timeout: Duration) -> Self {
        self.answer_timeout = timeout;
        self
    }

    /// How long after the agreed ETA the publisher still waits for `Deliver`.
    pub fn with_delivery_grace(mut self, grace: Duration) -> Self {
        self.delivery_grace = grace;
        self
    }

    /// How long the agent waits for the publisher's `Receipt` after delivering.
    pub fn with_receipt_timeout(mut self, timeout: Duration) -> Self {
        self.receipt_timeout = timeout;
        self
    }

    /// The instant, Unix milliseconds, by which a deal must be agreed: typically the intent's
    /// expiry. Waiting states before the agreement expire then at the latest.
    pub fn with_agree_by_ms(mut self, agree_by_ms: u64) -> Self {
        self.agree_by_ms = Some(agree_by_ms);
        self
    }
}

/// A message taken into the negotiation, received or sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its position in the negotiation.
    pub seq: u64,
    /// Role of its sender.
    pub from: Role,
    /// Its sender.
    pub sender: PeerId,
    /// When the sender signed it, Unix milliseconds.
    pub sent_at_ms: u64,
    /// What it says.
    pub body: Body,
    /// The state of the negotiation after it.
    pub state: State,
    /// SHA-256 of its envelope.
    pub hash: MessageHash,
}

/// What a party failed to do, as this negotiation shows it: evidence for reputation and for
/// later dispute handling. Its snake_case name ([`FaultKind::as_str`]) is how the API and JSON
/// show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The agent did not deliver by the agreed due time: the agreement expired, or the publisher
    /// cancelled it once overdue.
    NonDelivery,
    /// The publisher sent no receipt within the receipt timeout after the delivery.
    MissingReceipt,
}

impl FaultKind {
    /// Snake-case name, as the API shows it (`non_delivery`, `missing_receipt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NonDelivery => "non_delivery",
            Self::MissingReceipt => "missing_receipt",
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A party's fault in a negotiation ([`Negotiation::fault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fault {
    /// What was not done.
    pub kind: FaultKind,
    /// Who failed to do it.
    pub by: Role,
    /// When it was established, Unix ms: the deadline that passed, or the signed time of the
    /// publisher's cancellation.
    pub at_ms: u64,
}

/// Where the time of a step comes from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Clock {
    /// A live negotiation at this instant, Unix milliseconds: timeouts and clock skew apply.
    Live(u64),
    /// Replaying a transcript: only what the messages themselves prove is checked.
    Offline,
}

/// One negotiation between the publisher of an intent and one agent, seen by either of them or
/// by a third party replaying its transcript. No I/O; time is passed in.
///
/// See the [module documentation](super) for the transition table and an example.
#[derive(Debug, Clone)]
pub struct Negotiation {
    id: NegotiationId,
    intent_id: IntentId,
    publisher: PeerId,
    agent: PeerId,
    config: Config,
    state: State,
    transcript: Transcript,
    last_hash: Option<MessageHash>,
    last_sent_at_ms: Option<u64>,
    proposals: u64,
    outstanding: Option<Proposal>,
    agreed: Option<Proposal>,
    delivery: Option<Delivery>,
    receipt: Option<Receipt>,
    deadline_ms: Option<u64>,
    /// When the agreement was made, Unix ms: the `Accept`'s signed time (live: not before the
    /// local time it was taken). Delivery is due at the agreed ETA counted from it.
    agreed_at_ms: Option<u64>,
    /// When the negotiation expired, Unix ms.
    expired_at_ms: Option<u64>,
}

impl Negotiation {
    /// A negotiation about `intent_id` between its `publisher` and `agent`, waiting for the
    /// agent's first offer from `now_ms` on.
    pub fn new(
        intent_id: IntentId,
        publisher: PeerId,
        agent: PeerId,
        config: Config,
        now_ms: u64,
    ) -> Result<Self, NegotiationError> {
        let mut negotiation = Self::observe(intent_id, publisher, agent)?;
        negotiation.config = config;
        negotiation.arm(now_ms);
        Ok(negotiation)
    }

    /// A negotiation without timers, to replay a transcript.
    pub(super) fn observe(
        intent_id: IntentId,
        publisher: PeerId,
        agent: PeerId,
    ) -> Result<Self, NegotiationError> {
        if publisher == agent {
            return Err(NegotiationError::SelfNegotiation {
                peer: publisher.to_string(),
            });
        }
        Ok(Self {
            id: NegotiationId::derive(&intent_id, &publisher, &agent),
            intent_id,
            publisher,
            agent,
            config: Config::default(),
            state: State::AwaitingOffer,
            transcript: Transcript::default(),
            last_hash: None,
            last_sent_at_ms: None,
            proposals: 0,
            outstanding: None,
            agreed: None,
            delivery: None,
            receipt: None,
            deadline_ms: None,
            agreed_at_ms: None,
            expired_at_ms: None,
        })
    }

    /// Rebuilds a negotiation from its stored transcript after a restart, checking every
    /// message as [`Transcript::verify`] does. The timer of the current state restarts at
    /// `now_ms`.
    pub fn resume(
        transcript: &Transcript,
        config: Config,
        now_ms: u64,
    ) -> Result<Self, TranscriptError> {
        let (mut negotiation, _) = transcript.replay()?;
        negotiation.config = config;
        negotiation.arm(now_ms);
        Ok(negotiation)
    }

    /// [`resume`](Self::resume) of many stored transcripts at once, e.g. at start: the
    /// signatures of all their envelopes are verified in batches
    /// ([`RESUME_BATCH_ENVELOPES`](super::RESUME_BATCH_ENVELOPES)) rather than one by one.
    /// Returns, in order, what `resume` returns for each.
    pub fn resume_all(
        transcripts: &[Transcript],
        config: Config,
        now_ms: u64,
    ) -> Vec<Result<Self, TranscriptError>> {
        Transcript::replay_all(transcripts)
            .into_iter()
            .map(|replayed| {
                let (mut negotiation, _) = replayed?;
                negotiation.config = config.clone();
                negotiation.arm(now_ms);
                Ok(negotiation)
            })
            .collect()
    }

    /// The negotiation id.
    pub fn id(&self) -> NegotiationId {
        self.id
    }

    /// The intent negotiated.
    pub fn intent_id(&self) -> IntentId {
        self.intent_id
    }

    /// The publisher of the intent.
    pub fn publisher(&self) -> PeerId {
        self.publisher
    }

    /// The agent bidding.
    pub fn agent(&self) -> PeerId {
        self.agent
    }

    /// The peer playing `role`.
    pub fn peer(&self, role: Role) -> PeerId {
        match role {
            Role::Publisher => self.publisher,
            Role::Agent => self.agent,
        }
    }

    /// The role `peer` plays, or `None` if it is not a party.
    pub fn role_of(&self, peer: &PeerId) -> Option<Role> {
        if *peer == self.publisher {
            Some(Role::Publisher)
        } else if *peer == self.agent {
            Some(Role::Agent)
        } else {
            None
        }
    }

    /// Where the negotiation stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// Every message taken so far, in order.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// Sequence number of the next message.
    pub fn next_seq(&self) -> u64 {
        self.transcript.len() as u64
    }

    /// Offers and counters so far.
    pub fn proposals(&self) -> u64 {
        self.proposals
    }

    /// The proposal waiting for an answer (in `Offered` or `Countered`).
    pub fn outstanding(&self) -> Option<&Proposal> {
        match self.state {
            State::Offered | State::Countered => self.outstanding.as_ref(),
            _ => None,
        }
    }

    /// The accepted proposal, once agreed.
    pub fn agreed(&self) -> Option<&Proposal> {
        self.agreed.as_ref()
    }

    /// The delivery, once delivered.
    pub fn delivery(&self) -> Option<&Delivery> {
        self.delivery.as_ref()
    }

    /// The receipt, once completed.
    pub fn receipt(&self) -> Option<&Receipt> {
        self.receipt.as_ref()
    }

    /// When the agreed delivery is due, Unix ms: the agreed ETA counted from the agreement.
    /// `None` before an agreement. From then on the publisher may cancel an undelivered
    /// agreement.
    pub fn due_at_ms(&self) -> Option<u64> {
        let agreed = self.agreed.as_ref()?;
        Some(agreed.eta.due_at(self.agreed_at_ms?))
    }

    /// The fault this negotiation shows, if it ended by one: an agreement that expired without
    /// a delivery or that the publisher cancelled when overdue (the agent's), or a delivery
    /// left without a receipt until the receipt timeout (the publisher's).
    pub fn fault(&self) -> Option<Fault> {
        let (kind, by, at_ms) = match self.state {
            State::Withdrawn {
                by: Role::Publisher,
            } if self.agreed.is_some() => {
                (FaultKind::NonDelivery, Role::Agent, self.last_sent_at_ms?)
            }
            State::Expired {
                waiting_on: Role::Agent,
            } if self.agreed.is_some() && self.delivery.is_none() => {
                (FaultKind::NonDelivery, Role::Agent, self.expired_at_ms?)
            }
            State::Expired {
                waiting_on: Role::Publisher,
            } if self.delivery.is_some() => (
                FaultKind::MissingReceipt,
                Role::Publisher,
                self.expired_at_ms?,
            ),
            _ => return None,
        };
        Some(Fault { kind, by, at_ms })
    }

    /// Expires the negotiation at `at_ms` whatever its deadline, e.g. when its store says it
    /// expired before a restart. Returns whether it did (`false` in a final state).
    pub fn expire(&mut self, at_ms: u64) -> bool {
        match self.state.waiting_on() {
            Some(waiting_on) => {
                self.state = State::Expired { waiting_on };
                self.deadline_ms = None;
                self.expired_at_ms = Some(at_ms);
                true
            }
            None => false,
        }
    }

    /// When the negotiation expired, Unix ms, if it did.
    pub fn expired_at_ms(&self) -> Option<u64> {
        self.expired_at_ms
    }

    /// When the negotiation ended, Unix ms, in a final state: when it expired, or the signed
    /// time of its last message. `None` while it is live.
    pub fn ended_at_ms(&self) -> Option<u64> {
        if !self.state.is_final() {
            return None;
        }
        self.expired_at_ms.or(self.last_sent_at_ms)
    }

    /// Takes a message received from the other party (or any party, when observing).
    ///
    /// Expires the negotiation first if its deadline has passed at `now_ms` (then the message
    /// is refused with [`NegotiationError::Finished`]). Otherwise a refused message leaves the
    /// negotiation unchanged, and the error names what is wrong with it.
    pub fn handle(&mut self, envelope: &[u8], now_ms: u64) -> Result<Event, NegotiationError> {
        self.handle_timeout(now_ms);
        self.apply(envelope, Clock::Live(now_ms))
    }

    /// Makes, signs and takes our next message; returns the envelope to send to the other
    /// party. `keypair` must be the publisher's or the agent's.
    ///
    /// Nothing is signed for a message the table does not allow now. Our own message goes
    /// through every check a received one does, so what we send is what the other party and
    /// [`Transcript::verify`] accept.
    pub fn send(
        &mut self,
        body: Body,
        keypair: &Keypair,
        now_ms: u64,
    ) -> Result<Vec<u8>, NegotiationError> {
        self.handle_timeout(now_ms);
        let sender = keypair.public().to_peer_id();
        let from = self
            .role_of(&sender)
            .ok_or_else(|| NegotiationError::NotAParty {
                sender: sender.to_string(),
            })?;
        self.check_transition(from, &body, now_ms)?;
        let message = v1::NegotiationMessage {
            negotiation_id: self.id.0.to_vec(),
            intent_id: self.intent_id.0.to_vec(),
            seq: self.next_seq(),
            prev_hash: self.last_hash.map(|h| h.to_vec()).unwrap_or_default(),
            sent_at_ms: now_ms,
            sender: sender.to_bytes(),
            recipient: self.peer(from.other()).to_bytes(),
            body: Some(body.to_wire()),
        };
        let envelope = message::seal(&message, keypair)?;
        self.apply(&envelope, Clock::Live(now_ms))?;
        Ok(envelope)
    }

    /// The instant, Unix milliseconds, at which the party waited on runs out of time; `None`
    /// in a final state. Call [`handle_timeout`](Self::handle_timeout) then.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.deadline_ms
    }

    /// Expires the negotiation if its deadline has passed at `now_ms`; returns whether it did.
    pub fn handle_timeout(&mut self, now_ms: u64) -> bool {
        match (self.deadline_ms, self.state.waiting_on()) {
            (Some(deadline), Some(waiting_on)) if now_ms >= deadline => {
                self.state = State::Expired { waiting_on };
                self.deadline_ms = None;
                self.expired_at_ms = Some(deadline);
                true
            }
            _ => false,
        }
    }

    fn check_transition(
        &self,
        from: Role,
        body: &Body,
        sent_at_ms: u64,
    ) -> Result<State, NegotiationError> {
        if self.state.is_final() {
            return Err(NegotiationError::Finished { state: self.state });
        }
        let kind = body.kind();
        let next = self
            .state
            .next(from, kind)
            .ok_or(NegotiationError::IllegalTransition {
                state: self.state,
                from,
                kind,
            })?;
        if self.state == State::Agreed
            && kind == MessageKind::Withdraw
            && let Some(due_at_ms) = self.due_at_ms()
            && sent_at_ms < due_at_ms
        {
            return Err(NegotiationError::NotOverdue {
                due_at_ms,
                sent_at_ms,
            });
        }
        if body.proposal().is_some() && self.proposals >= MAX_PROPOSALS {
            return Err(NegotiationError::TooManyProposals { max: MAX_PROPOSALS });
        }
        Ok(next)
    }

    /// Checks `envelope` against everything known and, only if it passes, takes it.
    pub(super) fn apply(
        &mut self,
        envelope: &[u8],
        clock: Clock,
    ) -> Result<Event, NegotiationError> {
        let opened = message::open(envelope)?;
        self.apply_opened(opened, envelope, clock)
    }

    /// [`apply`](Self::apply) for an envelope already opened by [`message::open`].
    pub(super) fn apply_opened(
        &mut self,
        opened: Opened,
        envelope: &[u8],
        clock: Clock,
    ) -> Result<Event, NegotiationError> {
        let Opened {
            header,
            prev_hash,
            body,
        } = opened;
        if header.intent_id != self.intent_id {
            return Err(NegotiationError::WrongIntent {
                expected: self.intent_id.to_string(),
                got: header.intent_id.to_string(),
            });
        }
        let from = self
            .role_of(&header.sender)
            .ok_or_else(|| NegotiationError::NotAParty {
                sender: header.sender.to_string(),
            })?;
        if header.recipient != self.peer(from.other()) {
            return Err(NegotiationError::WrongRecipient {
                from,
                recipient: header.recipient.to_string(),
            });
        }
        if header.negotiation_id != self.id {
            return Err(NegotiationError::WrongNegotiation {
                expected: self.id.to_string(),
                got: header.negotiation_id.to_string(),
            });
        }
        if self.state.is_final() {
            return Err(NegotiationError::Finished { state: self.state });
        }
        let expected = self.next_seq();
        if header.seq < expected {
            return Err(NegotiationError::Replayed {
                seq: header.seq,
                expected,
            });
        }
        if header.seq > expected {
            return Err(NegotiationError::OutOfOrder {
                seq: header.seq,
                expected,
            });
        }
        let expected_prev = self.last_hash.map(|h| h.to_vec()).unwrap_or_default();
        if prev_hash != expected_prev {
            return Err(NegotiationError::BrokenChain { seq: header.seq });
        }
        let skew_ms = duration_ms(MAX_CLOCK_SKEW);
        if let Clock::Live(now_ms) = clock
            && header.sent_at_ms > now_ms.saturating_add(skew_ms)
        {
            return Err(NegotiationError::FromTheFuture {
                sent_at_ms: header.sent_at_ms,
                now_ms,
            });
        }
        if let Some(previous_ms) = self.last_sent_at_ms
            && header.sent_at_ms.saturating_add(skew_ms) < previous_ms
        {
            return Err(NegotiationError::BeforePrevious {
                sent_at_ms: header.sent_at_ms,
                previous_ms,
            });
        }
        let next = self.check_transition(from, &body, header.sent_at_ms)?;

        // Every check passed: take the message.
        match &body {
            Body::Offer(p) | Body::Counter(p) => {
                self.outstanding = Some(p.clone());
                self.proposals += 1;
            }
            Body::Accept => {
                self.agreed = self.outstanding.take();
                self.agreed_at_ms = Some(match clock {
                    Clock::Live(now_ms) => now_ms.max(header.sent_at_ms),
                    Clock::Offline => header.sent_at_ms,
                });
            }
            Body::Deliver(d) => self.delivery = Some(d.clone()),
            Body::Receipt(r) => self.receipt = Some(r.clone()),
            Body::Reject { .. } | Body::Withdraw { .. } => {}
        }
        self.state = next;
        self.transcript.push(envelope.to_vec());
        self.last_hash = Some(header.hash);
        self.last_sent_at_ms = Some(header.sent_at_ms);
        match clock {
            Clock::Live(now_ms) => self.arm(now_ms),
            Clock::Offline => self.deadline_ms = None,
        }
        Ok(Event {
            seq: header.seq,
            from,
            sender: header.sender,
            sent_at_ms: header.sent_at_ms,
            body,
            state: next,
            hash: header.hash,
        })
    }

    /// Sets the deadline of the current state, entered at `now_ms`.
    fn arm(&mut self, now_ms: u64) {
        let after = |d: Duration| now_ms.saturating_add(duration_ms(d));
        let before_agreement = |deadline: u64| match self.config.agree_by_ms {
            Some(agree_by) => deadline.min(agree_by),
            None => deadline,
        };
        self.deadline_ms = match self.state {
            State::AwaitingOffer => Some(before_agreement(after(self.config.offer_timeout))),
            State::Offered | State::Countered => {
                Some(before_agreement(after(self.config.answer_timeout)))
            }
            State::Agreed => {
                // From the agreement's own time, so that a restart does not extend it.
                let due = self.due_at_ms().unwrap_or(now_ms);
                Some(due.saturating_add(duration_ms(self.config.delivery_grace)))
            }
            State::Delivered => Some(after(self.config.receipt_timeout)),
            State::Completed
            | State::Rejected { .. }
            | State::Withdrawn { .. }
            | State::Expired { .. } => None,
        };
    }
}
