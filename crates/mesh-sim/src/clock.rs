//! Which clock a scenario runs on.
//!
//! - [`Clock::Virtual`]: tokio's paused clock on one thread. Time moves only when every node
//!   is idle, jumping to the next timer, so link latencies are exact and the nodes' processing
//!   takes no simulated time: figures show the protocols alone, the same on any machine.
//!   libp2p's own timers (gossipsub heartbeats, idle and query timeouts) follow the same
//!   clock, since libp2p reads its time and timers from tokio (`crates/tokio-clock`), and so
//!   do MESH's own deadlines and timestamps (`mesh_net::unix_clock`).
//! - [`Clock::Real`]: the wall clock on every core: figures include the time the nodes take to
//!   process messages, all sharing this machine's cores.

use serde::{Deserialize, Serialize};

/// The clock of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// Simulated time: latencies exact, processing free.
    Virtual,
    /// Wall-clock time on every core: processing included.
    Real,
}

impl Clock {
    /// A runtime that keeps this clock.
    pub fn runtime(self) -> std::io::Result<tokio::runtime::Runtime> {
        match self {
            Clock::Virtual => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .start_paused(true)
                    .build()?;
                // MESH's own deadlines (intent expiry, negotiation windows) on the same clock.
                runtime.block_on(async { mesh_net::unix_clock::follow_tokio() });
                Ok(runtime)
            }
            Clock::Real => tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build(),
        }
    }
}

impl std::fmt::Display for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Clock::Virtual => "virtual",
            Clock::Real => "real",
        })
    }
}

/// A report with the clock it was measured on and where it comes from, as every JSON file of
/// the simulator holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured<R> {
    /// The clock of the run.
    pub clock: Clock,
    /// The commit, command and machine of the run (absent in files written before it was
    /// recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::provenance::Provenance>,
    /// The run's peak memory per node (absent in files written before it was recorded, and
    /// where the system does not report it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<crate::memory::Memory>,
    /// What the run measured.
    #[serde(flatten)]
    pub report: R,
}
