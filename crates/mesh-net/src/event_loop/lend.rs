//! How the router lends each driver the node's parts: a context of disjoint borrows of the
//! loop's fields and the swarm's behaviours, built for one call, and the actions a driver
//! hands back, carried out after the call.

use std::sync::Arc;

use mesh_core::intent::IntentId;
use mesh_core::{IntentStatus, SignedIntent};
use tokio::time::Instant;

use super::{EventLoop, QueryPurpose};
use crate::adp::driver::{AdpContext, AdpDriver, QueryNote};
use crate::behaviour::MeshBehaviour;
use crate::connections::{ConnContext, Connections, Kept};
use crate::idp::driver::{IdpContext, IdpDriver};
use crate::inp;
use crate::inp::driver::{InpAction, InpContext, InpDriver};
use crate::intent_book::IntentBook;
use crate::open_intents::OpenIntents;
use crate::persist::Write;
use crate::store_link::StoreLink;

/// Looks up an intent for a negotiation: this node's own or an open one; a cancelled intent
/// is refused with its status.
fn lookup(
    book: &IntentBook,
    open: &OpenIntents,
    id: &IntentId,
) -> Result<Arc<SignedIntent>, inp::InpError> {
    if let Some(intent) = book.cancelled_intent(id) {
        return Err(inp::InpError::IntentClosed {
            id: intent.id.to_string(),
            status: IntentStatus::Cancelled,
        });
    }
    book.own(id)
        .or_else(|| open.get(id))
        .ok_or_else(|| inp::InpError::UnknownIntent(id.to_string()))
}

/// The store link handed to a driver: queues a write if the node has a store; a full queue
/// drops it (counted).
pub(super) fn store_link(link: &StoreLink) -> impl FnMut(Write) + '_ {
    move |write| link.save(write)
}

impl EventLoop {
    /// The INP driver and its context, borrowed from the loop's other fields; then carries out
    /// what the driver asked of the rest of the node.
    pub(super) fn with_inp<R>(
        &mut self,
        f: impl FnOnce(&mut InpDriver, &mut InpContext<'_>) -> R,
    ) -> R {
        let mut actions = Vec::new();
        let (book, open) = (self.idp.book(), self.idp.open());
        let lookup = |id: &IntentId| lookup(book, open, id);
        let mut ctx = InpContext {
            local: self.local,
            keypair: &self.keypair,
            wire: &mut self.swarm.behaviour_mut().inp,
            peers: &mut self.peers,
            metrics: &self.metrics,
            store: &mut self.store,
            lookup: &lookup,
            events: &self.negotiation_events,
            actions: &mut actions,
        };
        let result = f(&mut self.inp, &mut ctx);
        for action in actions {
            match action {
                InpAction::FindPeer(peer) => {
                    let qid = self.swarm.behaviour_mut().kad.get_closest_peers(peer);
                    self.queries.insert(qid, QueryPurpose::FindPeer(peer));
                }
                InpAction::Reach(peer) => {
                    let gate = &mut self.swarm.behaviour_mut().gate;
                    gate.prioritise(peer, Instant::now());
                }
                InpAction::MakeRoom => self.make_room(),
                InpAction::Negotiated(peer) => self.conns.negotiated(peer, Instant::now()),
                InpAction::Attest(id) => self.attest_completed(&id),
            }
        }
        result
    }

    /// The IDP driver and its context, borrowed from the loop's other fields.
    /// Also lends the swarm's behaviours (gossipsub and catch-up are IDP's wire) and INP's
    /// registry, read only (an own intent agreed on takes no more offers).
    pub(super) fn with_idp<R>(
        &mut self,
        f: impl FnOnce(&mut IdpDriver, &mut IdpContext<'_>, &mut MeshBehaviour, &inp::Registry) -> R,
    ) -> R {
        let mut store = store_link(&self.store);
        let mut ctx = IdpContext {
            peers: &mut self.peers,
            metrics: &self.metrics,
            intents: &self.intents,
            updates: &self.intent_updates,
            store: &mut store,
        };
        let behaviour = self.swarm.behaviour_mut();
        f(&mut self.idp, &mut ctx, behaviour, self.inp.registry())
    }

    /// The ADP driver and its context, borrowed from the swarm's behaviours and the loop's
    /// other fields.
    pub(super) fn with_adp<R>(
        &mut self,
        f: impl FnOnce(&mut AdpDriver, &mut AdpContext<'_>) -> R,
    ) -> R {
        let mut store = store_link(&self.store);
        let queries = &mut self.queries;
        let mut note = |note: QueryNote| match note {
            QueryNote::Started(id, query) => {
                queries.insert(id, QueryPurpose::Discovery(query));
            }
            QueryNote::Dropped(id) => {
                queries.remove(&id);
            }
        };
        let behaviour = self.swarm.behaviour_mut();
        let mut ctx = AdpContext {
            kad: &mut behaviour.kad,
            rendezvous: &mut behaviour.rendezvous,
            record_fetch: &mut behaviour.agent_record,
            gossipsub: &behaviour.gossipsub,
            gate: &mut behaviour.gate,
            keypair: &self.keypair,
            peers: &mut self.peers,
            metrics: &self.metrics,
            sources: self.nat.discovery_metrics(),
            store: &mut store,
            queries: &mut note,
        };
        f(&mut self.adp, &mut ctx)
    }

    /// The connection driver and its context, borrowed from the loop's other fields, with the
    /// peers kept whatever their worth (those with negotiation messages in flight).
    pub(super) fn with_conns<R>(
        &mut self,
        f: impl FnOnce(&mut Connections, &mut ConnContext<'_>, Kept<'_>) -> R,
    ) -> R {
        let inp = &self.inp;
        let mut ctx = ConnContext {
            swarm: &mut self.swarm,
            peers: &mut self.peers,
            metrics: &self.metrics,
        };
        f(&mut self.conns, &mut ctx, &|p| inp.in_flight(p) > 0)
    }
}
