//! Cancelling an overdue agreement, and the faults a negotiation records.

use super::*;

/// The agreed ETA of [`offer`]: 10 minutes.
const ETA_MS: u64 = 600_000;

#[test]
fn publisher_cancels_an_overdue_agreement_in_the_transcript() {
    let mut pair = agreed();
    // The agent signed the Accept at `now`; the publisher took it 1 ms later.
    assert_eq!(
        pair.agent_side.due_at_ms(),
        Some(pair.now + ETA_MS),
        "the ETA counts from the Accept"
    );
    let due = pair.publisher_side.due_at_ms().unwrap();
    assert_eq!(due, pair.now + 1 + ETA_MS, "live: not before it was taken");

    // Before the due time: refused, and nothing changes.
    let err = pair
        .publisher_side
        .clone()
        .send(
            Body::Withdraw {
                reason: "late".into(),
            },
            &pair.publisher,
            due - 1,
        )
        .unwrap_err();
    assert_eq!(
        err,
        NegotiationError::NotOverdue {
            due_at_ms: due,
            sent_at_ms: due - 1
        }
    );
    // The agent cannot walk out of an agreement either.
    assert!(matches!(
        pair.agent_side.clone().send(
            Body::Withdraw {
                reason: "bored".into()
            },
            &pair.agent,
            due + 1
        ),
        Err(NegotiationError::IllegalTransition { .. })
    ));

    // From the due time on, the publisher cancels; the agent's side takes it.
    let bytes = pair
        .publisher_side
        .send(
            Body::Withdraw {
                reason: "not delivered by the agreed time".into(),
            },
            &pair.publisher,
            due,
        )
        .unwrap();
    pair.agent_side.handle(&bytes, due + 5).unwrap();
    for side in [&pair.publisher_side, &pair.agent_side] {
        assert_eq!(
            side.state(),
            State::Withdrawn {
                by: Role::Publisher
            }
        );
        assert_eq!(
            side.fault(),
            Some(Fault {
                kind: FaultKind::NonDelivery,
                by: Role::Agent,
                at_ms: due
            })
        );
    }
    // Anyone replaying the transcript reaches the same state.
    let summary = pair.agent_side.transcript().verify().unwrap();
    assert_eq!(
        summary.state,
        State::Withdrawn {
            by: Role::Publisher
        }
    );
    let resumed =
        Negotiation::resume(pair.agent_side.transcript(), Config::default(), due + 10).unwrap();
    assert_eq!(resumed.fault(), pair.agent_side.fault());
}

#[test]
fn a_cancellation_signed_before_the_due_time_is_refused_on_receipt_and_offline() {
    let mut pair = agreed();
    let due = pair.publisher_side.due_at_ms().unwrap();
    let publisher = pair.publisher.clone();
    let early = pair.forge(&publisher, &publisher, |m| {
        m.sent_at_ms = due - 60_000;
        m.body = Some(
            Body::Withdraw {
                reason: "early".into(),
            }
            .to_wire(),
        );
    });
    assert!(matches!(
        pair.agent_side.handle(&early, due - 60_000),
        Err(NegotiationError::NotOverdue { .. })
    ));
    let mut envelopes = pair.agent_side.transcript().clone().into_envelopes();
    envelopes.push(early);
    assert!(matches!(
        Transcript::from_envelopes(envelopes).verify(),
        Err(TranscriptError::Message {
            index: 3,
            error: NegotiationError::NotOverdue { .. }
        })
    ));
}

#[test]
fn a_delivered_agreement_cannot_be_cancelled() {
    let mut pair = agreed();
    let due = pair.publisher_side.due_at_ms().unwrap();
    pair.agent_sends(Body::Deliver(Delivery::inline("text/plain", "x")));
    assert!(matches!(
        pair.publisher_side.send(
            Body::Withdraw {
                reason: "late".into()
            },
            &pair.publisher,
            due + 1
        ),
        Err(NegotiationError::IllegalTransition { .. })
    ));
}

#[test]
fn timeouts_record_who_failed() {
    // No delivery: the agent's fault at the deadline.
    let mut pair = agreed();
    let deadline = pair.publisher_side.poll_timeout().unwrap();
    assert_eq!(pair.publisher_side.fault(), None);
    assert!(pair.publisher_side.handle_timeout(deadline));
    assert_eq!(
        pair.publisher_side.fault(),
        Some(Fault {
            kind: FaultKind::NonDelivery,
            by: Role::Agent,
            at_ms: deadline
        })
    );
    // No receipt after a delivery: the publisher's fault.
    let mut pair = agreed();
    pair.agent_sends(Body::Deliver(Delivery::inline("text/plain", "x")));
    let deadline = pair.agent_side.poll_timeout().unwrap();
    assert!(pair.agent_side.handle_timeout(deadline));
    assert_eq!(
        pair.agent_side.fault(),
        Some(Fault {
            kind: FaultKind::MissingReceipt,
            by: Role::Publisher,
            at_ms: deadline
        })
    );
    // Other endings are nobody's fault.
    let mut pair = Pair::new();
    pair.agent_sends(Body::Offer(offer("1")));
    let deadline = pair.publisher_side.poll_timeout().unwrap();
    assert!(pair.publisher_side.handle_timeout(deadline));
    assert_eq!(pair.publisher_side.fault(), None);
    assert_eq!(completed().publisher_side.fault(), None);
}

#[test]
fn a_restart_does_not_extend_an_agreement() {
    let pair = agreed();
    let deadline = pair.agent_side.poll_timeout().unwrap();
    // Resumed long after the agreement: the deadline still counts from the Accept.
    let resumed = Negotiation::resume(
        pair.agent_side.transcript(),
        Config::default(),
        pair.now + 3_600_000,
    )
    .unwrap();
    assert_eq!(resumed.poll_timeout(), Some(deadline));
    let mut stored = resumed.clone();
    assert!(stored.expire(deadline));
    assert_eq!(stored.fault().map(|f| f.at_ms), Some(deadline));
}

#[test]
fn resume_all_verifies_in_batches_as_resume_does_one_by_one() {
    let mut transcripts: Vec<Transcript> = (0..5)
        .map(|i| {
            if i % 2 == 0 {
                completed().agent_side.transcript().clone()
            } else {
                agreed().publisher_side.transcript().clone()
            }
        })
        .collect();
    // A tampered one, an empty one and a reordered one among them.
    let mut tampered = transcripts[1].clone().into_envelopes();
    let last = tampered[2].len() - 1;
    tampered[2][last] ^= 1;
    transcripts.push(Transcript::from_envelopes(tampered));
    transcripts.push(Transcript::default());
    let mut swapped = transcripts[0].clone().into_envelopes();
    swapped.swap(0, 1);
    transcripts.push(Transcript::from_envelopes(swapped));
    // Enough copies to need more than one batch.
    let copies = RESUME_BATCH_ENVELOPES / 5 + 1;
    for _ in 0..copies {
        transcripts.push(transcripts[0].clone());
    }
    let all = Negotiation::resume_all(&transcripts, Config::default(), NOW);
    assert_eq!(all.len(), transcripts.len());
    for (t, batch) in transcripts.iter().zip(&all) {
        let one = Negotiation::resume(t, Config::default(), NOW);
        match (one, batch) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.state(), b.state());
                assert_eq!(a.transcript(), b.transcript());
                assert_eq!(a.poll_timeout(), b.poll_timeout());
            }
            (Err(a), Err(b)) => assert_eq!(&a, b),
            (a, b) => panic!("one by one {a:?}, in batch {b:?}"),
        }
    }
    assert!(all[5].is_err() && all[6].is_err() && all[7].is_err());
}
