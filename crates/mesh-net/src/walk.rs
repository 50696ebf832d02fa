//! DHT random walks: while a node has fewer connected peers than its target, it looks up the
//! peers closest to a random id every so often and dials some of those it finds, so a node that
//! knew one peer ends up with its target number of peers.

use std::time::Duration;

use tokio::time::Instant;

/// When to walk, and how many of the peers found to dial.
#[derive(Debug)]
pub(crate) struct RandomWalk {
    target: usize,
    interval: Duration,
    dials: usize,
    next_at: Instant,
    in_flight: bool,
}

impl RandomWalk {
    /// Walks every `interval` while below `target` peers, dialling up to `dials` per walk;
    /// the first walk is due at `now`.
    pub(crate) fn new(target: usize, interval: Duration, dials: usize, now: Instant) -> Self {
        Self {
            target,
            interval,
            dials,
            next_at: now,
            in_flight: false,
        }
    }

    /// Whether to start a walk now, with `connected` peers. A started walk stays in flight
    /// until [`RandomWalk::finished`].
    pub(crate) fn due(&mut self, now: Instant, connected: usize) -> bool {
        if self.in_flight || now < self.next_at || connected >= self.target || connected == 0 {
            return false;
        }
        self.in_flight = true;
        self.next_at = now + self.interval;
        true
    }

    /// The walk ended.
    pub(crate) fn finished(&mut self, now: Instant) {
        self.in_flight = false;
        if self.next_at < now {
            self.next_at = now + self.interval;
        }
    }

    /// Peers to dial from a walk's results, for a node with `connected` peers.
    pub(crate) fn dials(&self, connected: usize) -> usize {
        self.target.saturating_sub(connected).min(self.dials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_one_at_a_time_below_the_target_only() {
        let t0 = Instant::now();
        let mut walk = RandomWalk::new(4, Duration::from_secs(15), 8, t0);
        assert!(walk.due(t0, 1), "below the target: walk");
        assert!(!walk.due(t0, 1), "one walk at a time");
        walk.finished(t0);
        assert!(
            !walk.due(t0 + Duration::from_secs(20), 4),
            "at the target: no walk"
        );
    }
}
