//! The agent side of a negotiation: an [`AgentHandler`] decides, [`MeshNetwork::serve`] acts.
//!
//! For each intent on the agent's capabilities the handler decides to offer or decline; when
//! the publisher counters, it accepts, offers again or rejects; once an offer is agreed it does
//! the work and returns the [`Delivery`]; a receipt ends the job. The serving task sends every
//! message, so the handler is plain business logic:
//!
//! ```no_run
//! use mesh_sdk::{AgentHandler, Bid, Delivery, Eta, MeshNetwork, NegotiationSummary, Price,
//!     Proposal, SignedIntent};
//! use std::time::Duration;
//!
//! struct Translator;
//!
//! impl AgentHandler for Translator {
//!     async fn on_intent(&self, intent: &SignedIntent) -> Bid {
//!         match Price::new("1.50", "USD") {
//!             Ok(price) => Bid::Offer(Proposal::new(price, Eta::Within(Duration::from_secs(60)))),
//!             Err(_) => Bid::Decline,
//!         }
//!     }
//!     async fn on_agreed(
//!         &self,
//!         _negotiation: &NegotiationSummary,
//!         intent: Option<&SignedIntent>,
//!     ) -> Result<Delivery, String> {
//!         let title = intent.map(|i| i.title().to_owned()).unwrap_or_default();
//!         Ok(Delivery::inline("text/plain", format!("translated: {title}")))
//!     }
//! }
//!
//! # async fn run(network: MeshNetwork) -> Result<(), mesh_sdk::Error> {
//! let serving = network.serve(Translator)?;
//! // ... the agent now bids, delivers and collects receipts until `serving` is dropped.
//! # drop(serving);
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;

use mesh_core::negotiation::{Body, Delivery, NegotiationId, Proposal, Role, StateKind};
use mesh_core::{IntentId, SignedIntent};
use mesh_net::{
    MeshHandle, NegotiationEvent, NegotiationEventKind, NegotiationSummary, ReceivedIntent,
};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Semaphore, broadcast};
use tokio::task::JoinHandle;

use crate::{Error, MeshNetwork};

/// Handler calls running at once at most; further events wait.
pub const MAX_CONCURRENT_HANDLERS: usize = 64;
/// Intents remembered to hand to [`AgentHandler::on_agreed`].
const INTENTS_REMEMBERED: usize = 4096;

/// What to do with an intent.
#[derive(Debug, Clone, PartialEq)]
pub enum Bid {
    /// Offer these terms.
    Offer(Proposal),
    /// Let it pass.
    Decline,
}

/// How to answer the publisher's counter.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Take the publisher's terms.
    Accept,
    /// Propose other terms.
    Offer(Proposal),
    /// End the negotiation, with a reason.
    Reject(String),
}

/// Business logic of an agent. Only [`Self::on_intent`] and [`Self::on_agreed`] are required.
pub trait AgentHandler: Send + Sync + 'static {
    /// An intent on one of this agent's capabilities arrived: offer or decline.
    fn on_intent(&self, intent: &SignedIntent) -> impl Future<Output = Bid> + Send;

    /// The publisher countered; its terms are `negotiation.proposal`. By default, rejects.
    fn on_counter(
        &self,
        negotiation: &NegotiationSummary,
        intent: Option<&SignedIntent>,
    ) -> impl Future<Output = Answer> + Send {
        let _ = (negotiation, intent);
        async { Answer::Reject("counter-offers are not taken".to_owned()) }
    }

    /// An agreement was reached on `negotiation.proposal`: do the work and return it. An
    /// error is logged and nothing is delivered (the negotiation then times out).
    fn on_agreed(
        &self,
        negotiation: &NegotiationSummary,
        intent: Option<&SignedIntent>,
    ) -> impl Future<Output = Result<Delivery, String>> + Send;

    /// The publisher's receipt arrived, or the publisher declined or left; `event.kind` says
    /// which. By default, nothing happens.
    fn on_finished(&self, event: &NegotiationEvent) -> impl Future<Output = ()> + Send {
        let _ = event;
        async {}
    }
}

/// Keeps an agent serving; dropping it (or [`ServeHandle::stop`]) stops the serving task.
#[derive(Debug)]
pub struct ServeHandle {
    task: JoinHandle<()>,
}

impl ServeHandle {
    /// Stops serving. Handler calls already running are not interrupted.
    pub fn stop(self) {}

