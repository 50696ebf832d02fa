//! Timeouts of every waiting state, and the clock checks.

use super::*;

#[test]
fn clock_checks() {
    let mut pair =
        Pair::with_config(Config::default().with_offer_timeout(Duration::from_secs(3600)));
    let later = pair
        .agent_side
        .send(Body::Offer(offer("1")), &pair.agent, NOW + 301_000)
        .unwrap();
    assert!(matches!(
        pair.publisher_gets(&later),
        Err(NegotiationError::FromTheFuture { .. })
    ));
    pair.publisher_side.handle(&later, NOW + 2_000).unwrap();
    let publisher = pair.publisher.clone();
    let early = pair.forge(&publisher, &publisher, |m| {
        m.sent_at_ms = NOW;
        m.body = Some(Body::Accept.to_wire());
    });
    assert!(matches!(
        pair.publisher_side.handle(&early, NOW + 2_000),
        Err(NegotiationError::BeforePrevious { .. })
    ));
}
#[test]
fn every_waiting_state_times_out() {
    let config = Config::default()
        .with_offer_timeout(Duration::from_secs(1))
        .with_answer_timeout(Duration::from_secs(2))
        .with_delivery_grace(Duration::from_secs(3))
        .with_receipt_timeout(Duration::from_secs(4));
    // AwaitingOffer.
    let mut pair = Pair::with_config(config.clone());
    assert_eq!(pair.publisher_side.poll_timeout(), Some(NOW + 1_000));
    assert!(!pair.publisher_side.handle_timeout(NOW + 999));
    assert!(pair.publisher_side.handle_timeout(NOW + 1_000));
    assert_eq!(
        pair.publisher_side.state(),
        State::Expired {
            waiting_on: Role::Agent
        }
    );
    assert_eq!(pair.publisher_side.poll_timeout(), None);
    // A message arriving after the deadline finds the negotiation expired, even if the
    // driver has not called `handle_timeout` yet.
    let mut pair = Pair::with_config(config.clone());
    let offer_bytes = pair
        .agent_side
        .send(Body::Offer(offer("1")), &pair.agent, NOW + 500)
        .unwrap();
    assert_eq!(
        pair.publisher_side.handle(&offer_bytes, NOW + 1_500),
        Err(NegotiationError::Finished {
            state: State::Expired {
                waiting_on: Role::Agent
            }
        })
    );

    // Offered, then Countered.
    let mut pair = Pair::with_config(config.clone());
    pair.agent_sends(Body::Offer(offer("1")));
    let deadline = pair.publisher_side.poll_timeout().unwrap();
    assert_eq!(deadline, pair.now + 1 + 2_000);
    let mut offered = pair.publisher_side.clone();
    assert!(offered.handle_timeout(deadline));
    assert_eq!(
        offered.state(),
        State::Expired {
            waiting_on: Role::Publisher
        }
    );
    pair.publisher_sends(Body::Counter(offer("1")));
    assert_eq!(pair.publisher_side.poll_timeout(), Some(pair.now + 2_000));

    // Agreed: the agreed ETA plus the grace.
    pair.agent_sends(Body::Accept);
    let agreed_at = pair.now;
    assert_eq!(
        pair.agent_side.poll_timeout(),
        Some(agreed_at + 600_000 + 3_000)
    );
    // Delivered.
    pair.agent_sends(Body::Deliver(Delivery::inline("text/plain", "x")));
    assert_eq!(pair.agent_side.poll_timeout(), Some(pair.now + 4_000));
    assert!(pair.agent_side.handle_timeout(pair.now + 4_000));
    assert_eq!(
        pair.agent_side.state(),
        State::Expired {
            waiting_on: Role::Publisher
        }
    );
    // Sending after the deadline is refused too.
    assert!(matches!(
        pair.publisher_side.send(
            Body::Receipt(Receipt::new(1.0)),
            &pair.publisher,
            pair.now + 10_000
        ),
        Err(NegotiationError::Finished { .. })
    ));
}

#[test]
fn agreement_deadline_caps_waiting_before_agreement_only() {
    let config = Config::default().with_agree_by_ms(NOW + 500);
    let mut pair = Pair::with_config(config);
    assert_eq!(pair.publisher_side.poll_timeout(), Some(NOW + 500));
    pair.agent_sends(Body::Offer(Proposal::new(
        Price::new("1", "USD").unwrap(),
        Eta::At(NOW + 3_600_000),
    )));
    assert_eq!(pair.publisher_side.poll_timeout(), Some(NOW + 500));
    pair.publisher_sends(Body::Accept);
    assert_eq!(
        pair.publisher_side.poll_timeout(),
        Some(NOW + 3_600_000 + 600_000)
    );
}
