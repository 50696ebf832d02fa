//! Unit tests of the state machine: shared helpers, the happy path, and the module tests.

use std::time::Duration;

use libp2p::identity::{Keypair, PeerId};
use mesh_proto::v1;
use prost::Message as _;

use super::*;
use crate::envelope::{self, EnvelopeError, NEGOTIATION_DOMAIN, NEGOTIATION_PAYLOAD_TYPE};

use v1::negotiation_message as wire;

mod cancel;
mod refusals;
mod timeouts;

pub(crate) const NOW: u64 = 1_700_000_000_000;

/// Both sides of one negotiation, kept in step.
pub(crate) struct Pair {
    pub(crate) publisher: Keypair,
    pub(crate) agent: Keypair,
    pub(crate) publisher_side: Negotiation,
    pub(crate) agent_side: Negotiation,
    pub(crate) now: u64,
}

impl Pair {
    pub(crate) fn new() -> Self {
        Self::with_config(Config::default())
    }

    pub(crate) fn with_config(config: Config) -> Self {
        let publisher = Keypair::generate_ed25519();
        let agent = Keypair::generate_ed25519();
        let new = || {
            Negotiation::new(
                IntentId([7; 32]),
                publisher.public().to_peer_id(),
                agent.public().to_peer_id(),
                config.clone(),
                NOW,
            )
            .unwrap()
        };
        Self {
            publisher_side: new(),
            agent_side: new(),
            publisher,
            agent,
            now: NOW,
        }
    }

    pub(crate) fn publisher_peer(&self) -> PeerId {
        self.publisher.public().to_peer_id()
    }

    pub(crate) fn agent_peer(&self) -> PeerId {
        self.agent.public().to_peer_id()
    }

    /// The agent sends `body`; the publisher receives it.
    pub(crate) fn agent_sends(&mut self, body: Body) -> Vec<u8> {
        self.now += 10;
        let bytes = self.agent_side.send(body, &self.agent, self.now).unwrap();
        self.publisher_side.handle(&bytes, self.now + 1).unwrap();
        bytes
    }

    /// The publisher sends `body`; the agent receives it.
    pub(crate) fn publisher_sends(&mut self, body: Body) -> Vec<u8> {
        self.now += 10;
        let bytes = self
            .publisher_side
            .send(body, &self.publisher, self.now)
            .unwrap();
        self.agent_side.handle(&bytes, self.now + 1).unwrap();
        bytes
    }

    /// A correct next message from `keypair`, altered by `edit`, then signed by `signer`.
    fn forge(
        &self,
        keypair: &Keypair,
        signer: &Keypair,
        edit: impl FnOnce(&mut v1::NegotiationMessage),
    ) -> Vec<u8> {
        let n = &self.publisher_side;
        let sender = keypair.public().to_peer_id();
        let recipient = if sender == n.publisher() {
            n.agent()
        } else {
            n.publisher()
        };
        let mut message = v1::NegotiationMessage {
            negotiation_id: n.id().0.to_vec(),
            intent_id: n.intent_id().0.to_vec(),
            seq: n.next_seq(),
            prev_hash: n
                .transcript()
                .envelopes()
                .last()
                .map(|e| message_hash(e).to_vec())
                .unwrap_or_default(),
            sent_at_ms: self.now,
            sender: sender.to_bytes(),
            recipient: recipient.to_bytes(),
            body: Some(Body::Offer(offer("1.50")).to_wire()),
        };
        edit(&mut message);
        envelope::seal(
            signer,
            NEGOTIATION_DOMAIN,
            NEGOTIATION_PAYLOAD_TYPE,
            message.encode_to_vec(),
        )
        .unwrap()
    }

    /// Hands `bytes` to the publisher side and checks that a refusal changed nothing.
    fn publisher_gets(&mut self, bytes: &[u8]) -> Result<Event, NegotiationError> {
        let before = (
            self.publisher_side.state(),
            self.publisher_side.transcript().clone(),
        );
        let result = self.publisher_side.handle(bytes, self.now + 1);
        if result.is_err() {
            let after = (
                self.publisher_side.state(),
                self.publisher_side.transcript().clone(),
            );
            assert_eq!(before, after, "a refused message must change nothing");
        }
        result
    }
}

pub(crate) fn offer(amount: &str) -> Proposal {
    Proposal::new(
        Price::new(amount, "USD").unwrap(),
        Eta::Within(Duration::from_secs(600)),
    )
    .with_terms("plain English summary")
}

/// Offer, counter, accepted by the agent.
pub(crate) fn agreed() -> Pair {
    let mut pair = Pair::new();
    pair.agent_sends(Body::Offer(offer("1.50")));
    pair.publisher_sends(Body::Counter(offer("2.00")));
    pair.agent_sends(Body::Accept);
    pair
}

