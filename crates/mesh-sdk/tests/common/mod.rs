//! Helpers shared by the SDK tests: agents on loopback with mDNS off, and polling.
#![allow(dead_code, clippy::expect_used)]

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use mesh_sdk::MeshNetwork;

/// Upper bound for one step; each takes well under a second on a healthy machine.
pub const STEP: Duration = Duration::from_secs(30);

/// An agent named `name` with its home in `dir/name`, listening on loopback TCP, mDNS off.
pub fn agent(dir: &Path, name: &str, caps: &[&str], bootstrap: &[String]) -> MeshNetwork {
    MeshNetwork::builder()
        .home(dir.join(name))
        .name(name)
        .capabilities(caps.iter().copied())
        .bootstrap_peers(bootstrap.iter().cloned())
        .listen_addresses(["/ip4/127.0.0.1/tcp/0"])
        .mdns(false)
        .build()
        .expect("valid settings")
}

/// Polls `check` every 100 ms until it returns `Some`, failing after [`STEP`].
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {} s",
            STEP.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
