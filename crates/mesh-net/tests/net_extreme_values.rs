//! Every number a peer sends that feeds a time, a size or a count, at its extremes: the
//! handlers of each protocol's answers (rendezvous registrations, receipt catch-up requests
//! and answers, seen-intent expiries, the bootstrap and registration backoffs, negotiation
//! ETAs) never panic and keep their results within the documented bounds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use libp2p::PeerId;
use mesh_core::Capability;
use mesh_core::negotiation::Eta;
use mesh_net::connections::bootstrap::{MAX_BACKOFF, backoff};
use mesh_net::idp::SeenIntents;
use mesh_net::receipt_catchup::{
    MAX_CURSOR_BYTES, MAX_PAGE_ATTESTATIONS, MAX_PAGES_PER_PEER, MAX_PER_PEER, Paging,
    parse_request,
};
use mesh_net::rendezvous::{MAX_GRANTED_TTL_SECS, MIN_RENEW_AFTER, Registrations, renew_after};
use mesh_proto::v1::{ReceiptsRequest, ReceiptsResponse};
use proptest::prelude::*;
use tokio::time::Instant;

/// Values around the edges a hostile peer would try, and anything else.
fn extreme_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(u64::MAX / 2),
        Just(u64::from(u32::MAX)),
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A rendezvous point's granted TTL: any `u64`, and any number of failures after it.
    #[test]
    fn rendezvous_answers_stay_in_bounds(ttl in extreme_u64(), failures in 0usize..200) {
        let caps = vec![Capability::new("text").unwrap()];
        let mut r = Registrations::new(&caps);
        let now = Instant::now();
        let point = PeerId::random();
        r.point_found(point, now);
        r.registered(point, ttl, now);
        let next = r.next_at(&point).unwrap();
        let longest = Duration::from_secs(MAX_GRANTED_TTL_SECS);
        prop_assert!(next >= now + MIN_RENEW_AFTER);
        prop_assert!(next <= now + longest);
        prop_assert!(renew_after(ttl) <= longest);
        for _ in 0..failures {
            r.failed(point, now);
        }
        if failures > 0 {
            let longest_retry = MAX_BACKOFF.max(Duration::from_secs(2));
            prop_assert!(r.next_at(&point).unwrap() <= now + longest_retry);
        }
    }

    /// The bootstrap backoff for any count of failures.
    #[test]
    fn backoff_is_bounded(failures in any::<u32>()) {
        prop_assert!(backoff(failures) <= MAX_BACKOFF);
    }

    /// A receipt catch-up request: any limit, any cursor.
    #[test]
    fn receipt_requests_are_clamped(
        limit in any::<u32>(),
        after in proptest::collection::vec(any::<u8>(), 0..(MAX_CURSOR_BYTES * 2)),
    ) {
        if let Ok(page) = parse_request(&ReceiptsRequest { limit, after }) {
            prop_assert!(page.limit() >= 1 && page.limit() <= MAX_PAGE_ATTESTATIONS);
        }
    }

    /// A series of receipt catch-up answers: any count of attestations, any cursor; the
    /// catch-up takes at most its caps of attestations and pages.
    #[test]
    fn receipt_answers_respect_the_caps(
        answers in proptest::collection::vec(
            (0usize..(MAX_PAGE_ATTESTATIONS + 8), proptest::collection::vec(any::<u8>(), 0..(MAX_CURSOR_BYTES + 8))),
            1..(MAX_PAGES_PER_PEER + 8),
        ),
    ) {
        let mut paging = Some(Paging::new());
        let mut pages = 0usize;
        let mut taken = 0usize;
        for (count, next) in answers {
            let Some(p) = paging.take() else { break };
            let asked = p.request().limit as usize;
            let answer = ReceiptsResponse { attestations: vec![Vec::new(); count], next };
            match p.answer(answer) {
                Ok(page) => {
                    prop_assert!(page.attestations.len() <= asked);
                    pages += 1;
                    taken += page.attestations.len();
                    paging = page.more;
                }
                Err(_) => break,
            }
            prop_assert!(taken <= MAX_PER_PEER);
            prop_assert!(pages <= MAX_PAGES_PER_PEER);
        }
    }

    /// Seen intents with any expiry, pruned at any time: never above their capacity.
    #[test]
    fn seen_intents_stay_within_capacity(
        expiries in proptest::collection::vec(extreme_u64(), 1..64),
        now_ms in extreme_u64(),
    ) {
        let mut seen = SeenIntents::with_capacity(16);
        for (i, e) in expiries.iter().enumerate() {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            seen.insert(id, *e);
            prop_assert!(seen.len() <= 16);
        }
        seen.prune(now_ms);
        prop_assert!(seen.len() <= 16);
    }

    /// An agreement's due time from any ETA and agreement time: no overflow, never before
    /// the agreement.
    #[test]
    fn eta_due_times_saturate(agreed_at in extreme_u64(), within_ms in extreme_u64(), at in extreme_u64()) {
        let due = Eta::Within(Duration::from_millis(within_ms)).due_at(agreed_at);
        prop_assert!(due >= agreed_at);
        prop_assert!(Eta::At(at).due_at(agreed_at) >= agreed_at);
    }
}
