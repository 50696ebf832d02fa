//! Unix time for MESH's own deadlines and timestamps: intent expiry and publication times,
//! negotiation deadlines, the ages of records and ratings.
//!
//! A node reads the system clock. The simulator runs a thousand nodes on tokio's paused clock,
//! where a simulated minute may take an hour of real time or a millisecond; deadlines read from
//! the system clock would disagree there with every other timer (libp2p's and MESH's, which
//! follow tokio). After [`follow_tokio`], Unix time in this process is the system time at that
//! call plus the time elapsed since on tokio's clock, so every timer of a simulated node
//! follows the simulator's clock.

use std::sync::OnceLock;
use std::time::SystemTime;

use tokio::time::Instant;

/// The Unix time and tokio instant that [`follow_tokio`] fixed.
static ANCHOR: OnceLock<(u64, Instant)> = OnceLock::new();

/// Makes Unix time in this process follow tokio's clock from now on: call it inside the
/// runtime whose clock the nodes keep (the simulator's paused one). Returns `false`, changing
/// nothing, when it was called before.
pub fn follow_tokio() -> bool {
    ANCHOR
        .set((mesh_core::unix_ms(SystemTime::now()), Instant::now()))
        .is_ok()
}

/// Unix time now, in milliseconds: the system clock's, or after [`follow_tokio`] the time
/// fixed then plus tokio's time elapsed since.
pub fn now_ms() -> u64 {
    match ANCHOR.get() {
        Some((at_ms, at)) => {
            let elapsed = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
            at_ms.saturating_add(elapsed)
        }
        None => mesh_core::unix_ms(SystemTime::now()),
    }
}
