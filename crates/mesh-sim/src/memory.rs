//! What a run costs in memory, as the kernel counts it: the process's peak resident set
//! (`VmHWM` in `/proc/self/status`) over the most nodes that were running at once, so that the
//! figure per node comes from the tool itself rather than from an outside measurement.
//!
//! The peak covers the whole process: the binary, the runtime and the scenario's own records
//! besides the nodes. [`reset`] starts a new measurement (the suite runs several scenarios in
//! one process); memory the allocator kept from an earlier run still counts in the next one.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

/// Nodes running now, in every population of the process.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Most nodes running at once since the last [`reset`].
static MOST_LIVE: AtomicUsize = AtomicUsize::new(0);

/// The peak memory of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Peak resident set of the process since the run began, MiB.
    pub peak_rss_mib: f64,
    /// Most nodes running at once.
    pub nodes: usize,
    /// `peak_rss_mib / nodes`.
    pub peak_rss_mib_per_node: f64,
}

impl Memory {
    /// The peak since the process started or the last [`reset`]; `None` where the system does
    /// not report it (outside Linux) or no node ran.
    pub fn measure() -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        let nodes = MOST_LIVE.load(Ordering::Relaxed);
        if nodes == 0 {
            return None;
        }
        let peak_rss_mib = kib as f64 / 1024.0;
        Some(Self {
            peak_rss_mib,
            nodes,
            peak_rss_mib_per_node: peak_rss_mib / nodes as f64,
        })
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "peak memory {:.0} MiB, {:.2} MiB per node ({} nodes at most at once)",
            self.peak_rss_mib, self.peak_rss_mib_per_node, self.nodes
        )
    }
}

/// Starts a new measurement: the kernel's peak resident set falls back to the current one
/// (Linux 4.0 and later; elsewhere it keeps counting from the start), and the most nodes
/// running at once to those running now.
pub fn reset() {
    // "5" resets the peak resident set size (proc(5), /proc/pid/clear_refs).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    MOST_LIVE.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// A node started.
pub(crate) fn node_started() {
    let live = LIVE.fetch_add(1, Ordering::Relaxed) + 1;
    MOST_LIVE.fetch_max(live, Ordering::Relaxed);
}

/// A node stopped.
pub(crate) fn node_stopped() {
    let _ = LIVE.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_peak_is_read_and_shared_among_the_nodes() {
        node_started();
        node_started();
        let m = Memory::measure();
        node_stopped();
        node_stopped();
        if cfg!(target_os = "linux") {
            let m = m.unwrap();
            assert!(m.nodes >= 2, "{m:?}");
            assert!(m.peak_rss_mib > 1.0, "{m:?}");
            assert!((m.peak_rss_mib_per_node * m.nodes as f64 - m.peak_rss_mib).abs() < 1e-6);
        }
    }
}
