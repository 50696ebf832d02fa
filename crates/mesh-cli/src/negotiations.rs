//! `mesh negotiations ...`: both sides of the Intent Negotiation Protocol from the shell.

use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine as _;
use mesh_core::Budget;
use mesh_core::negotiation::{Role, Transcript, TranscriptJson};
use mesh_net::{NegotiationEvent, NegotiationSummary};
use mesh_node::Home;
use mesh_node::api::negotiations::{
    DeliverRequest, NegotiationDetail, OfferRequest, ProposalRequest, ReasonRequest, ReceiptRequest,
};

use crate::args::{NegotiationsCommand, TermsArgs};
use crate::client::ApiClient;

fn proposal(terms: &TermsArgs) -> anyhow::Result<ProposalRequest> {
    let price = Budget::parse(&terms.price, "USD")
        .with_context(|| format!("invalid --price {:?}", terms.price))?;
    Ok(ProposalRequest {
        amount: price.amount,
        currency: price.currency,
        eta_secs: terms.eta.as_secs().max(1),
        terms: terms.terms.clone(),
    })
}

async fn watch(client: &ApiClient, json: bool) -> anyhow::Result<ExitCode> {
    let response = client.stream("/v1/negotiations/stream").await?;
    if !json {
        eprintln!("Watching negotiations (Ctrl-C to stop)...");
    }
    crate::sse::for_each_event(response, |event| {
        if json {
            println!("{}", event.data);
        } else if let Ok(e) = serde_json::from_str::<NegotiationEvent>(&event.data) {
            let direction = if e.received { "<-" } else { "->" };
            print!("{direction} {} ", e.peer);
            print_event(&e);
        }
        let _ = std::io::Write::flush(&mut std::io::stdout());
        Ok(())
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

fn print_event(e: &NegotiationEvent) {
    let price = e
        .price
        .as_deref()
        .map(|p| format!(" {p}"))
        .unwrap_or_default();
    println!("{}  {}{price}  -> {}", e.negotiation_id, e.kind, e.state);
}

pub async fn run(home: &Home, command: NegotiationsCommand) -> anyhow::Result<ExitCode> {
    match command {
        // Offline: needs no node.
        NegotiationsCommand::Verify { file } => verify(&file),
        online => run_online(home, online).await,
    }
}

async fn run_online(home: &Home, command: NegotiationsCommand) -> anyhow::Result<ExitCode> {
    let client = ApiClient::from_home(home)?;
    let event: NegotiationEvent = match command {
        NegotiationsCommand::Verify { file } => return verify(&file),
        NegotiationsCommand::Watch { json } => return watch(&client, json).await,
        NegotiationsCommand::List { json } => {
            let list: Vec<NegotiationSummary> = client.get("/v1/negotiations").await?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else if list.is_empty() {
                println!("No negotiations.");
            } else {
                for n in &list {
                    let peer = if n.role == Role::Publisher {
                        &n.agent
                    } else {
                        &n.publisher
                    };
                    println!(
                        "{}  {:<9} {:<14} {:>2} msgs  {}  with {peer}",
                        n.negotiation_id,
                        n.role,
                        n.state,
                        n.messages,
                        n.price.as_deref().unwrap_or("-")
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        NegotiationsCommand::Show { id, json } => {
            let detail: NegotiationDetail = client.get(&format!("/v1/negotiations/{id}")).await?;
            if json {
                // The transcript's own fields at the top, so the output is a valid transcript
                // file for `verify`; the summary rides along.
                let mut value = serde_json::to_value(&detail.transcript)?;
                if let Some(map) = value.as_object_mut() {
                    map.insert("summary".into(), serde_json::to_value(&detail.summary)?);
                }
                println!("{value}");
            } else {
                let s = &detail.summary;
                println!("negotiation {}", s.negotiation_id);
                println!("  intent     {}", s.intent_id);
                println!("  publisher  {}", s.publisher);
                println!("  agent      {}", s.agent);
                println!(
                    "  state      {} after {} signed messages",
                    s.state, s.messages
                );
                if let Some(p) = &s.price {
                    println!("  price      {p}");
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        NegotiationsCommand::Offer { intent, terms } => {
            let body = OfferRequest {
                intent_id: intent,
                proposal: proposal(&terms)?,
            };
            client.post("/v1/negotiations/offer", &body).await?
        }
        NegotiationsCommand::Counter { id, terms } => {
            client
                .post(
                    &format!("/v1/negotiations/{id}/counter"),
                    &proposal(&terms)?,
                )
                .await?
        }
        NegotiationsCommand::Accept { id } => {
            client
                .post(
                    &format!("/v1/negotiations/{id}/accept"),
                    &serde_json::json!({}),
                )
                .await?
        }
        NegotiationsCommand::Reject { id, reason } => {
            client
                .post(
                    &format!("/v1/negotiations/{id}/reject"),
                    &ReasonRequest { reason },
                )
                .await?
        }
        NegotiationsCommand::Cancel { id, reason } => {
            client
                .post(
                    &format!("/v1/negotiations/{id}/cancel"),
                    &ReasonRequest { reason },
                )
                .await?
        }
        NegotiationsCommand::Withdraw { id, reason } => {
            client
                .post(
                    &format!("/v1/negotiations/{id}/withdraw"),
                    &ReasonRequest { reason },
                )
                .await?
        }
        NegotiationsCommand::Deliver {
            id,
            result_file,
            content_type,
            location,
            digest,
        } => {
            let body = match (result_file, location) {
                (Some(path), _) => {
                    let size = std::fs::metadata(&path)
                        .with_context(|| format!("cannot read result file {}", path.display()))?
                        .len();
                    let max = mesh_core::negotiation::MAX_INLINE_RESULT_BYTES as u64;
                    if size > max {
                        bail!(
                            "result file {} is {size} bytes: at most {max} travel inline; deliver a --location and its --digest instead",
                            path.display()
                        );
                    }
                    let data = std::fs::read(&path)
                        .with_context(|| format!("cannot read result file {}", path.display()))?;
                    DeliverRequest {
                        content_type: Some(content_type),
                        data_base64: Some(base64::engine::general_purpose::STANDARD.encode(data)),
                        ..DeliverRequest::default()
                    }
                }
                (None, Some(location)) => DeliverRequest {
                    location: Some(location),
                    digest,
                    ..DeliverRequest::default()
                },
                (None, None) => {
                    bail!("give the result: --result-file FILE, or --location URL --digest SHA256")
                }
            };
            client
                .post(&format!("/v1/negotiations/{id}/deliver"), &body)
                .await?
        }
        NegotiationsCommand::Receipt {
            id,
            rating,
            comment,
        } => {
            client
                .post(
                    &format!("/v1/negotiations/{id}/receipt"),
                    &ReceiptRequest { rating, comment },
                )
                .await?
        }
    };
    print_event(&event);
    Ok(ExitCode::SUCCESS)
}

/// Verifies a transcript file offline; exit code 0 only for a valid chain.
fn verify(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read transcript file {}", file.display()))?;
    let json: TranscriptJson = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a transcript file: write one with `mesh negotiations show ID --json > FILE`",
            file.display()
        )
    })?;
    let summary = Transcript::from_json(&json)
        .and_then(|t| t.verify())
        .map_err(|e| anyhow::anyhow!("transcript {} is INVALID: {e}", file.display()))?;
    println!(
        "valid transcript: {} signed messages, hash chain intact",
        summary.events.len()
    );
    println!("  negotiation {}", summary.negotiation_id);
    println!("  intent      {}", summary.intent_id);
    println!("  publisher   {}", summary.publisher);
    println!("  agent       {}", summary.agent);
    println!("  state       {:?}", summary.state);
    if let Some(p) = &summary.agreed {
        println!("  agreed      {} {}", p.price.amount(), p.price.currency());
    }
    if let Some(r) = &summary.receipt {
        println!("  rating      {:.2}", r.rating);
    }
    Ok(ExitCode::SUCCESS)
}
