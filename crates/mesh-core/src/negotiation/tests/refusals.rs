//! Every way a message is refused, each with its own error.

use super::*;

#[test]
fn oversize_envelopes_are_refused_before_decoding() {
    let mut pair = Pair::new();
    let huge = vec![0u8; MAX_ENVELOPE_BYTES + 1];
    assert_eq!(
        pair.publisher_gets(&huge),
        Err(NegotiationError::TooLarge {
            size: MAX_ENVELOPE_BYTES + 1,
            max: MAX_ENVELOPE_BYTES
        })
    );
    // Any message but Deliver has the smaller cap, whatever its fields say.
    let (agent, signer) = (pair.agent.clone(), pair.agent.clone());
    let padded = pair.forge(&agent, &signer, |m| {
        if let Some(wire::Body::Offer(p)) = &mut m.body {
            p.terms = "x".repeat(MAX_SMALL_ENVELOPE_BYTES);
        }
    });
    assert!(matches!(
        pair.publisher_gets(&padded),
        Err(NegotiationError::TooLarge {
            max: MAX_SMALL_ENVELOPE_BYTES,
            ..
        })
    ));
}

#[test]
fn garbage_other_payloads_and_bad_signatures_are_refused() {
    let mut pair = Pair::new();
    assert!(matches!(
        pair.publisher_gets(&[0xff, 0x01, 0x02]),
        Err(NegotiationError::Envelope(EnvelopeError::Malformed(_)))
    ));
    let intent = envelope::seal(
        &pair.agent,
        crate::envelope::INTENT_DOMAIN,
        crate::envelope::INTENT_PAYLOAD_TYPE,
        vec![1, 2, 3],
    )
    .unwrap();
    assert!(matches!(
        pair.publisher_gets(&intent),
        Err(NegotiationError::Envelope(
            EnvelopeError::WrongPayloadType { .. }
        ))
    ));
    let good = pair
        .agent_side
        .clone()
        .send(Body::Offer(offer("1")), &pair.agent, NOW)
        .unwrap();
    let other_domain = envelope::seal(
        &pair.agent,
        "another-domain",
        NEGOTIATION_PAYLOAD_TYPE,
        message_payload(&good),
    )
    .unwrap();
    assert_eq!(
        pair.publisher_gets(&other_domain),
        Err(NegotiationError::BadSignature)
    );
    let mut tampered = good.clone();
    let pos = tampered
        .windows(4)
        .position(|w| w == b"1.50" || w == b"plai")
        .unwrap();
    tampered[pos] ^= 0x01;
    assert_eq!(
        pair.publisher_gets(&tampered),
        Err(NegotiationError::BadSignature)
    );
    // An unknown field appended to the envelope keeps the signature valid but changes the bytes.
    let mut padded = good.clone();
    padded.extend_from_slice(&[0x48, 0x01]);
    assert_eq!(
        pair.publisher_gets(&padded),
        Err(NegotiationError::NonCanonical)
    );
    assert!(pair.publisher_gets(&good).is_ok());
}

fn message_payload(envelope: &[u8]) -> Vec<u8> {
    envelope::open(
        envelope,
        MAX_ENVELOPE_BYTES,
        NEGOTIATION_DOMAIN,
        NEGOTIATION_PAYLOAD_TYPE,
    )
    .unwrap()
    .0
}

#[test]
fn malformed_and_invalid_fields_are_refused() {
    let mut pair = Pair::new();
    let not_a_message = envelope::seal(
        &pair.agent,
        NEGOTIATION_DOMAIN,
        NEGOTIATION_PAYLOAD_TYPE,
        vec![0x0a, 0xff],
    )
    .unwrap();
    assert!(matches!(
        pair.publisher_gets(&not_a_message),
        Err(NegotiationError::Malformed(_))
    ));
    let agent = pair.agent.clone();
    type Edit = Box<dyn FnOnce(&mut v1::NegotiationMessage)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("body", Box::new(|m| m.body = None)),
        (
            "negotiation_id",
            Box::new(|m| {
                m.negotiation_id.pop();
            }),
        ),
        ("intent_id", Box::new(|m| m.intent_id = vec![1; 31])),
        ("sender", Box::new(|m| m.sender = vec![1, 2, 3])),
        ("recipient", Box::new(|m| m.recipient.clear())),
        (
            "eta",
            Box::new(|m| {
                if let Some(wire::Body::Offer(p)) = &mut m.body {
                    p.eta = None;
                }
            }),
        ),
        (
            "eta",
            Box::new(|m| {
                if let Some(wire::Body::Offer(p)) = &mut m.body {
                    p.eta = Some(wire::proposal::Eta::EtaAtMs(NOW - 1));
                }
            }),
        ),
        (
            "eta",
            Box::new(|m| {
                if let Some(wire::Body::Offer(p)) = &mut m.body {
                    p.eta = Some(wire::proposal::Eta::EtaWithinMs(MAX_ETA_MS + 1));
                }
            }),
        ),
        (
            "terms",
            Box::new(|m| {
                if let Some(wire::Body::Offer(p)) = &mut m.body {
                    p.terms = "x".repeat(MAX_TERMS_BYTES + 1);
                }
            }),
        ),
    ];
    for (field, edit) in cases {
        let bytes = pair.forge(&agent, &agent, edit);
        let err = pair.publisher_gets(&bytes).unwrap_err();
        match (&err, field) {
            (NegotiationError::Malformed(_), "body") => {}
            (NegotiationError::Invalid { field: f, .. }, _) if *f == field => {}
            _ => panic!("{field}: unexpected {err}"),
        }
    }
}

