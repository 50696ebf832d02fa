//! The API of the `futures-timer` crate (its [`Delay`]) on tokio's timer.
//!
//! Every timer in libp2p is a `futures_timer::Delay`: idle connections, pings, identify,
//! Kademlia's bootstrap and gossipsub's heartbeat. The crates.io implementation runs them on
//! a wall-clock thread of its own; this one runs them on the timer of the tokio runtime that
//! polls them, the same wall clock in a node, and the paused clock in the simulator, where a
//! heartbeat then comes every simulated second however long the machine takes to compute it.
//!
//! A `Delay` must be polled inside a tokio runtime with its time driver enabled, as every
//! libp2p swarm in MESH is.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Further than any timer MESH sets; what an overflowing deadline becomes.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// A future that completes once its duration has passed on the runtime's clock.
pub struct Delay {
    deadline: Instant,
    /// Made on the first poll, inside the runtime that polls it.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Delay {
    /// A delay that completes `dur` from now.
    pub fn new(dur: Duration) -> Delay {
        Delay {
            deadline: deadline_after(dur),
            sleep: None,
        }
    }

    /// Moves the deadline to `dur` from now, whether or not the delay has completed.
    pub fn reset(&mut self, dur: Duration) {
        self.deadline = deadline_after(dur);
        if let Some(sleep) = &mut self.sleep {
            sleep.as_mut().reset(self.deadline);
        }
    }
}

fn deadline_after(dur: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(dur)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

impl Future for Delay {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        self.sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)))
            .as_mut()
            .poll(cx)
    }
}

impl fmt::Debug for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delay")
            .field("deadline", &self.deadline)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test(start_paused = true)]
    async fn completes_after_its_duration_on_the_paused_clock() {
        let start = Instant::now();
        Delay::new(Duration::from_secs(90)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(90));
    }

    #[tokio::test(start_paused = true)]
    async fn reset_moves_the_deadline_of_a_polled_delay() {
        let start = Instant::now();
        let mut delay = Delay::new(Duration::from_secs(1));
        assert!((&mut delay).now_or_never().is_none());
        delay.reset(Duration::from_secs(5));
        delay.await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_delay_can_be_reset_after_completing() {
        let start = Instant::now();
        let mut delay = Delay::new(Duration::from_secs(1));
        (&mut delay).await;
        delay.reset(Duration::from_secs(2));
        delay.await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn an_endless_delay_does_not_overflow() {
        let mut delay = Delay::new(Duration::MAX);
        assert!((&mut delay).now_or_never().is_none());
    }
}
