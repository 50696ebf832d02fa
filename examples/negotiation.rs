//! A whole negotiation on one machine: a publisher, two workers, two bids, an award, a
//! delivery, a receipt, and a transcript both sides verify offline.
//!
//! ```text
//! cargo run -p mesh-sdk --example negotiation
//! ```
//!
//! Three agents start in this process, on 127.0.0.1 with mDNS off and temporary homes. The
//! workers, offering `text-generation`, bootstrap from the publisher. Each worker bids on the
//! publisher's intent at its own price; the publisher awards the intent to the lowest price,
//! which rejects the other bid; the winner delivers, the publisher rates the delivery, and both
//! sides check the signed transcript. Exits with an error if a step does not happen in time.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use mesh_sdk::{
    AgentQuery, Budget, Delivery, Eta, Intent, IntentId, IntentStream, LowestPrice, MeshNetwork,
    NegotiationEvent, NegotiationId, NegotiationState, Price, Proposal, Receipt, Transcript,
};

type BoxError = Box<dyn Error + Send + Sync>;
type Events = Pin<Box<dyn Stream<Item = NegotiationEvent> + Send>>;

/// Upper bound for any single step; on a healthy machine each takes well under a second.
const STEP: Duration = Duration::from_secs(30);
const CAPABILITY: &str = "text-generation";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let scratch = tempfile::tempdir()?;

    // The publisher starts first; the workers use it as their bootstrap peer.
    let publisher = agent(scratch.path(), "publisher", &[], None)?;
    publisher.connect().await?;
    let hub = publisher.info().await?.listen_addrs[0].clone();
    println!("publisher  up as {}", publisher.info().await?.peer_id);

    let mut workers = Vec::new();
    for (name, price) in [("writer-a", "3.00"), ("writer-b", "2.50")] {
        let network = agent(scratch.path(), name, &[CAPABILITY], Some(&hub))?;
        network.connect().await?;
        println!("{name:<10} up as {}", network.info().await?.peer_id);
        // Subscribe before the intent is published, so that it cannot be missed.
        let intents = network.subscribe_to_intents();
        let events: Events = Box::pin(network.negotiation_events());
        workers.push((name, price, network, intents, events));
    }

    // A fresh node needs a moment before its agent record and topic subscriptions reach the
    // others: wait until the publisher finds both workers.
    let deadline = Instant::now() + STEP;
    let agents = loop {
        let found = publisher
            .discover_agents(AgentQuery::new().capabilities([CAPABILITY]))
            .await?;
        if found.len() >= workers.len() {
            break found;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the publisher found {} of {} workers within {} s",
                found.len(),
                workers.len(),
                STEP.as_secs()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for a in &agents {
        println!(
            "publisher  discovered {} offering {:?} (reputation {:.2})",
            a.name, a.capabilities, a.reputation
        );
    }
    let name_of = |peer: &str| {
        agents
            .iter()
            .find(|a| a.peer_id == peer)
            .map_or_else(|| peer.to_owned(), |a| a.name.clone())
    };

    // Each worker runs on its own, reacting to what reaches it.
    let mut tasks = Vec::new();
    for (name, price, network, intents, events) in workers {
        tasks.push((
            name,
            network.clone(),
            tokio::spawn(work(name, price, network, intents, events)),
        ));
    }

    let mut publisher_events: Events = Box::pin(publisher.negotiation_events());
    let intent = Intent::new("Summarise the MESH README in one sentence")
        .capabilities([CAPABILITY])
        .budget(Budget::new("5", "USD"))
        .ttl(Duration::from_secs(600));
    println!("publisher  publishes {:?} on {CAPABILITY}", intent.title);
    let outcome = publisher.publish_intent(intent).await?;
    let intent_id: IntentId = outcome.id.parse()?;
    println!(
        "publisher  published intent {} to {} subscriber(s)",
        short(&outcome.id),
        outcome.topics.iter().map(|t| t.peers).sum::<usize>()
    );

    // Wait until both bids are in.
    let deadline = Instant::now() + STEP;
    let offers = loop {
        let offers = publisher.offers(intent_id).await?;
        if offers.len() >= 2 {
            break offers;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} of 2 offers arrived within {} s",
                offers.len(),
                STEP.as_secs()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for o in &offers {
        println!(
            "publisher  has an offer from {}: {} (reputation {:.2})",
            name_of(&o.agent),
            o.price,
            o.reputation
        );
    }

    let Some(winner) = publisher.award(intent_id, &LowestPrice::new(0.0)).await? else {
        return Err("the publisher awarded no offer".into());
    };
    let winner_name = offers
        .iter()
        .find(|o| o.negotiation_id == winner)
        .map(|o| name_of(&o.agent))
        .unwrap_or_default();
    println!("publisher  awarded the intent to {winner_name} and rejected the other offer");

    // The winner delivers; read the result from the transcript.
    wait_for(&mut publisher_events, "the delivery", |e| {
        e.negotiation_id == winner.to_string() && e.received && e.kind == "deliver"
    })
    .await?;
    let transcript = fetch(&publisher, winner).await?;
    let summary = transcript.verify()?;
    if let Some(delivery) = &summary.delivery
        && let mesh_core::negotiation::ResultContent::Inline { content_type, data } =
            &delivery.content
    {
        println!(
            "publisher  received the delivery ({content_type}): {:?}",
            String::from_utf8_lossy(data)
        );
    }

    publisher
        .receipt(
            winner,
            Receipt::new(0.9).with_comment("clear and to the point"),
        )
        .await?;
    println!("publisher  sent a receipt: rating 0.9");

    let at_publisher = fetch(&publisher, winner).await?;
    let summary = at_publisher.verify()?;
    println!(
        "publisher  transcript: {} messages, verifies offline, state {}, head {}",
        at_publisher.len(),
        summary.state,
        short(&hex(&summary.head))
    );

    for (name, network, task) in tasks {
        let result = tokio::time::timeout(STEP * 2, task)
            .await
            .map_err(|_| format!("{name} did not finish"))?
            .map_err(|e| format!("{name} panicked: {e}"))?;
        if let Some(at_winner) = result? {
            if at_winner.envelopes() != at_publisher.envelopes() {
                return Err("the winner's and the publisher's transcripts differ".into());
            }
            println!(
                "both sides hold the same {} signed messages",
                at_winner.len()
            );
        }
        network.shutdown().await;
    }
    publisher.shutdown().await;
    Ok(())
}

/// One worker: bid on the first intent received, then follow the negotiation to its end.
/// Returns the transcript if this worker won and completed the work.
async fn work(
    name: &'static str,
    price: &'static str,
    network: MeshNetwork,
    mut intents: IntentStream,
    mut events: Events,
) -> Result<Option<Transcript>, BoxError> {
    let intent = within(&format!("{name}: the intent"), intents.next())
        .await?
        .ok_or("intent stream ended")?;
    println!("{name:<10} received intent {:?}", intent.title());

    let proposal = Proposal::new(
        Price::new(price, "USD")?,
        Eta::Within(Duration::from_secs(300)),
    )
    .with_terms("one sentence, plain English");
    let bid = network.bid(intent.id, proposal).await?;
    let id: NegotiationId = bid.negotiation_id.parse()?;
    println!(
        "{name:<10} bid {price} USD (negotiation {})",
        short(&bid.negotiation_id)
    );

    let answer = wait_for(&mut events, &format!("{name}: an answer to the bid"), |e| {
        e.negotiation_id == bid.negotiation_id
            && e.received
            && (e.kind == "accept" || e.kind == "reject")
    })
    .await?;
    if answer.kind == "reject" {
        let summary = fetch(&network, id).await?.verify()?;
        println!("{name:<10} lost: the negotiation was {}", summary.state);
        return Ok(None);
    }
    println!("{name:<10} was accepted; delivering");

    network
        .deliver(
            id,
            Delivery::inline(
                "text/plain",
                "MESH lets AI agents find each other, publish intents and negotiate work \
                 peer to peer.",
            ),
        )
        .await?;
    println!("{name:<10} delivered");

    wait_for(&mut events, &format!("{name}: the receipt"), |e| {
        e.negotiation_id == bid.negotiation_id && e.received && e.kind == "receipt"
    })
    .await?;
    let transcript = fetch(&network, id).await?;
    let summary = transcript.verify()?;
    if summary.state != NegotiationState::Completed {
        return Err(format!("{name}: the negotiation ended {}", summary.state).into());
    }
    let receipt = summary
        .receipt
        .as_ref()
        .ok_or("no receipt in the transcript")?;
    println!(
        "{name:<10} got a receipt: rating {} ({:?})",
        receipt.rating, receipt.comment
    );
    println!(
        "{name:<10} transcript: {} messages, verifies offline, state {}",
        transcript.len(),
        summary.state
    );
    Ok(Some(transcript))
}

fn agent(
    dir: &std::path::Path,
    name: &str,
    capabilities: &[&str],
    bootstrap: Option<&str>,
) -> Result<MeshNetwork, mesh_sdk::Error> {
    MeshNetwork::builder()
        .home(dir.join(name))
        .name(name)
        .capabilities(capabilities.iter().copied())
        .bootstrap_peers(bootstrap)
        .listen_addresses(["/ip4/127.0.0.1/tcp/0"])
        .mdns(false)
        .build()
}

/// The next event matching `wanted`, within [`STEP`].
async fn wait_for(
    events: &mut Events,
    what: &str,
    wanted: impl Fn(&NegotiationEvent) -> bool,
) -> Result<NegotiationEvent, BoxError> {
    within(what, async {
        while let Some(e) = events.next().await {
            if wanted(&e) {
                return Ok(e);
            }
        }
        Err(BoxError::from("the negotiation event stream ended"))
    })
    .await?
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> Result<T, BoxError> {
    tokio::time::timeout(STEP, fut)
        .await
        .map_err(|_| format!("{what} did not arrive within {} s", STEP.as_secs()).into())
}

async fn fetch(network: &MeshNetwork, id: NegotiationId) -> Result<Transcript, BoxError> {
    network
        .transcript(id)
        .await?
        .ok_or_else(|| format!("no transcript for negotiation {id}").into())
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
