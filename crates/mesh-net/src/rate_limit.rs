//! Token buckets, one per key (a peer, a publisher), in a bounded table.
//!
//! A bucket holds up to `burst` tokens and gains `rate` tokens per second; each request takes
//! one, and a request that finds the bucket empty is refused. The table remembers at most
//! `capacity` keys: when it is full, the key whose bucket is fullest (the least active one)
//! makes room, so a flood of new keys cannot grow memory and an attacker cycling through
//! identities gains nothing a fresh key would not have.
//!
//! `Window` is the unkeyed, exact form: at most `max` events in any `period`.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// How fast and how much a key may ask.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens gained per second.
    pub per_second: f64,
    /// Most tokens held: the largest burst.
    pub burst: f64,
}

impl Rate {
    /// `count` requests per `period`, with a burst of `count`.
    pub fn per(count: u32, period: Duration) -> Self {
        let count = f64::from(count.max(1));
        Self {
            per_second: count / period.as_secs_f64().max(1e-3),
            burst: count,
        }
    }
}

/// At most `max` events in any sliding `period`, counted exactly. Owned by the event loop.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    max: usize,
    period: Duration,
    at: VecDeque<Instant>,
}

impl Window {
    /// At most `max` events in any `period`.
    pub(crate) fn new(max: usize, period: Duration) -> Self {
        Self {
            max,
            period,
            at: VecDeque::with_capacity(max),
        }
    }

    /// Takes one event at `now` if fewer than `max` happened in the `period` before it.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        while self
            .at
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= self.period)
        {
            self.at.pop_front();
        }
        if self.at.len() >= self.max {
            return false;
        }
        self.at.push_back(now);
        true
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refilled(self, rate: Rate, now: Instant) -> f64 {
        let gained = now.saturating_duration_since(self.at).as_secs_f64() * rate.per_second;
        (self.tokens + gained).min(rate.burst)
    }
}

/// One token bucket per key, at most `capacity` keys. Owned by the event loop.
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    rate: Rate,
    capacity: usize,
    buckets: HashMap<K, Bucket>,
}

impl<K: Eq + Hash + Clone> KeyedLimiter<K> {
    /// Buckets of `rate` for at most `capacity` keys.
    pub fn new(rate: Rate, capacity: usize) -> Self {
        Self {
            rate,
            capacity: capacity.max(1),
            buckets: HashMap::new(),
        }
    }

    /// The rate.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes one token of `key`'s bucket at `now`; `false` when the bucket is empty.
    pub fn allow(&mut self, key: &K, now: Instant) -> bool {
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.capacity {
            self.make_room(now);
        }
        let rate = self.rate;
        let bucket = self.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: rate.burst,
            at: now,
        });
        let tokens = bucket.refilled(rate, now);
        bucket.at = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            true
        } else {
            bucket.tokens = tokens;
            false
        }
    }

    /// Keys remembered.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Forgets the keys whose buckets are full again (they are as good as new), and if none
    /// is, the fullest one.
    fn make_room(&mut self, now: Instant) {
        let rate = self.rate;
        self.buckets
            .retain(|_, b| b.refilled(rate, now) < rate.burst);
        if self.buckets.len() >= self.capacity
            && let Some(fullest) = self
                .buckets
                .iter()
                .max_by(|a, b| a.1.refilled(rate, now).total_cmp(&b.1.refilled(rate, now)))
                .map(|(k, _)| k.clone())
        {
            self.buckets.remove(&fullest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_takes_at_most_max_in_any_period() {
        let t0 = Instant::now();
        let mut w = Window::new(2, Duration::from_secs(10));
        assert!(w.take(t0));
        assert!(w.take(t0 + Duration::from_secs(1)));
        assert!(!w.take(t0 + Duration::from_secs(9)), "a third within 10 s");
        assert!(
            w.take(t0 + Duration::from_secs(10)),
            "the first has left the window"
        );
        assert!(!w.take(t0 + Duration::from_secs(10)));
        assert!(w.take(t0 + Duration::from_secs(11)));
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let mut l = KeyedLimiter::new(Rate::per(10, Duration::from_secs(1)), 16);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(l.allow(&1u8, t0));
        }
        assert!(!l.allow(&1u8, t0), "the burst is spent");
        assert!(l.allow(&2u8, t0), "another key has its own bucket");
        // One token comes back every 100 ms.
        assert!(!l.allow(&1u8, t0 + Duration::from_millis(50)));
        assert!(l.allow(&1u8, t0 + Duration::from_millis(160)));
        assert!(!l.allow(&1u8, t0 + Duration::from_millis(170)));
        // Idle for long: the burst is back, never more.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..10 {
            assert!(l.allow(&1u8, later));
        }
        assert!(!l.allow(&1u8, later));
    }

    #[test]
    fn the_table_stays_bounded_and_keeps_the_busy_keys() {
        let mut l = KeyedLimiter::new(Rate::per(2, Duration::from_secs(60)), 4);
        let t0 = Instant::now();
        assert!(l.allow(&0u32, t0));
        assert!(l.allow(&0u32, t0));
        assert!(!l.allow(&0u32, t0));
        for k in 1..1000u32 {
            l.allow(&k, t0);
            assert!(l.len() <= 4);
        }
        // Key 0 spent its bucket: it is never the one evicted, so it stays refused.
        assert!(!l.allow(&0u32, t0));
    }

    #[test]
    fn rate_per_period() {
        let r = Rate::per(120, Duration::from_secs(60));
        assert_eq!(r.burst, 120.0);
        assert!((r.per_second - 2.0).abs() < 1e-9);
    }
}
