//! A whole job on one machine: a publisher and two worker agents negotiate, agree, deliver,
//! receipt, and both sides verify the signed transcript offline.
//!
//! ```text
//! cargo run -p mesh-sdk --example negotiation
//! ```
//!
//! Three agents start in this process, on 127.0.0.1 with mDNS off and temporary homes. Each
//! worker is an [`AgentHandler`]: it bids its own price on every intent, answers counters by
//! its own rule and does the work once agreed. The publisher awards its intent with an
//! [`AwardPolicy`]: it collects offers for two seconds, takes the lowest price, and counters
//! at 2.00 USD when that price is higher. The worker that takes the counter wins, the other
//! offer is rejected, the winner delivers on its own, and the publisher sends a receipt.
//! Exits with an error if a step does not happen in time.

use std::error::Error;
use std::time::{Duration, Instant};

use futures::StreamExt;
use mesh_sdk::{
    AgentHandler, AgentQuery, Answer, AwardPolicy, Bid, Budget, Delivery, Eta, Intent, IntentId,
    LowestPrice, MeshNetwork, NegotiationEvent, NegotiationEventKind, NegotiationId,
    NegotiationState, NegotiationSummary, Price, Proposal, Receipt, SignedIntent, Transcript,
};
use tokio::sync::mpsc;

type BoxError = Box<dyn Error + Send + Sync>;

/// Upper bound for any single step; on a healthy machine each takes well under a second.
const STEP: Duration = Duration::from_secs(30);
const CAPABILITY: &str = "text-generation";

/// A worker: its price, the lowest counter it takes, and where it reports how jobs ended.
struct Writer {
    name: &'static str,
    price: &'static str,
    lowest_counter: Option<&'static str>,
    ended: mpsc::Sender<(&'static str, NegotiationEvent)>,
}

impl AgentHandler for Writer {
    async fn on_intent(&self, intent: &SignedIntent) -> Bid {
        println!("{:<10} received intent {:?}", self.name, intent.title());
        let Ok(price) = Price::new(self.price, "USD") else {
            return Bid::Decline;
        };
        println!("{:<10} bids {price}", self.name);
        Bid::Offer(
            Proposal::new(price, Eta::Within(Duration::from_secs(300)))
                .with_terms("one sentence, plain English"),
        )
    }

    async fn on_counter(&self, n: &NegotiationSummary, _: Option<&SignedIntent>) -> Answer {
        let asked = n.price.clone().unwrap_or_default();
        let takes = match (self.lowest_counter, n.proposal.as_ref()) {
            (Some(lowest), Some(p)) => Price::new(&p.amount, &p.currency)
                .ok()
                .zip(Price::new(lowest, &p.currency).ok())
                .is_some_and(|(asked, lowest)| asked.atomic_units() >= lowest.atomic_units()),
            _ => false,
        };
        if takes {
            println!("{:<10} takes the counter-offer of {asked}", self.name);
            Answer::Accept
        } else {
            println!("{:<10} declines the counter-offer of {asked}", self.name);
            Answer::Reject("below my price".into())
        }
    }

    async fn on_agreed(
        &self,
        _: &NegotiationSummary,
        intent: Option<&SignedIntent>,
    ) -> Result<Delivery, String> {
        println!(
            "{:<10} agreed; working on {:?}",
            self.name,
            intent.map(SignedIntent::title).unwrap_or("the job")
        );
        Ok(Delivery::inline(
            "text/plain",
            "MESH lets AI agents find each other, publish intents and negotiate work peer to peer.",
        ))
    }

