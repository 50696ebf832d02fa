//! `mesh intents list|show|cancel|award`: an intent's lifecycle from the shell.

use std::process::ExitCode;

use anyhow::Context;
use mesh_core::Budget;
use mesh_net::{AwardOutcome, CancelOutcome, IntentView};
use mesh_node::Home;
use mesh_node::api::intents::{AwardRequest, CancelRequest, PriceRequest};

use crate::args::{AwardArgs, IntentsCommand};
use crate::client::ApiClient;

fn print_intent(i: &IntentView) {
    let who = if i.own { "own" } else { "received" };
    let budget = i
        .budget
        .as_deref()
        .map(|b| format!("  budget {b}"))
        .unwrap_or_default();
    println!(
        "{}  {:<11}  {who:<8}  [{}]  {}{budget}",
        i.id,
        i.status,
        i.capabilities.join(","),
        i.title
    );
}

/// Runs the lifecycle subcommands (`publish` and `watch` are handled with the other
/// network commands).
pub async fn run(home: &Home, command: IntentsCommand) -> anyhow::Result<ExitCode> {
    let client = ApiClient::from_home(home)?;
    match command {
        IntentsCommand::List { limit, json } => {
            let list: Vec<IntentView> = client.get(&format!("/v1/intents?limit={limit}")).await?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else if list.is_empty() {
                println!("No intents.");
            } else {
                list.iter().for_each(print_intent);
            }
        }
        IntentsCommand::Show { id, json } => {
            let intent: IntentView = client.get(&format!("/v1/intents/{id}")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&intent)?);
            } else {
                print_intent(&intent);
                println!("  publisher    {}", intent.publisher);
                println!("  negotiations {}", intent.negotiations);
                println!("  expires at   {} (Unix ms)", intent.expires_at_ms);
                if let Some(reason) = &intent.cancel_reason {
                    println!("  cancelled: {reason}");
                }
            }
        }
        IntentsCommand::Cancel { id, reason } => {
            let outcome: CancelOutcome = client
                .post(
                    &format!("/v1/intents/{id}/cancel"),
                    &CancelRequest { reason },
                )
                .await?;
            println!(
                "Cancelled {}: announced on {} topic(s), {} open negotiation(s) withdrawn",
                outcome.id,
                outcome.topics.len(),
                outcome.withdrawn
            );
        }
        IntentsCommand::Award(args) => return award(&client, args).await,
        IntentsCommand::Publish(_) | IntentsCommand::Watch { .. } => {
            anyhow::bail!("publish and watch are run by the network commands")
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn award(client: &ApiClient, args: AwardArgs) -> anyhow::Result<ExitCode> {
    let counter_at = args
        .counter_at
        .as_deref()
        .map(|p| {
            Budget::parse(p, "USD")
                .with_context(|| format!("invalid --counter-at {p:?}; use e.g. \"1.50 USD\""))
        })
        .transpose()?
        .map(|b| PriceRequest {
            amount: b.amount,
            currency: b.currency,
        });
    let request = AwardRequest {
        window_ms: u64::try_from(args.window.as_millis()).unwrap_or(u64::MAX),
        min_reputation: args.min_reputation,
        counter_at,
        answer_wait_ms: Some(u64::try_from(args.answer_wait.as_millis()).unwrap_or(u64::MAX)),
    };
    if !args.window.is_zero() {
        eprintln!(
            "Collecting offers for {} ...",
            humantime::format_duration(args.window)
        );
    }
    let outcome: AwardOutcome = client
        .post(&format!("/v1/intents/{}/award", args.id), &request)
        .await?;
    if args.json {
        println!("{}", serde_json::to_string(&outcome)?);
        return Ok(ExitCode::SUCCESS);
    }
    match (&outcome.accepted, &outcome.agent, &outcome.price) {
        (Some(id), Some(agent), Some(price)) => {
            println!("Agreed with {agent} at {price}: negotiation {id}");
            if outcome.countered.as_ref() == Some(id) {
                println!("  (after a counter-offer)");
            }
            println!(
                "  {} other offer(s) declined; next: wait for the delivery, then `mesh negotiations receipt {id} --rating 1`",
                outcome.declined.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            println!(
                "No offer accepted ({} offer(s) considered); the intent stays open. Try a longer --window or a lower --min-reputation.",
                outcome.offers
            );
            Ok(ExitCode::from(3))
        }
    }
}