/// Offer, counter, accept, deliver, receipt.
pub(crate) fn completed() -> Pair {
    let mut pair = agreed();
    pair.agent_sends(Body::Deliver(Delivery::inline("text/plain", "the summary")));
    pair.publisher_sends(Body::Receipt(Receipt::new(0.9).with_comment("good")));
    pair
}

#[test]
fn happy_path_reaches_completed_on_both_sides() {
    let mut pair = Pair::new();
    assert_eq!(pair.agent_side.state(), State::AwaitingOffer);
    pair.agent_sends(Body::Offer(offer("1.50")));
    assert_eq!(pair.publisher_side.state(), State::Offered);
    assert_eq!(
        pair.publisher_side.outstanding().unwrap().price.amount(),
        "1.50"
    );
    pair.publisher_sends(Body::Counter(offer("2.00")));
    assert_eq!(pair.agent_side.state(), State::Countered);
    pair.agent_sends(Body::Offer(offer("1.80")));
    pair.publisher_sends(Body::Accept);
    assert_eq!(pair.agent_side.state(), State::Agreed);
    assert_eq!(pair.agent_side.agreed().unwrap().price.amount(), "1.80");
    assert_eq!(pair.agent_side.outstanding(), None);
    pair.agent_sends(Body::Deliver(Delivery::at_location(
        "https://example.org/result",
        [1; 32],
    )));
    assert_eq!(pair.publisher_side.state(), State::Delivered);
    pair.publisher_sends(Body::Receipt(Receipt::new(1.0)));
    for side in [&pair.agent_side, &pair.publisher_side] {
        assert_eq!(side.state(), State::Completed);
        assert_eq!(side.next_seq(), 6);
        assert_eq!(side.proposals(), 3);
        assert_eq!(side.poll_timeout(), None);
        assert_eq!(side.receipt().unwrap().rating, 1.0);
    }
    assert_eq!(
        pair.agent_side.transcript(),
        pair.publisher_side.transcript()
    );
}

#[test]
fn rejected_and_withdrawn_end_the_negotiation() {
    let mut pair = Pair::new();
    pair.agent_sends(Body::Offer(offer("9")));
    pair.publisher_sends(Body::Reject {
        reason: "too expensive".into(),
    });
    assert_eq!(
        pair.agent_side.state(),
        State::Rejected {
            by: Role::Publisher
        }
    );

    let mut pair = Pair::new();
    pair.agent_sends(Body::Offer(offer("9")));
    pair.publisher_sends(Body::Counter(offer("1")));
    pair.agent_sends(Body::Reject {
        reason: "too cheap".into(),
    });
    assert_eq!(
        pair.publisher_side.state(),
        State::Rejected { by: Role::Agent }
    );

    let mut pair = Pair::new();
    pair.agent_sends(Body::Offer(offer("9")));
    pair.publisher_sends(Body::Counter(offer("1")));
    pair.publisher_sends(Body::Withdraw {
        reason: "awarded to another agent".into(),
    });
    assert_eq!(
        pair.agent_side.state(),
        State::Withdrawn {
            by: Role::Publisher
        }
    );
}
#[test]
fn proposals_are_bounded_but_the_deal_can_still_close() {
    let mut pair = Pair::new();
    for i in 0..MAX_PROPOSALS {
        if i % 2 == 0 {
            pair.agent_sends(Body::Offer(offer("2")));
        } else {
            pair.publisher_sends(Body::Counter(offer("1")));
        }
    }
    assert_eq!(pair.agent_side.state(), State::Countered);
    let err = pair
        .agent_side
        .send(Body::Offer(offer("1")), &pair.agent, pair.now + 1)
        .unwrap_err();
    assert_eq!(
        err,
        NegotiationError::TooManyProposals { max: MAX_PROPOSALS }
    );
    pair.agent_sends(Body::Accept);
    pair.agent_sends(Body::Deliver(Delivery::inline("text/plain", "x")));
    pair.publisher_sends(Body::Receipt(Receipt::new(0.5)));
    assert_eq!(pair.publisher_side.next_seq(), MAX_MESSAGES);
    assert_eq!(
        pair.publisher_side.transcript().verify().unwrap().state,
        State::Completed
    );
}
#[test]
fn peek_reads_the_header_of_a_valid_message() {
    let mut pair = Pair::new();
    let bytes = pair.agent_sends(Body::Offer(offer("1")));
    let header = peek(&bytes).unwrap();
    assert_eq!(header.kind, MessageKind::Offer);
    assert_eq!(header.sender, pair.agent_peer());
    assert_eq!(header.recipient, pair.publisher_peer());
    assert_eq!(header.negotiation_id, pair.publisher_side.id());
    assert_eq!(header.seq, 0);
    assert_eq!(header.hash, message_hash(&bytes));
    assert_eq!(
        NegotiationId::derive(&header.intent_id, &header.recipient, &header.sender),
        header.negotiation_id
    );
}
