//! `mesh demo`: a small local mesh that shows discovery and intent flow in plain words.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mesh_core::negotiation::{Delivery, Eta, NegotiationId, Price, Proposal, Receipt, Transcript};
use mesh_core::{Budget, Capability, Intent, IntentId};
use mesh_net::{AgentQuery, AwardPolicy, LowestPrice, ReceivedIntent};
use mesh_node::{Home, Node, NodeConfig};
use tokio::sync::broadcast;

struct DemoNode {
    name: &'static str,
    node: Node,
    intents: broadcast::Receiver<Arc<ReceivedIntent>>,
}

fn short(peer: &str) -> String {
    let n = peer.len();
    if n > 10 {
        format!("{}…{}", &peer[..6], &peer[n - 4..])
    } else {
        peer.to_owned()
    }
}

async fn start(
    root: &std::path::Path,
    name: &'static str,
    capabilities: &[&str],
    bootstrap: Option<&str>,
) -> anyhow::Result<DemoNode> {
    let home = Home::new(root.join(name));
    let mut config = NodeConfig::new(home).with_api(([127, 0, 0, 1], 0).into());
    config.net.listen = vec![
        "/ip4/127.0.0.1/tcp/0".parse()?,
        "/ip4/127.0.0.1/udp/0/quic-v1".parse()?,
    ];
    config.net.mdns = false;
    config.net.agent_name = name.to_owned();
    config.net.capabilities = capabilities
        .iter()
        .map(|c| Capability::new(*c))
        .collect::<Result<_, _>>()?;
    if let Some(b) = bootstrap {
        config.net.bootstrap = vec![b.parse()?];
    }
    let node = Node::start(config)
        .await
        .with_context(|| format!("cannot start demo node {name}"))?;
    let intents = node.handle().subscribe_intents();
    Ok(DemoNode {
        name,
        node,
        intents,
    })
}

