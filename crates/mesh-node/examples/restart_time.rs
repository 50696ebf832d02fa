//! How long a node takes to start with a large store, against the same start with an empty
//! store on the same machine.
//!
//! ```text
//! cargo run --release -p mesh-node --example restart_time -- [INTENTS]   # default 100000
//! ```
//!
//! Fills a fresh home's store with INTENTS signed intents (600 bytes of payload each, from 16
//! publishers, unexpired), then times `Node::start` until the node answers `info`, three times
//! each with the full and with an empty store, and prints the medians.

use std::time::{Duration, Instant};

use mesh_core::{Intent, Keypair, unix_ms};
use mesh_node::{Home, Node, NodeConfig};
use mesh_store::{IntentStatus, Store, StoredIntent};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn fill(home: &Home, count: usize) -> Result<(), BoxError> {
    home.create()?;
    let store = Store::open(&home.store_path())?;
    let keys: Vec<Keypair> = (0..16).map(|_| Keypair::generate_ed25519()).collect();
    let now = unix_ms(std::time::SystemTime::now());
    let mut batch = Vec::with_capacity(1000);
    for i in 0..count {
        let key = &keys[i % keys.len()];
        let signed = Intent::new(format!("stored job {i}"))
            .capabilities(["data-analysis"])
            .payload("text/plain", vec![b'x'; 600])
            .ttl(Duration::from_secs(3600))
            .sign(key, now)?;
        batch.push(StoredIntent {
            id: signed.id.0,
            envelope: signed.envelope,
            expires_at_unix_ms: signed.content.expires_at_ms,
            status: IntentStatus::Open,
            own: false,
            received_at_unix_ms: now,
        });
        if batch.len() == 1000 {
            store.put_intents(&batch)?;
            batch.clear();
        }
    }
    store.put_intents(&batch)?;
    Ok(())
}

async fn start_once(home: &Home) -> Result<Duration, BoxError> {
    let mut config = NodeConfig::new(home.clone());
    config.net.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    config.net.mdns = false;
    let started = Instant::now();
    let node = Node::start(config).await?;
    node.handle().info().await?;
    let took = started.elapsed();
    node.shutdown().await;
    Ok(took)
}

async fn median_start(home: &Home) -> Result<Duration, BoxError> {
    let mut times = Vec::new();
    for _ in 0..3 {
        times.push(start_once(home).await?);
    }
    times.sort();
    Ok(times[1])
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let count: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 100_000,
    };
    let dir = tempfile::tempdir()?;
    let (full, empty) = (
        Home::new(dir.path().join("full")),
        Home::new(dir.path().join("empty")),
    );
    let filling = Instant::now();
    fill(&full, count)?;
    println!(
        "filled {count} intents in {:.2} s",
        filling.elapsed().as_secs_f64()
    );
    empty.create()?;
    let baseline = median_start(&empty).await?;
    let loaded = median_start(&full).await?;
    println!(
        "start with an empty store:        {:>8.1} ms",
        baseline.as_secs_f64() * 1e3
    );
    println!(
        "start with {count:>7} intents stored: {:>8.1} ms",
        loaded.as_secs_f64() * 1e3
    );
    println!(
        "difference: {:.1} ms ({:.2}x)",
        (loaded.as_secs_f64() - baseline.as_secs_f64()) * 1e3,
        loaded.as_secs_f64() / baseline.as_secs_f64()
    );
    Ok(())
}
