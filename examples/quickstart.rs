//! The SDK example of the MESH brief, runnable on one machine.
//!
//! ```text
//! cargo run -p mesh-sdk --example quickstart
//! MESH_BOOTSTRAP=/ip4/127.0.0.1/tcp/7701/p2p/12D3Koo... cargo run -p mesh-sdk --example quickstart
//! ```
//!
//! Without `MESH_BOOTSTRAP`, it first starts a second agent in this process, offering
//! `image-generation`, and uses it as the bootstrap peer.

use std::time::Duration;

use futures::StreamExt;
use mesh_sdk::{AgentQuery, Budget, Intent, MeshNetwork};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;

    // A worker agent, so the example has someone to find and someone to hear the intent.
    let worker = MeshNetwork::builder()
        .home(scratch.path().join("worker"))
        .name("painter")
        .capabilities(["image-generation"])
        .listen_addresses(["/ip4/127.0.0.1/tcp/0"])
        .mdns(false)
        .build()?;
    worker.connect().await?;
    let bootstrap = match std::env::var("MESH_BOOTSTRAP") {
        Ok(addr) => addr,
        Err(_) => worker.info().await?.listen_addrs[0].clone(),
    };
    let mut worker_intents = worker.subscribe_to_intents();

    // The brief's example.
    let network = MeshNetwork::builder()
        .bootstrap_peers([bootstrap.as_str()])
        .capabilities(["text-generation", "data-analysis"])
        .home(scratch.path().join("agent"))
        .listen_addresses(["/ip4/127.0.0.1/tcp/0"])
        .mdns(false)
        .build()?;
    network.connect().await?;
    println!("connected as {}", network.info().await?.peer_id);

    let mut intents = network.subscribe_to_intents();
    tokio::spawn(async move {
        while let Some(intent) = intents.next().await {
            println!("Received intent: {}", intent.title());
        }
    });

    // Local reputation starts at 0.5 (neutral) for peers this node has not yet seen behave, so
    // a fresh node asks for 0.5 here; 0.8 needs a history of good behaviour.
    let mut agents = Vec::new();
    for _ in 0..40 {
        agents = network
            .discover_agents(
                AgentQuery::new()
                    .capabilities(["image-generation"])
                    .min_reputation(0.5),
            )
            .await?;
        if !agents.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for a in &agents {
        println!(
            "found agent {} ({}) offering {:?}, reputation {:.2}",
            a.name, a.peer_id, a.capabilities, a.reputation
        );
    }

    let my_intent = Intent::new("Draw a logo for a bakery")
        .capabilities(["image-generation"])
        .budget(Budget::new("2", "USD"))
        .ttl(Duration::from_secs(600));
    let outcome = network.publish_intent(my_intent).await?;
    println!("published intent {}", outcome.id);

    match tokio::time::timeout(Duration::from_secs(10), worker_intents.next()).await {
        Ok(Some(intent)) => println!(
            "the painter received \"{}\" from {}",
            intent.title(),
            intent.publisher
        ),
        _ => println!("the painter did not receive the intent within 10 s"),
    }

    network.shutdown().await;
    worker.shutdown().await;
    Ok(())
}