#[test]
fn unknown_price_formats_are_refused() {
    let mut pair = Pair::new();
    let agent = pair.agent.clone();
    for (amount, currency) in [
        ("2,50", "USD"),
        ("1e3", "USD"),
        ("2", "usd"),
        ("", "USD"),
        ("2 ", "USD"),
    ] {
        let bytes = pair.forge(&agent, &agent, |m| {
            if let Some(wire::Body::Offer(p)) = &mut m.body {
                p.amount = amount.into();
                p.currency = currency.into();
            }
        });
        let err = pair.publisher_gets(&bytes).unwrap_err();
        assert!(
            matches!(err, NegotiationError::BadPrice { .. }),
            "{amount:?} {currency:?}: {err}"
        );
        assert!(err.to_string().contains("unknown price format"), "{err}");
    }
    assert!(Price::new("12.5", "EUR").is_ok());
    assert_eq!(Price::new("0.00000001", "BTC").unwrap().atomic_units(), 1);
    assert_eq!(Price::new("3", "USD").unwrap().atomic_units(), 300_000_000);
}

#[test]
fn other_intents_parties_and_ids_are_refused() {
    let mut pair = Pair::new();
    let (agent, publisher) = (pair.agent.clone(), pair.publisher.clone());
    let third = Keypair::generate_ed25519();

    let bytes = pair.forge(&agent, &agent, |m| m.intent_id = vec![8; 32]);
    assert!(matches!(
        pair.publisher_gets(&bytes),
        Err(NegotiationError::WrongIntent { .. })
    ));
    let bytes = pair.forge(&agent, &agent, |m| m.negotiation_id = vec![0; 32]);
    assert!(matches!(
        pair.publisher_gets(&bytes),
        Err(NegotiationError::WrongNegotiation { .. })
    ));
    // A third party signing as itself.
    let bytes = pair.forge(&third, &third, |m| {
        m.recipient = publisher.public().to_peer_id().to_bytes()
    });
    let err = pair.publisher_gets(&bytes).unwrap_err();
    assert!(matches!(err, NegotiationError::NotAParty { .. }), "{err}");
    // A third party signing in the agent's name.
    let bytes = pair.forge(&agent, &third, |_| {});
    assert!(matches!(
        pair.publisher_gets(&bytes),
        Err(NegotiationError::SignerMismatch { .. })
    ));
    // The agent addressing someone else.
    let bytes = pair.forge(&agent, &agent, |m| {
        m.recipient = third.public().to_peer_id().to_bytes()
    });
    assert!(matches!(
        pair.publisher_gets(&bytes),
        Err(NegotiationError::WrongRecipient {
            from: Role::Agent,
            ..
        })
    ));
    // Sending with a key that is not a party's.
    assert!(matches!(
        pair.agent_side.send(Body::Offer(offer("1")), &third, NOW),
        Err(NegotiationError::NotAParty { .. })
    ));
    assert!(matches!(
        Negotiation::new(
            IntentId([1; 32]),
            pair.agent_peer(),
            pair.agent_peer(),
            Config::default(),
            NOW
        ),
        Err(NegotiationError::SelfNegotiation { .. })
    ));
}

