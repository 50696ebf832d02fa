//! Outgoing INP messages, per peer: at most [`MAX_IN_FLIGHT_PER_PEER`] requests on the wire to
//! one peer (below its stream limit), a bounded queue behind them, and messages parked while
//! the peer's address is looked up in the DHT.
//!
//! Pure bookkeeping, owned by the event loop: it says what to send and when; the event loop
//! sends.

use std::collections::{HashMap, VecDeque};

use libp2p::PeerId;

/// Requests to one peer on the wire at once at most (the peer accepts 64 streams).
pub(crate) const MAX_IN_FLIGHT_PER_PEER: usize = 32;
/// Messages queued behind them per peer at most; more are refused as busy.
pub(crate) const MAX_QUEUED_PER_PEER: usize = 1024;
/// Messages parked per peer while its address is looked up, at most.
pub(crate) const MAX_PARKED_PER_PEER: usize = 256;
/// Peers with parked messages at most.
pub(crate) const MAX_PEERS_PARKED: usize = 256;

/// What to do with a message handed to [`Outbox::admit`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit<T> {
    /// Send it now.
    Send(T),
    /// Queued; [`Outbox::finished`] hands it out later.
    Queued,
    /// The peer's queue is full: refuse it.
    Full(T),
}

/// What to do with a message handed to [`Outbox::park`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Park<T> {
    /// The first for this peer: start a lookup.
    Lookup,
    /// A lookup is already running.
    Waiting,
    /// Too many parked: refuse it.
    Full(T),
}

#[derive(Debug)]
struct PeerQueue<T> {
    in_flight: usize,
    queue: VecDeque<T>,
}

impl<T> Default for PeerQueue<T> {
    fn default() -> Self {
        Self {
            in_flight: 0,
            queue: VecDeque::new(),
        }
    }
}

/// Per-peer flow control of outgoing INP requests.
#[derive(Debug)]
pub(crate) struct Outbox<T> {
    peers: HashMap<PeerId, PeerQueue<T>>,
    parked: HashMap<PeerId, Vec<T>>,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Self {
            peers: HashMap::new(),
            parked: HashMap::new(),
        }
    }
}

impl<T> Outbox<T> {
    /// A message for `peer` is ready.
    pub(crate) fn admit(&mut self, peer: PeerId, item: T) -> Admit<T> {
        let q = self.peers.entry(peer).or_default();
        if q.in_flight < MAX_IN_FLIGHT_PER_PEER {
            q.in_flight += 1;
            Admit::Send(item)
        } else if q.queue.len() < MAX_QUEUED_PER_PEER {
            q.queue.push_back(item);
            Admit::Queued
        } else {
            Admit::Full(item)
        }
    }

    /// One request to `peer` got its answer (or failed): the next queued message, to send now.
    pub(crate) fn finished(&mut self, peer: &PeerId) -> Option<T> {
        let q = self.peers.get_mut(peer)?;
        q.in_flight = q.in_flight.saturating_sub(1);
        let next = q.queue.pop_front();
        if next.is_some() {
            q.in_flight += 1;
        } else if q.in_flight == 0 {
            self.peers.remove(peer);
        }
        next
    }

    /// Requests to `peer` on the wire.
    pub(crate) fn in_flight(&self, peer: &PeerId) -> usize {
        self.peers.get(peer).map_or(0, |q| q.in_flight)
    }

    /// Parks a message while `peer`'s address is looked up.
    pub(crate) fn park(&mut self, peer: PeerId, item: T) -> Park<T> {
        if !self.parked.contains_key(&peer) && self.parked.len() >= MAX_PEERS_PARKED {
            return Park::Full(item);
        }
        let list = self.parked.entry(peer).or_default();
        if list.len() >= MAX_PARKED_PER_PEER {
            return Park::Full(item);
        }
        list.push(item);
        if list.len() == 1 {
            Park::Lookup
        } else {
            Park::Waiting
        }
    }

    /// The lookup of `peer` ended: its parked messages.
    pub(crate) fn unpark(&mut self, peer: &PeerId) -> Vec<T> {
        self.parked.remove(peer).unwrap_or_default()
    }

    /// Everything queued or parked, e.g. to fail it at shutdown.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let mut all: Vec<T> = self.peers.drain().flat_map(|(_, q)| q.queue).collect();
        all.extend(self.parked.drain().flat_map(|(_, v)| v));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_is_capped_and_the_queue_drains_in_order() {
        let mut o = Outbox::default();
        let p = PeerId::random();
        for i in 0..MAX_IN_FLIGHT_PER_PEER {
            assert_eq!(o.admit(p, i), Admit::Send(i));
        }
        assert_eq!(o.admit(p, 100), Admit::Queued);
        assert_eq!(o.admit(p, 101), Admit::Queued);
        assert_eq!(o.in_flight(&p), MAX_IN_FLIGHT_PER_PEER);
        assert_eq!(o.finished(&p), Some(100));
        assert_eq!(o.finished(&p), Some(101));
        assert_eq!(o.in_flight(&p), MAX_IN_FLIGHT_PER_PEER);
        for _ in 0..MAX_IN_FLIGHT_PER_PEER {
            assert_eq!(o.finished(&p), None);
        }
        assert_eq!(o.in_flight(&p), 0);
        // Another peer is not affected by this one's load.
        assert_eq!(o.admit(PeerId::random(), 7), Admit::Send(7));
    }

    #[test]
    fn queue_and_parking_are_bounded() {
        let mut o = Outbox::default();
        let p = PeerId::random();
        for i in 0..MAX_IN_FLIGHT_PER_PEER + MAX_QUEUED_PER_PEER {
            assert!(!matches!(o.admit(p, i), Admit::Full(_)));
        }
        assert_eq!(o.admit(p, 0), Admit::Full(0));
        assert_eq!(o.drain().len(), MAX_QUEUED_PER_PEER);

        let q = PeerId::random();
        assert_eq!(o.park(q, 1), Park::Lookup);
        assert_eq!(o.park(q, 2), Park::Waiting);
        assert_eq!(o.unpark(&q), vec![1, 2]);
        assert_eq!(
            o.park(q, 3),
            Park::Lookup,
            "a new lookup after the last ended"
        );
        for i in 1..MAX_PARKED_PER_PEER {
            assert_eq!(o.park(q, i), Park::Waiting);
        }
        assert_eq!(o.park(q, 9), Park::Full(9));
    }
}
