//! Property tests of the negotiation state machine and its transcripts.
//!
//! (a) Random sequences of (sender, message kind) and clock jumps never panic and never reach
//!     a state the transition table does not allow; refused messages change nothing.
//! (b) Every transcript the machine accepted verifies offline, in the same state.
//! (c) Every single-byte change to any envelope of an accepted transcript fails verification.

use std::time::Duration;

use mesh_core::negotiation::{
    Body, Config, Delivery, Eta, FaultKind, MAX_PROPOSALS, MessageKind, Negotiation,
    NegotiationError, Price, Proposal, Receipt, Role, State, Transcript,
};
use mesh_core::{IntentId, Keypair};
use proptest::prelude::*;
use proptest::sample::Index;

const NOW: u64 = 1_700_000_000_000;

/// The transition table of the module documentation, written out again independently of
/// `State::next`.
fn table(state: State, from: Role, kind: MessageKind) -> Option<State> {
    use MessageKind::*;
    use Role::*;
    match (state, from, kind) {
        (State::AwaitingOffer, Agent, Offer) => Some(State::Offered),
        (State::Offered, Publisher, Counter) => Some(State::Countered),
        (State::Offered, Publisher, Accept) => Some(State::Agreed),
        (State::Offered, Publisher, Reject) => Some(State::Rejected { by: Publisher }),
        (State::Offered, who, Withdraw) => Some(State::Withdrawn { by: who }),
        (State::Countered, Agent, Offer) => Some(State::Offered),
        (State::Countered, Agent, Accept) => Some(State::Agreed),
        (State::Countered, Agent, Reject) => Some(State::Rejected { by: Agent }),
        (State::Countered, who, Withdraw) => Some(State::Withdrawn { by: who }),
        (State::Agreed, Agent, Deliver) => Some(State::Delivered),
        // Only once the agreed delivery is overdue (checked apart).
        (State::Agreed, Publisher, Withdraw) => Some(State::Withdrawn { by: Publisher }),
        (State::Delivered, Publisher, Receipt) => Some(State::Completed),
        _ => None,
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// `role` sends a `kind` message; with `legal`, the kind is instead picked (by `pick`)
    /// among those the table allows `role` now, mostly among those that do not end the
    /// negotiation, so deep states are reached often.
    Send {
        role: Role,
        kind: MessageKind,
        legal: bool,
        pick: usize,
        seed: u8,
    },
    /// The clock jumps forward; both sides handle their timers.
    Wait(u64),
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Publisher), Just(Role::Agent)]
}

fn kind() -> impl Strategy<Value = MessageKind> {
    proptest::sample::select(MessageKind::ALL.to_vec())
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (role(), kind(), proptest::bool::weighted(0.85), any::<usize>(), any::<u8>()).prop_map(
            |(role, kind, legal, pick, seed)| Step::Send { role, kind, legal, pick, seed }
        ),
        1 => prop_oneof![0..5_000u64, 0..2_000_000u64].prop_map(Step::Wait),
    ]
}

/// A valid body of `kind`, varied by `seed`.
fn body(kind: MessageKind, seed: u8, now: u64) -> Body {
    let proposal = || {
        let price =
            Price::new(format!("{}.{:02}", seed / 10, seed % 100), "USD").expect("valid price");
        let eta = if seed.is_multiple_of(2) {
            Eta::Within(Duration::from_millis(1 + u64::from(seed) * 1000))
        } else {
            Eta::At(now + u64::from(seed) * 1000)
        };
        Proposal::new(price, eta).with_terms("x".repeat(usize::from(seed % 8)))
    };
    match kind {
        MessageKind::Offer => Body::Offer(proposal()),
        MessageKind::Counter => Body::Counter(proposal()),
        MessageKind::Accept => Body::Accept,
        MessageKind::Reject => Body::Reject {
            reason: format!("reason {seed}"),
        },
        MessageKind::Withdraw => Body::Withdraw {
            reason: String::new(),
        },
        MessageKind::Deliver if seed.is_multiple_of(2) => Body::Deliver(Delivery::inline(
            "text/plain",
            vec![seed; usize::from(seed)],
        )),
        MessageKind::Deliver => {
            Body::Deliver(Delivery::at_location("https://r.example/x", [seed; 32]))
        }
        MessageKind::Receipt => Body::Receipt(Receipt::new(f64::from(seed) / 255.0)),
    }
}