    async fn on_finished(&self, event: &NegotiationEvent) {
        let _ = self.ended.send((self.name, event.clone())).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let scratch = tempfile::tempdir()?;

    // The publisher starts first; the workers use it as their bootstrap peer.
    let publisher = agent(scratch.path(), "publisher", &[], None)?;
    publisher.connect().await?;
    let hub = publisher.info().await?.listen_addrs[0].clone();
    println!("publisher  up as {}", publisher.info().await?.peer_id);

    let (ended_tx, mut ended) = mpsc::channel(8);
    let mut workers = Vec::new();
    for (name, price, lowest_counter) in [
        ("writer-a", "3.00", None),
        ("writer-b", "2.50", Some("2.00")),
    ] {
        let network = agent(scratch.path(), name, &[CAPABILITY], Some(&hub))?;
        network.connect().await?;
        println!("{name:<10} up as {}", network.info().await?.peer_id);
        let serving = network.serve(Writer {
            name,
            price,
            lowest_counter,
            ended: ended_tx.clone(),
        })?;
        workers.push((network, serving));
    }

    // A fresh node needs a moment before its agent record and topic subscriptions reach the
    // others: wait until the publisher finds both workers.
    let deadline = Instant::now() + STEP;
    loop {
        let found = publisher
            .discover_agents(AgentQuery::new().capabilities([CAPABILITY]))
            .await?;
        if found.len() >= workers.len() {
            for a in &found {
                println!(
                    "publisher  discovered {} (reputation {:.2})",
                    a.name, a.reputation
                );
            }
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!("the publisher found {} of 2 workers", found.len()).into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let mut publisher_events = Box::pin(publisher.negotiation_events());
    let intent = Intent::new("Summarise the MESH README in one sentence")
        .capabilities([CAPABILITY])
        .budget(Budget::new("5", "USD"))
        .ttl(Duration::from_secs(600));
    println!("publisher  publishes {:?} on {CAPABILITY}", intent.title);
    let intent_id: IntentId = publisher.publish_intent(intent).await?.id.parse()?;

    let policy = AwardPolicy {
        window: Duration::from_secs(2),
        counter_at: Some(Price::new("2.00", "USD")?),
        answer_wait: STEP,
        ..AwardPolicy::default()
    };
    println!("publisher  collects offers for 2 s, then counters the lowest at 2.00 USD");
    let outcome = publisher
        .award_with(intent_id, &policy, &LowestPrice::new(0.0))
        .await?;
    let winner: NegotiationId = outcome
        .accepted
        .as_deref()
        .ok_or("the publisher awarded no offer")?
        .parse()?;
    println!(
        "publisher  agreed at {} after {} offer(s); {} other offer(s) rejected",
        outcome.price.as_deref().unwrap_or("?"),
        outcome.offers,
        outcome.declined.len()
    );
    println!(
        "publisher  intent is now {}",
        status(&publisher, intent_id).await?
    );

    // The winner delivers on its own; read the result from the transcript.
    tokio::time::timeout(STEP, async {
        while let Some(e) = publisher_events.next().await {
            if e.negotiation_id == winner.to_string()
                && e.received
                && e.kind == NegotiationEventKind::Deliver
            {
                return;
            }
        }
    })
    .await
    .map_err(|_| "no delivery in time")?;
    let summary = fetch(&publisher, winner).await?.verify()?;
    if let Some(delivery) = &summary.delivery
        && let mesh_core::negotiation::ResultContent::Inline { data, .. } = &delivery.content
    {
        println!("publisher  received {:?}", String::from_utf8_lossy(data));
    }
    publisher
        .receipt(
            winner,
            Receipt::new(0.9).with_comment("clear and to the point"),
        )
        .await?;
    println!(
        "publisher  sent a receipt (rating 0.9); intent is now {}",
        status(&publisher, intent_id).await?
    );

    // Each worker hears how its negotiation ended.
    for _ in 0..workers.len() {
        let (name, e) = tokio::time::timeout(STEP, ended.recv())
            .await
            .map_err(|_| "a worker never heard the end")?
            .ok_or("workers stopped")?;
        println!("{name:<10} heard: {} ({})", e.kind, e.state);
    }

    let at_publisher = fetch(&publisher, winner).await?;
    let summary = at_publisher.verify()?;
    if summary.state != NegotiationState::Completed {
        return Err(format!("the negotiation ended {}", summary.state).into());
    }
    for (network, _) in &workers {
        if let Some(at_worker) = network.transcript(winner).await? {
            if at_worker.envelopes() != at_publisher.envelopes() {
                return Err("the winner's and the publisher's transcripts differ".into());
            }
            println!(
                "both sides hold the same {} signed messages; the chain verifies offline to {}",
                at_worker.len(),
                summary.state
            );
        }
    }
    for (network, serving) in workers {
        serving.stop();
        network.shutdown().await;
    }
    publisher.shutdown().await;
    Ok(())
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

async fn status(network: &MeshNetwork, id: IntentId) -> Result<String, BoxError> {
    Ok(network
        .intent(id)
        .await?
        .map(|v| v.status)
        .unwrap_or_else(|| "unknown".into()))
}

async fn fetch(network: &MeshNetwork, id: NegotiationId) -> Result<Transcript, BoxError> {
    network
        .transcript(id)
        .await?
        .ok_or_else(|| format!("no transcript for negotiation {id}").into())
}
