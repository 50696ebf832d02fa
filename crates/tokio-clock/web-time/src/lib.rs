//! The API of the `web-time` crate on native targets, with [`tokio::time::Instant`] as its
//! `Instant`.
//!
//! libp2p measures time with `web_time::Instant` (Kademlia's query timeouts, gossipsub's
//! backoffs and scores, the swarm's idle connections), which on native targets is
//! `std::time::Instant`. Here it is tokio's `Instant`: the same wall clock in a node, and the
//! runtime's paused clock in the simulator, where every node's timers then agree with the
//! simulated link latencies. MESH's own code uses the same type.

pub use std::time::{Duration, SystemTime, SystemTimeError, TryFromFloatSecsError, UNIX_EPOCH};
pub use tokio::time::Instant;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn instant_follows_the_runtime_clock() {
        let start = Instant::now();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(start.elapsed() >= Duration::from_secs(3600));
    }
}