/// Both parties' machines, and what the test knows independently of them.
struct Run {
    publisher: Keypair,
    agent: Keypair,
    sides: [Negotiation; 2],
    /// Per side: state after the last message it took (what a transcript shows).
    by_messages: [State; 2],
    /// The kinds of the messages taken, in order (identical on both sides while neither
    /// expired).
    history: [Vec<MessageKind>; 2],
    now: u64,
}

impl Run {
    fn new() -> Self {
        let publisher = Keypair::generate_ed25519();
        let agent = Keypair::generate_ed25519();
        let config = Config::default()
            .with_offer_timeout(Duration::from_secs(60))
            .with_answer_timeout(Duration::from_secs(120))
            .with_delivery_grace(Duration::from_secs(60))
            .with_receipt_timeout(Duration::from_secs(300));
        let new = || {
            Negotiation::new(
                IntentId([3; 32]),
                publisher.public().to_peer_id(),
                agent.public().to_peer_id(),
                config.clone(),
                NOW,
            )
            .expect("distinct peers")
        };
        Self {
            sides: [new(), new()],
            publisher,
            agent,
            by_messages: [State::AwaitingOffer; 2],
            history: [Vec::new(), Vec::new()],
            now: NOW,
        }
    }

    fn index(role: Role) -> usize {
        match role {
            Role::Publisher => 0,
            Role::Agent => 1,
        }
    }

    fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match step {
            Step::Wait(ms) => {
                self.now += ms;
                for i in 0..2 {
                    let before = self.sides[i].state();
                    let deadline = self.sides[i].poll_timeout();
                    let expired = self.sides[i].handle_timeout(self.now);
                    prop_assert_eq!(expired, deadline.is_some_and(|d| self.now >= d));
                    if expired {
                        prop_assert_eq!(
                            self.sides[i].state(),
                            State::Expired {
                                waiting_on: before.waiting_on().expect("waiting state")
                            }
                        );
                    } else {
                        prop_assert_eq!(self.sides[i].state(), before);
                    }
                }
            }
            Step::Send {
                role,
                kind,
                legal,
                pick,
                seed,
            } => {
                self.now += 1_000;
                let (mut role, mut kind) = (*role, *kind);
                if *legal && pick % 8 != 0 {
                    // The party whose turn it is acts.
                    let waiting_on = self.sides[Self::index(role)].state().waiting_on();
                    role = waiting_on.unwrap_or(role);
                }
                let (s, r) = (Self::index(role), Self::index(role.other()));
                let allowed = self.sides[s].state().allowed(role);
                // Mostly moves forward, so deep states are reached; sometimes ends it.
                let forward: Vec<MessageKind> = allowed
                    .iter()
                    .copied()
                    .filter(|k| !matches!(k, MessageKind::Reject | MessageKind::Withdraw))
                    .collect();
                if *legal && !forward.is_empty() && pick % 8 != 0 {
                    kind = forward[(pick / 8) % forward.len()];
                } else if *legal && !allowed.is_empty() {
                    kind = allowed[pick % allowed.len()];
                }
                let before = self.sides[s].state();
                let due = self.sides[s].due_at_ms();
                let deadline = self.sides[s].poll_timeout();
                let transcript = self.sides[s].transcript().clone();
                let key = if role == Role::Publisher {
                    &self.publisher
                } else {
                    &self.agent
                };
                let sent = self.sides[s].send(body(kind, *seed, self.now), key, self.now);
                match sent {
                    Ok(bytes) => {
                        let next = table(before, role, kind);
                        prop_assert!(next.is_some(), "{kind} by {role} taken in {before}");
                        prop_assert_eq!(Some(self.sides[s].state()), next);
                        self.took(s, kind)?;
                        // The other side takes it too, unless it already gave up waiting.
                        match self.sides[r].handle(&bytes, self.now + 1) {
                            Ok(event) => {
                                prop_assert_eq!(event.state, self.sides[s].state());
                                self.took(r, kind)?;
                            }
                            Err(NegotiationError::Finished {
                                state: State::Expired { .. },
                            }) => {}
                            Err(other) => prop_assert!(false, "receiver refused: {other}"),
                        }
                    }
                    Err(err) => {
                        let state = self.sides[s].state();
                        if state != before {
                            // Only the timer may have moved it, and the refusal says so.
                            prop_assert!(deadline.is_some_and(|d| self.now >= d));
                            prop_assert_eq!(
                                state,
                                State::Expired {
                                    waiting_on: before.waiting_on().expect("waiting state")
                                }
                            );
                            prop_assert_eq!(&err, &NegotiationError::Finished { state });
                        }
                        prop_assert_eq!(self.sides[s].transcript(), &transcript);
                        match err {
                            NegotiationError::Finished { state: s2 } => {
                                prop_assert!(s2.is_final());
                            }
                            NegotiationError::IllegalTransition {
                                state: s2,
                                from,
                                kind: k,
                            } => {
                                prop_assert_eq!(table(s2, from, k), None);
                            }
                            NegotiationError::NotOverdue {
                                due_at_ms,
                                sent_at_ms,
                            } => {
                                prop_assert_eq!(
                                    (before, role, kind),
                                    (State::Agreed, Role::Publisher, MessageKind::Withdraw)
                                );
                                prop_assert_eq!(Some(due_at_ms), due);
                                prop_assert!(sent_at_ms < due_at_ms);
                            }
                            NegotiationError::TooManyProposals { .. } => {
                                prop_assert_eq!(self.sides[s].proposals(), MAX_PROPOSALS);
                            }
                            other => prop_assert!(false, "unexpected refusal: {other}"),
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Records that side `i` took a `kind` message and checks the history invariants.
    fn took(&mut self, i: usize, kind: MessageKind) -> Result<(), TestCaseError> {
        self.history[i].push(kind);
        let side = &self.sides[i];
        self.by_messages[i] = side.state();
        let history = &self.history[i];
        prop_assert_eq!(side.next_seq(), history.len() as u64);
        prop_assert_eq!(
            history[0],
            MessageKind::Offer,
            "the agent opens with an offer"
        );
        let accepts = history
            .iter()
            .filter(|k| **k == MessageKind::Accept)
            .count();
        prop_assert!(accepts <= 1, "at most one agreement");
        match side.state() {
            State::Agreed => {
                prop_assert_eq!(history.last(), Some(&MessageKind::Accept));
                prop_assert!(side.agreed().is_some());
            }
            State::Delivered => {
                prop_assert_eq!(
                    &history[history.len() - 2..],
                    &[MessageKind::Accept, MessageKind::Deliver]
                );
                prop_assert!(side.delivery().is_some());
            }
            State::Completed => {
                prop_assert_eq!(
                    &history[history.len() - 3..],
                    &[
                        MessageKind::Accept,
                        MessageKind::Deliver,
                        MessageKind::Receipt
                    ]
                );
                prop_assert!(side.receipt().is_some());
            }
            State::Offered | State::Countered => {
                prop_assert_eq!(accepts, 0);
                prop_assert!(side.outstanding().is_some());
            }
            State::Withdrawn {
                by: Role::Publisher,
            } if accepts == 1 => {
                // An overdue agreement the publisher cancelled: the agent's fault, on record.
                prop_assert_eq!(
                    &history[history.len() - 2..],
                    &[MessageKind::Accept, MessageKind::Withdraw]
                );
                let fault = side.fault().expect("a cancelled agreement is a fault");
                prop_assert_eq!(fault.kind, FaultKind::NonDelivery);
                prop_assert!(fault.at_ms >= side.due_at_ms().expect("agreed"));
            }
            State::Rejected { .. } | State::Withdrawn { .. } => prop_assert_eq!(accepts, 0),
            State::AwaitingOffer | State::Expired { .. } => {
                prop_assert!(false, "no message leads to {}", side.state())
            }
        }
        Ok(())
    }
}

fn run(steps: &[Step]) -> Result<Run, TestCaseError> {
    let mut run = Run::new();
    for step in steps {
        run.step(step)?;
    }
    Ok(run)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// (a) and (b).
    #[test]
    fn random_sequences_stay_in_the_table_and_verify_offline(
        steps in proptest::collection::vec(step(), 0..40)
    ) {
        let run = run(&steps)?;
        for i in 0..2 {
            let transcript = run.sides[i].transcript();
            if transcript.is_empty() {
                prop_assert_eq!(transcript.verify().err(), Some(mesh_core::TranscriptError::Empty));
                continue;
            }
            let summary = transcript.verify().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(summary.state, run.by_messages[i]);
            prop_assert_eq!(summary.events.len(), transcript.len());
            prop_assert_eq!(summary.negotiation_id, run.sides[i].id());
            prop_assert_eq!(summary.publisher, run.publisher.public().to_peer_id());
            prop_assert_eq!(summary.agent, run.agent.public().to_peer_id());
            let kinds: Vec<MessageKind> = summary.events.iter().map(|e| e.body.kind()).collect();
            prop_assert_eq!(&kinds, &run.history[i]);
            // The export formats carry it unchanged.
            prop_assert_eq!(&Transcript::decode(&transcript.encode()).expect("decodes"), transcript);
            prop_assert_eq!(&Transcript::from_json(&transcript.to_json()).expect("reads"), transcript);
        }
        // The side that received every message holds a prefix of, or the same chain as, the
        // side that sent the last one.
        let (a, b) = (run.sides[0].transcript().envelopes(), run.sides[1].transcript().envelopes());
        let n = a.len().min(b.len());
        prop_assert_eq!(&a[..n], &b[..n]);
    }

}

// Signature checks dominate the cost of these cases (milliseconds each in debug builds).
proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// (c), sampled: any byte of any envelope, any change.
    #[test]
    fn changed_bytes_fail_verification(
        steps in proptest::collection::vec(step(), 1..24),
        flips in proptest::collection::vec((any::<Index>(), any::<Index>(), 1..=255u8), 1..6),
    ) {
        let run = run(&steps)?;
        let transcript = run.sides[1].transcript();
        prop_assume!(!transcript.is_empty());
        prop_assert!(transcript.verify().is_ok());
        for (which, at, mask) in flips {
            let mut envelopes = transcript.envelopes().to_vec();
            let envelope = &mut envelopes[which.index(transcript.len())];
            let at = at.index(envelope.len());
            envelope[at] ^= mask;
            prop_assert!(
                Transcript::from_envelopes(envelopes).verify().is_err(),
                "byte {} of envelope {} changed by {:#04x} still verifies", at, which.index(transcript.len()), mask
            );
        }
    }

}

proptest! {
    /// Arbitrary bytes never panic the machine or the verifier.
    #[test]
    fn arbitrary_bytes_are_refused_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut run = Run::new();
        prop_assert!(run.sides[0].handle(&bytes, NOW).is_err());
        prop_assert_eq!(run.sides[0].state(), State::AwaitingOffer);
        let _ = Transcript::decode(&bytes).map(|t| t.verify());
        prop_assert!(Transcript::from_envelopes(vec![bytes]).verify().is_err());
    }
}

/// (c), exhaustive on one short transcript (first, middle and last envelope, both signers):
/// every byte of every envelope changed, by a mask that cycles through one bit, the top bit and
/// all bits.
#[test]
fn every_byte_change_of_a_short_transcript_fails_verification() {
    let mut run = Run::new();
    let script = [
        (Role::Agent, MessageKind::Offer),
        (Role::Publisher, MessageKind::Accept),
        (Role::Agent, MessageKind::Deliver),
    ];
    for (role, kind) in script {
        run.step(&Step::Send {
            role,
            kind,
            legal: false,
            pick: 0,
            seed: 1,
        })
        .expect("legal step");
    }
    let transcript = run.sides[0].transcript().clone();
    assert_eq!(transcript.verify().expect("valid").state, State::Delivered);
    let mut checked = 0;
    for which in 0..transcript.len() {
        for at in 0..transcript.envelopes()[which].len() {
            let mask = [0x01u8, 0x80, 0xff][at % 3];
            let mut envelopes = transcript.envelopes().to_vec();
            envelopes[which][at] ^= mask;
            assert!(
                Transcript::from_envelopes(envelopes).verify().is_err(),
                "byte {at} of envelope {which} changed by {mask:#04x} still verifies"
            );
            checked += 1;
        }
    }
    assert!(checked > 800, "{checked} changes checked");
}