async fn first_tcp_addr(node: &Node) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = node.handle().info().await?;
        if let Some(a) = info.listen_addrs.iter().find(|a| a.contains("/tcp/")) {
            return Ok(a.clone());
        }
        if Instant::now() > deadline {
            bail!("the hub never started listening");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn discover(
    asker: &DemoNode,
    capability: &str,
    expected: usize,
) -> anyhow::Result<Vec<mesh_net::AgentInfo>> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    loop {
        let found = asker
            .node
            .handle()
            .discover_agents(AgentQuery::new().capabilities([capability]))
            .await?;
        if found.len() >= expected {
            println!(
                "   {} asked the DHT for \"{capability}\" and found {} agent(s) in {:.1} s:",
                asker.name,
                found.len(),
                started.elapsed().as_secs_f64()
            );
            for a in &found {
                println!(
                    "     - {:<8} {}  offers [{}], reputation {:.2}, load {:.2}",
                    a.name,
                    short(&a.peer_id),
                    a.capabilities.join(", "),
                    a.reputation,
                    a.load
                );
            }
            return Ok(found);
        }
        if Instant::now() > deadline {
            bail!(
                "discovery of {capability} found {} of {expected} agents within 60 s",
                found.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn node<'a>(nodes: &'a [DemoNode], name: &str) -> anyhow::Result<&'a DemoNode> {
    nodes
        .iter()
        .find(|n| n.name == name)
        .with_context(|| format!("demo node {name} missing"))
}

/// Step 5: two agents bid, alice takes the cheaper offer, the job is delivered and receipted,
/// and the signed transcript is verified offline.
async fn negotiate(alice: &DemoNode, nodes: &[DemoNode], intent: &str) -> anyhow::Result<()> {
    println!("5. The agents bid on the intent over INP (/mesh/inp/1.0.0). Every message is signed");
    println!("   and carries the hash of the one before, so the exchange is a verifiable chain:");
    let intent: IntentId = intent.parse()?;
    let bids = [("scribe", "1.80", 600u64), ("analyst", "2.00", 300)];
    let mut offers = Vec::new();
    for (name, amount, eta) in bids {
        let proposal = Proposal::new(
            Price::new(amount, "USD")?,
            Eta::Within(Duration::from_secs(eta)),
        )
        .with_terms("plain English, 200 words");
        let event = node(nodes, name)?
            .node
            .handle()
            .offer(intent, proposal)
            .await?;
        println!(
            "   {name:<8} offers {amount} USD, delivery within {} min",
            eta / 60
        );
        offers.push((
            name,
            Price::new(amount, "USD")?,
            event.negotiation_id.parse::<NegotiationId>()?,
        ));
    }
    let handle = alice.node.handle();
    let status = async |h: &mesh_net::MeshHandle| -> anyhow::Result<String> {
        Ok(h.intent(intent)
            .await?
            .map(|v| v.status)
            .unwrap_or_default())
    };
    println!("   alice's intent is now {}", status(handle).await?);
    let outcome = mesh_net::award::award(
        handle,
        intent,
        &AwardPolicy {
            window: Duration::ZERO,
            ..AwardPolicy::default()
        },
        &LowestPrice::new(0.0),
    )
    .await?;
    let won: NegotiationId = outcome
        .accepted
        .as_deref()
        .context("alice awarded no offer")?
        .parse()?;
    let (winner, price, _) = offers
        .iter()
        .find(|(_, _, id)| *id == won)
        .context("the winner is not among the bids")?;
    let winner = *winner;
    println!(
        "   alice accepts the lowest price ({winner}, {} {})",
        price.amount(),
        price.currency()
    );
    for (loser, _, id) in &offers {
        if *id != won {
            println!("   alice rejects {loser}'s offer");
        }
    }
    println!("   alice's intent is now {}", status(handle).await?);
    let summary_text = "The report finds that demand grew 12% while costs held steady.";
    let delivered = node(nodes, winner)?
        .node
        .handle()
        .deliver(
            won,
            Delivery::inline("text/plain", summary_text.as_bytes().to_vec()),
        )
        .await?;
    println!(
        "   {winner} delivers the summary: \"{summary_text}\" ({})",
        delivered.state
    );
    let done = handle
        .receipt(won, Receipt::new(0.9).with_comment("clear and on time"))
        .await?;
    println!(
        "   alice rates it 0.90 and signs a receipt: the job is {}, the intent {}",
        done.state,
        status(handle).await?
    );
    let transcript = handle
        .transcript(won)
        .await?
        .context("alice lost the transcript")?;
    let exported = transcript.to_json();
    let check = Transcript::from_json(&exported)?.verify()?;
    println!(
        "   Anyone can check the {} signed messages offline: the chain verifies, ending {:?}.\n",
        check.events.len(),
        check.state
    );
    Ok(())
}

pub async fn run(keep_running: bool) -> anyhow::Result<ExitCode> {
    crate::commands::record_panics();
    let root = tempfile::Builder::new()
        .prefix("mesh-demo-")
        .tempdir()
        .context("cannot create a directory for the demo nodes")?;
    println!(
        "MESH demo: five nodes on this machine, talking over real TCP and QUIC sockets on 127.0.0.1."
    );
    println!(
        "Each node has its own Ed25519 identity and home under {}.\n",
        root.path().display()
    );

    println!("1. A coordinator, \"hub\", starts. Others use it as their bootstrap peer.");
    let hub = start(root.path(), "hub", &[], None).await?;
    let hub_addr = first_tcp_addr(&hub.node).await?;
    println!("   hub listens on {hub_addr}\n");

    println!("2. Three agents start and advertise what they can do; \"alice\" wants work done.");
    let agents = [
        ("scribe", &["text-generation", "summarization"][..]),
        ("painter", &["image-generation"][..]),
        ("analyst", &["data-analysis", "text-generation"][..]),
    ];
    let mut nodes = Vec::new();
    for (name, caps) in agents {
        let n = start(root.path(), name, caps, Some(&hub_addr)).await?;
        println!(
            "   {name:<8} {}  offers [{}]",
            short(&n.node.handle().peer_id().to_string()),
            caps.join(", ")
        );
        nodes.push(n);
    }
    let mut alice = start(root.path(), "alice", &[], Some(&hub_addr)).await?;
    println!(
        "   alice    {}  offers nothing, publishes intents\n",
        short(&alice.node.handle().peer_id().to_string())
    );

    println!("3. Each agent signs an agent record, stores it in the Kademlia DHT and becomes a");
    println!("   provider of its capabilities. Alice looks agents up by capability:");
    discover(&alice, "text-generation", 2).await?;
    discover(&alice, "image-generation", 1).await?;
    println!();

    println!("4. Alice publishes an intent on the gossipsub topic mesh/intents/1/text-generation:");
    let intent = Intent::new("Summarise this PDF")
        .capabilities(["text-generation"])
        .description("A 10-page report; plain English, 200 words")
        .budget(Budget::new("2", "USD"))
        .ttl(Duration::from_secs(600));
    let outcome = alice.node.handle().publish_intent(&intent).await?;
    println!(
        "   \"Summarise this PDF\", budget 2 USD, id {}…",
        &outcome.id[..16]
    );
    let mut received = Vec::new();
    // The agent expected to stay silent is checked last, so its wait does not delay the others.
    nodes.sort_by_key(|n| n.name == "painter");
    for n in nodes.iter_mut() {
        let wanted = n.name != "painter";
        let wait = if wanted { 15 } else { 2 };
        match tokio::time::timeout(Duration::from_secs(wait), n.intents.recv()).await {
            Ok(Ok(r)) if r.intent.id.to_string() == outcome.id => {
                let latency = r
                    .received_at_ms
                    .saturating_sub(r.intent.content.created_at_ms);
                println!(
                    "   {:<8} received it {latency} ms after alice signed it, and verified her signature",
                    n.name
                );
                received.push(n.name);
            }
            _ if !wanted => println!(
                "   {:<8} did not receive it: it does not offer text-generation",
                n.name
            ),
            _ => bail!("{} did not receive the intent", n.name),
        }
    }
    let _ = alice.intents.try_recv();
    println!();

    negotiate(&alice, &nodes, &outcome.id).await?;

    println!("6. Every node keeps a local reputation of its peers, starting at 0.50 and moved by");
    println!("   valid and invalid messages. Hub's view of its peers:");
    for p in hub.node.handle().peers().await? {
        println!(
            "   {}  rtt {}  reputation {:.2}",
            short(&p.peer_id),
            p.rtt_ms
                .map(|r| format!("{r:.2} ms"))
                .unwrap_or_else(|| "-".into()),
            p.reputation
        );
    }
    println!();
    println!(
        "Demo complete: {} of 2 text-generation agents got the intent, the image agent did not, discovery found every agent by capability, and one job went from offer to receipt.",
        received.len()
    );

    let mut all = vec![hub, alice];
    all.extend(nodes);
    if keep_running {
        println!("\nThe mesh keeps running. In another terminal, try:");
        let home_of = |name: &str| root.path().join(name).display().to_string();
        println!("   mesh --home {} peers", home_of("hub"));
        println!("   mesh --home {} negotiations list", home_of("alice"));
        println!(
            "   mesh --home {} agents discover --capability text-generation",
            home_of("alice")
        );
        println!(
            "   mesh --home {} intents watch --capability text-generation",
            home_of("scribe")
        );
        println!(
            "   mesh --home {} intents publish --capability text-generation --title \"Translate a menu\" --budget \"1 USD\"",
            home_of("alice")
        );
        println!("Press Ctrl-C to stop the mesh.");
        let failed = futures::future::select_all(all.iter().map(|n| Box::pin(n.node.failed())));
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            (f, _, _) = failed => tracing::error!("{f}"),
        }
    }
    let mut failures = Vec::new();
    for n in all {
        if let Some(f) = n.node.shutdown().await {
            failures.push(format!(
                "{}: {}",
                n.name,
                crate::commands::with_panic_location(&f)
            ));
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(ExitCode::SUCCESS)
}
