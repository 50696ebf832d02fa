//! Spreading a node's periodic DHT work over time.
//!
//! Nodes that start together (a data centre's restart, a simulation, a deployment) would
//! otherwise announce and refresh their routing tables together for ever after: every few
//! minutes, every node's lookups at once. Each lookup opens connections to peers it is not
//! connected to; done by every node at the same moment, they take every node to its connection
//! limit, where it refuses the lookups of the others, and a lookup that cannot reach the peers
//! closest to a key stores its record elsewhere, where later lookups miss it
//! (`docs/BENCHMARKS.md`, "Discovery in a settled network"). So each node moves its settling
//! announcements, its periodic announcements and its DHT refreshes by its own share of their
//! period.
//!
//! The share comes from the node's peer id, not from a random source: peer ids are already
//! uniformly random, and a simulation seeded with its nodes' keys runs the same twice.

use libp2p::PeerId;
use sha2::{Digest, Sha256};

/// What a spread moves: each gets its own share, so that a node's announcements and refreshes
/// do not fall together either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spread {
    /// The `n`th settling announcement.
    Settling(usize),
    /// The periodic announcement after the node's `n`th announcement.
    Periodic(u64),
    /// The first DHT refresh, after which libp2p keeps the node's own phase.
    Refresh,
}

/// `local`'s share of a period for `what`: uniform in `[0, 1)` over peer ids, and the same for
/// the same node and `what` every time.
pub(crate) fn share(local: &PeerId, what: Spread) -> f64 {
    let mut h = Sha256::new();
    h.update(b"mesh-spread");
    h.update(local.to_bytes());
    match what {
        Spread::Settling(n) => {
            h.update([1u8]);
            h.update((n as u64).to_be_bytes());
        }
        Spread::Periodic(n) => {
            h.update([2u8]);
            h.update(n.to_be_bytes());
        }
        Spread::Refresh => h.update([3u8]),
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 53 bits: every value is exact in an f64.
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_stable_and_spread_over_the_period() {
        let peers: Vec<PeerId> = (0..2000).map(|_| PeerId::random()).collect();
        let shares: Vec<f64> = peers.iter().map(|p| share(p, Spread::Refresh)).collect();
        assert!(shares.iter().all(|s| (0.0..1.0).contains(s)));
        assert_eq!(share(&peers[0], Spread::Refresh), shares[0]);
        // Each tenth of the period gets about a tenth of the nodes (2000 nodes: 200 expected,
        // far from 100 or 300 unless the shares are not spread).
        for tenth in 0..10 {
            let lo = tenth as f64 / 10.0;
            let n = shares
                .iter()
                .filter(|s| **s >= lo && **s < lo + 0.1)
                .count();
            assert!((100..300).contains(&n), "tenth {tenth}: {n} nodes");
        }
        // A node's different spreads are not the same share.
        let p = &peers[0];
        assert_ne!(share(p, Spread::Settling(0)), share(p, Spread::Settling(1)));
        assert_ne!(share(p, Spread::Periodic(7)), share(p, Spread::Refresh));
    }
}