#[test]
fn replays_gaps_and_broken_chains_are_refused() {
    let mut pair = Pair::new();
    let first = pair.agent_sends(Body::Offer(offer("1.50")));
    assert_eq!(
        pair.publisher_gets(&first),
        Err(NegotiationError::Replayed {
            seq: 0,
            expected: 1
        })
    );
    let (agent, publisher) = (pair.agent.clone(), pair.publisher.clone());
    let gap = pair.forge(&publisher, &publisher, |m| {
        m.seq = 2;
        m.body = Some(Body::Accept.to_wire());
    });
    assert_eq!(
        pair.publisher_gets(&gap),
        Err(NegotiationError::OutOfOrder {
            seq: 2,
            expected: 1
        })
    );
    let forked = pair.forge(&agent, &agent, |m| {
        m.prev_hash = vec![0; 32];
        m.body = Some(
            Body::Withdraw {
                reason: String::new(),
            }
            .to_wire(),
        );
    });
    assert_eq!(
        pair.publisher_gets(&forked),
        Err(NegotiationError::BrokenChain { seq: 1 })
    );
    let no_link = pair.forge(&agent, &agent, |m| {
        m.prev_hash.clear();
        m.body = Some(
            Body::Withdraw {
                reason: String::new(),
            }
            .to_wire(),
        );
    });
    assert_eq!(
        pair.publisher_gets(&no_link),
        Err(NegotiationError::BrokenChain { seq: 1 })
    );
}
#[test]
fn illegal_transitions_are_refused_and_change_nothing() {
    let mut pair = Pair::new();
    let publisher = pair.publisher.clone();
    // The publisher may not open, nor accept its own counter.
    let err = pair
        .publisher_side
        .send(Body::Counter(offer("1")), &publisher, NOW)
        .unwrap_err();
    assert_eq!(
        err,
        NegotiationError::IllegalTransition {
            state: State::AwaitingOffer,
            from: Role::Publisher,
            kind: MessageKind::Counter
        }
    );
    assert!(err.to_string().contains("nothing"), "{err}");
    assert_eq!(pair.publisher_side.next_seq(), 0);
    pair.agent_sends(Body::Offer(offer("1.50")));
    let agent = pair.agent.clone();
    let own_accept = pair.forge(&agent, &agent, |m| m.body = Some(Body::Accept.to_wire()));
    let err = pair.publisher_gets(&own_accept).unwrap_err();
    assert!(matches!(err, NegotiationError::IllegalTransition { .. }));
    assert!(err.to_string().contains("Withdraw"), "{err}");
    let early_delivery = pair.forge(&agent, &agent, |m| {
        m.body = Some(Body::Deliver(Delivery::inline("text/plain", "x")).to_wire())
    });
    assert!(matches!(
        pair.publisher_gets(&early_delivery),
        Err(NegotiationError::IllegalTransition { .. })
    ));
    assert_eq!(pair.publisher_side.state(), State::Offered);
}

#[test]
fn nothing_follows_a_final_state() {
    let mut pair = completed();
    let publisher = pair.publisher.clone();
    let err = pair
        .publisher_side
        .send(Body::Receipt(Receipt::new(0.5)), &publisher, pair.now + 100)
        .unwrap_err();
    assert_eq!(
        err,
        NegotiationError::Finished {
            state: State::Completed
        }
    );
    let agent = pair.agent.clone();
    let after = pair.forge(&agent, &agent, |m| {
        m.body = Some(Body::Offer(offer("1")).to_wire())
    });
    assert!(matches!(
        pair.publisher_gets(&after),
        Err(NegotiationError::Finished { .. })
    ));
}
#[test]
fn deliveries_and_receipts_are_checked() {
    let mut pair = agreed();
    let (agent, publisher) = (pair.agent.clone(), pair.publisher.clone());
    let mut wrong = Delivery::inline("text/plain", "result");
    wrong.digest = [0; 32];
    let bytes = pair.forge(&agent, &agent, |m| {
        m.body = Some(Body::Deliver(wrong).to_wire())
    });
    assert_eq!(
        pair.publisher_gets(&bytes),
        Err(NegotiationError::DigestMismatch)
    );
    let too_big = Delivery::inline("text/plain", vec![0; MAX_INLINE_RESULT_BYTES + 1]);
    let bytes = pair.forge(&agent, &agent, |m| {
        m.body = Some(Body::Deliver(too_big).to_wire())
    });
    assert!(matches!(
        pair.publisher_gets(&bytes),
        Err(NegotiationError::Invalid {
            field: "inline",
            ..
        })
    ));
    let nowhere = Delivery::at_location(" ", [0; 32]);
    let bytes = pair.forge(&agent, &agent, |m| {
        m.body = Some(Body::Deliver(nowhere).to_wire())
    });
    assert!(matches!(
        pair.publisher_gets(&bytes),
        Err(NegotiationError::Invalid {
            field: "location",
            ..
        })
    ));
    let short_digest = pair.forge(&agent, &agent, |m| {
        let mut d = Body::Deliver(Delivery::at_location("ipfs://x", [0; 32])).to_wire();
        if let wire::Body::Deliver(d) = &mut d {
            d.result_sha256.pop();
        }
        m.body = Some(d);
    });
    assert!(matches!(
        pair.publisher_gets(&short_digest),
        Err(NegotiationError::Invalid {
            field: "result_sha256",
            ..
        })
    ));
    // The largest inline result fits in an envelope.
    pair.agent_sends(Body::Deliver(Delivery::inline(
        "application/octet-stream",
        vec![7; MAX_INLINE_RESULT_BYTES],
    )));
    for rating in [-0.1, 1.5, f64::NAN] {
        let bytes = pair.forge(&publisher, &publisher, |m| {
            m.body = Some(Body::Receipt(Receipt::new(rating)).to_wire())
        });
        assert!(matches!(
            pair.publisher_gets(&bytes),
            Err(NegotiationError::Invalid {
                field: "rating",
                ..
            })
        ));
    }
    pair.publisher_sends(Body::Receipt(Receipt::new(0.0)));
}
