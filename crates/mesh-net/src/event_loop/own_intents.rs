//! This node's own intents, across the drivers: publishing and cancelling (each written to the
//! store first, then handed to IDP; a cancellation also withdraws from the intent's
//! negotiations through INP), and the intents' views (IDP's book and open intents, with INP's
//! negotiations for their status).

use std::sync::Arc;

use mesh_core::intent::IntentId;
use mesh_core::{SignedCancellation, SignedIntent};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{EventLoop, now_ms};
use crate::error::{CancelError, PublishError};
use crate::handle::PublishOutcome;
use crate::idp::driver::IdpDriver;
use crate::inp;
use crate::intent_book::CancelOutcome;
use crate::persist::Write;
use crate::restore::stored_intent;
use crate::store_link::{Completion, Owner};

/// A step of the node's own intents waiting for its write to be durable.
pub(super) enum AwaitingStore {
    /// An intent of ours: publish it once stored.
    Publish {
        intent: Box<mesh_core::SignedIntent>,
        reply: oneshot::Sender<Result<PublishOutcome, PublishError>>,
    },
    /// Our cancellation of an intent of ours: publish it, withdraw from the intent's
    /// negotiations and answer the local caller once stored, so a cancellation the caller was
    /// told of survives a crash.
    Cancel {
        cancellation: Box<SignedCancellation>,
        reply: oneshot::Sender<Result<CancelOutcome, CancelError>>,
    },
}

impl EventLoop {
    /// Cancels an intent of ours: signs the cancellation and, with a store, answers only once
    /// it is durable (then publishes it); a full write queue refuses the cancellation as busy.
    pub(super) fn cancel(
        &mut self,
        id: IntentId,
        reason: &str,
        reply: oneshot::Sender<Result<CancelOutcome, CancelError>>,
    ) {
        let status_of = |i: &SignedIntent| self.intent_status(i, now_ms());
        let signed = self
            .idp
            .sign_cancellation(&self.keypair, id, reason, status_of, now_ms());
        let cancellation = match signed {
            Ok(c) => c,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let write = |token| Write::Reported {
            write: Box::new(Write::Cancellation {
                id: cancellation.intent_id.0,
                envelope: cancellation.envelope.clone(),
            }),
            token,
        };
        match self.store.write_reported(Owner::Cancel, write) {
            Ok(Some(token)) => {
                self.awaiting_store.insert(
                    token,
                    AwaitingStore::Cancel {
                        cancellation: Box::new(cancellation),
                        reply,
                    },
                );
            }
            Ok(None) => {
                let _ = reply.send(Ok(self.finish_cancel(cancellation)));
            }
            Err(_) => {
                let _ = reply.send(Err(CancelError::Busy {
                    what: "store writes",
                    limit: crate::persist::WRITE_QUEUE,
                }));
            }
        }
    }

    /// Publishes our (stored) cancellation on the intent's topics, withdraws from the intent's
    /// open negotiations and drops it from the open intents.
    pub(super) fn finish_cancel(&mut self, cancellation: SignedCancellation) -> CancelOutcome {
        let id = cancellation.intent_id;
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        let topics = IdpDriver::publish_cancellation(gossipsub, &cancellation);
        let withdrawn = self.inp.registry().open_on(&id);
        for negotiation in &withdrawn {
            let body = mesh_core::negotiation::Body::Withdraw {
                reason: "the publisher cancelled the intent".into(),
            };
            let (tx, _) = oneshot::channel();
            self.negotiate(
                inp::Action::Reply {
                    negotiation: *negotiation,
                    body,
                },
                tx,
            );
        }
        let cancellation = Arc::new(cancellation);
        self.with_idp(|idp, ctx, _, _| idp.apply_cancellation(ctx, cancellation, now_ms()));
        CancelOutcome {
            id: id.to_string(),
            topics,
            withdrawn: withdrawn.len(),
        }
    }

    /// Publishes an intent of this node; with a store, only once it is on disk, so a published
    /// intent survives a crash.
    pub(super) fn publish(
        &mut self,
        intent: Box<mesh_core::SignedIntent>,
        reply: oneshot::Sender<Result<PublishOutcome, PublishError>>,
    ) {
        if let Err(e) = self.idp.allow_publish(self.local, Instant::now()) {
            let _ = reply.send(Err(e));
            return;
        }
        let write = |token| Write::Reported {
            write: Box::new(Write::Intent(stored_intent(&intent, true, now_ms()))),
            token,
        };
        match self.store.write_reported(Owner::Publish, write) {
            Ok(Some(token)) => {
                self.awaiting_store
                    .insert(token, AwaitingStore::Publish { intent, reply });
            }
            Ok(None) => self.publish_now(intent, reply),
            Err(_) => {
                let _ = reply.send(Err(PublishError::Busy {
                    what: "store writes",
                    limit: crate::persist::WRITE_QUEUE,
                }));
            }
        }
    }

    pub(super) fn publish_now(
        &mut self,
        intent: Box<mesh_core::SignedIntent>,
        reply: oneshot::Sender<Result<PublishOutcome, PublishError>>,
    ) {
        let shared = Arc::new((*intent).clone());
        self.idp.hold_own(shared, now_ms());
        self.metrics.intents_published.inc();
        // Bidders will dial: let their connections use the gate's reserve.
        self.swarm.behaviour_mut().gate.take_inbound_work(true);
        let deadline = Instant::now() + self.config.publish_wait;
        let lookups = self.idp.publish(
            &mut self.swarm.behaviour_mut().gossipsub,
            intent,
            reply,
            deadline,
        );
        for cap in lookups {
            self.lookup_topic_peers(cap);
        }
    }

    /// Whether an intent of this node's own still takes offers: the gate lets inbound
    /// connections use its reserve while one does.
    pub(super) fn update_inbound_work(&mut self) {
        let now = now_ms();
        let awaiting = self.idp.book().own_intents().iter().any(|i| {
            matches!(
                self.intent_status(i, now),
                mesh_core::IntentStatus::Open | mesh_core::IntentStatus::Negotiating
            )
        });
        self.swarm.behaviour_mut().gate.take_inbound_work(awaiting);
    }

    pub(super) fn retry_pending_publishes(&mut self, force_expired: bool) {
        self.idp.retry_publishes(
            &mut self.swarm.behaviour_mut().gossipsub,
            force_expired,
            Instant::now(),
        );
    }

    /// A write someone waited on is durable, or failed: to its owner.
    pub(super) fn on_persisted(&mut self, done: Completion) {
        if done.owner == Owner::Negotiation {
            self.with_inp(|inp, ctx| inp.on_stored(ctx, done));
            return;
        }
        let Some(waiting) = self.awaiting_store.remove(&done.token) else {
            return;
        };
        match waiting {
            AwaitingStore::Publish { intent, reply } => match done.result {
                Ok(()) => self.publish_now(intent, reply),
                Err(reason) => {
                    let _ = reply.send(Err(PublishError::Storage {
                        what: "the intent before publishing it",
                        reason,
                    }));
                }
            },
            AwaitingStore::Cancel {
                cancellation,
                reply,
            } => {
                let result = match done.result {
                    Ok(()) => Ok(self.finish_cancel(*cancellation)),
                    Err(reason) => Err(CancelError::Storage {
                        what: "the cancellation, so it was not published",
                        reason,
                    }),
                };
                let _ = reply.send(result);
            }
        }
    }
}