    /// Whether the serving task still runs (it ends when the node stops).
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

impl Drop for ServeHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MeshNetwork {
    /// Serves as an agent with `handler`: bids on arriving intents of this agent's
    /// capabilities, answers counters, delivers agreed work and reports how each ended. Runs
    /// until the returned handle is dropped or the node stops.
    pub fn serve<H: AgentHandler>(&self, handler: H) -> Result<ServeHandle, Error> {
        let handle = self.handle()?.clone();
        let intents = handle.subscribe_intents();
        let events = handle.subscribe_negotiations();
        let task = tokio::spawn(serve_loop(handle, Arc::new(handler), intents, events));
        Ok(ServeHandle { task })
    }
}

/// Intents seen, by id, bounded.
#[derive(Default)]
struct RecentIntents {
    by_id: HashMap<IntentId, Arc<SignedIntent>>,
    order: VecDeque<IntentId>,
}

impl RecentIntents {
    fn insert(&mut self, intent: Arc<SignedIntent>) {
        if self.by_id.insert(intent.id, Arc::clone(&intent)).is_none() {
            self.order.push_back(intent.id);
        }
        while self.order.len() > INTENTS_REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }

    fn get(&self, id: &str) -> Option<Arc<SignedIntent>> {
        let id: IntentId = id.parse().ok()?;
        self.by_id.get(&id).cloned()
    }
}

async fn serve_loop<H: AgentHandler>(
    handle: MeshHandle,
    handler: Arc<H>,
    mut intents: broadcast::Receiver<Arc<ReceivedIntent>>,
    mut events: broadcast::Receiver<Arc<NegotiationEvent>>,
) {
    let local = handle.peer_id();
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_HANDLERS));
    let mut recent = RecentIntents::default();
    loop {
        tokio::select! {
            received = intents.recv() => match received {
                Ok(received) => {
                    let intent = Arc::new(received.intent.clone());
                    if intent.publisher == local {
                        continue;
                    }
                    recent.insert(Arc::clone(&intent));
                    let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { return };
                    let (handle, handler) = (handle.clone(), Arc::clone(&handler));
                    tokio::spawn(async move {
                        if let Bid::Offer(proposal) = handler.on_intent(&intent).await
                            && let Err(e) = handle.offer(intent.id, proposal).await
                        {
                            tracing::info!(intent = %intent.id, error = %e, "offer not taken");
                        }
                        drop(permit);
                    });
                }
                Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "agent fell behind on intents"),
                Err(RecvError::Closed) => return,
            },
            event = events.recv() => match event {
                Ok(event) if event.role == Role::Agent => {
                    let intent = recent.get(&event.intent_id);
                    let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { return };
                    let (handle, handler) = (handle.clone(), Arc::clone(&handler));
                    tokio::spawn(async move {
                        on_event(&handle, handler.as_ref(), &event, intent.as_deref()).await;
                        drop(permit);
                    });
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "agent fell behind on negotiations"),
                Err(RecvError::Closed) => return,
            },
        }
    }
}

async fn on_event<H: AgentHandler>(
    handle: &MeshHandle,
    handler: &H,
    event: &NegotiationEvent,
    intent: Option<&SignedIntent>,
) {
    let Ok(id) = event.negotiation_id.parse::<NegotiationId>() else {
        return;
    };
    use NegotiationEventKind as Kind;
    let result = match (event.kind, event.state) {
        (Kind::Counter, StateKind::Countered) if event.received => {
            let Some(summary) = summary_of(handle, &event.negotiation_id).await else {
                return;
            };
            let body = match handler.on_counter(&summary, intent).await {
                Answer::Accept => Body::Accept,
                Answer::Offer(p) => Body::Offer(p),
                Answer::Reject(reason) => Body::Reject { reason },
            };
            handle.reply(id, body).await.map(|_| ())
        }
        (_, StateKind::Agreed) => {
            let Some(summary) = summary_of(handle, &event.negotiation_id).await else {
                return;
            };
            match handler.on_agreed(&summary, intent).await {
                Ok(delivery) => handle.deliver(id, delivery).await.map(|_| ()),
                Err(reason) => {
                    tracing::warn!(negotiation = %id, %reason, "agreed work failed; nothing delivered");
                    Ok(())
                }
            }
        }
        (Kind::Receipt | Kind::Reject | Kind::Withdraw, _) if event.received => {
            handler.on_finished(event).await;
            Ok(())
        }
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::info!(negotiation = %id, error = %e, "negotiation step not taken");
    }
}

async fn summary_of(handle: &MeshHandle, id: &str) -> Option<NegotiationSummary> {
    handle
        .negotiations()
        .await
        .ok()?
        .into_iter()
        .find(|n| n.negotiation_id == id)
}
