//! Reading back what a node stored before it stopped: everything is verified again as if it
//! had just arrived, and anything that no longer verifies (or has expired) is skipped.
//!
//! Negotiations: finished ones past their retention are deleted from the store first; the
//! transcripts of the others are verified together, their signatures in batches
//! ([`Negotiation::resume_all`]), and one the store says expired stays expired.

use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use mesh_core::negotiation::{Config, Negotiation, StateKind, Transcript};
use mesh_core::{SignedAgentRecord, SignedCancellation, SignedIntent};
use mesh_store::{IntentStatus, NegotiationMeta, Role, Store, StoreError, StoredIntent};

use crate::intent_book::OWN_INTENTS_CAPACITY;
use crate::open_intents::OPEN_INTENTS_CAPACITY;

/// Peers read back at most (the most recently seen).
pub(crate) const PEERS_RESTORED: usize = 256;

/// What a node had.
#[derive(Debug, Default)]
pub(crate) struct Restored {
    /// Its own unexpired intents.
    pub own_intents: Vec<Arc<SignedIntent>>,
    /// Open intents received from others.
    pub open_intents: Vec<Arc<SignedIntent>>,
    /// Cancellations of its own intents, with the intent.
    pub cancellations: Vec<(Arc<SignedCancellation>, Arc<SignedIntent>)>,
    /// Its negotiations, rebuilt from their transcripts.
    pub negotiations: Vec<Negotiation>,
    /// Peers and their addresses, most recently seen first.
    pub peers: Vec<(PeerId, Vec<Multiaddr>)>,
    /// Unexpired agent records of other peers.
    pub records: Vec<SignedAgentRecord>,
    /// Local reputation: peer, score, observations.
    pub reputations: Vec<(PeerId, f64, u64)>,
    /// Receipt attestations, encoded (verified again when the graph takes them).
    pub attestations: Vec<Vec<u8>>,
    /// Entries that did not verify and were skipped.
    pub skipped: usize,
}

/// Reads `store` at `now_ms`, first deleting the negotiations that finished more than
/// `retention` ago.
pub(crate) fn restore(
    store: &Store,
    now_ms: u64,
    retention: Duration,
) -> Result<Restored, StoreError> {
    let mut out = Restored::default();
    for stored in store.own_intents(now_ms, OWN_INTENTS_CAPACITY)? {
        let Some(intent) = verify_intent(&stored, now_ms, &mut out.skipped) else {
            continue;
        };
        if stored.status == IntentStatus::Cancelled
            && let Some(bytes) = store.cancellation(&stored.id)?
        {
            match SignedCancellation::verify(&bytes, now_ms) {
                Ok(c) if c.cancels(&intent) => {
                    out.cancellations.push((Arc::new(c), Arc::clone(&intent)));
                }
                _ => out.skipped += 1,
            }
        }
        out.own_intents.push(intent);
    }
    for stored in store.open_intents(now_ms, OPEN_INTENTS_CAPACITY)? {
        if stored.own {
            continue;
        }
        if let Some(intent) = verify_intent(&stored, now_ms, &mut out.skipped) {
            out.open_intents.push(intent);
        }
    }
    let retention_ms = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
    let pruned = store.prune_finished_negotiations(
        crate::inp::FINISHED_STATES,
        now_ms.saturating_sub(retention_ms),
        crate::inp::MAX_FINISHED_STORED,
    )?;
    if pruned > 0 {
        tracing::info!(pruned, "finished negotiations past their retention deleted");
    }
    let mut metas = Vec::new();
    let mut transcripts = Vec::new();
    for stored in store.negotiations()? {
        let transcript = Transcript::from_envelopes(store.transcript(&stored.id)?);
        if transcript.is_empty() {
            continue;
        }
        metas.push(stored.meta);
        transcripts.push(transcript);
    }
    let resumed = Negotiation::resume_all(&transcripts, Config::default(), now_ms);
    for (meta, result) in metas.into_iter().zip(resumed) {
        match result {
            Ok(mut n) => {
                // Expired before the stop: stays expired (its fault already counted).
                if meta.state == StateKind::Expired.as_str() {
                    n.expire(meta.updated_at_unix_ms);
                }
                out.negotiations.push(n);
            }
            Err(e) => {
                tracing::warn!(error = %e, "stored transcript does not verify; skipped");
                out.skipped += 1;
            }
        }
    }
    for peer in store.peers(PEERS_RESTORED)? {
        let Ok(id) = PeerId::from_bytes(&peer.peer_id) else {
            out.skipped += 1;
            continue;
        };
        let addrs: Vec<Multiaddr> = peer
            .addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        if !addrs.is_empty() {
            out.peers.push((id, addrs));
        }
    }
    for record in store.agent_records(now_ms)? {
        match SignedAgentRecord::verify(&record.envelope, None, now_ms) {
            Ok(r) => out.records.push(r),
            Err(_) => out.skipped += 1,
        }
    }
    out.attestations = store
        .attestations(now_ms)?
        .into_iter()
        .map(|a| a.encoded)
        .collect();
    for r in store.reputations()? {
        match PeerId::from_bytes(&r.peer_id) {
            Ok(id) if (0.0..=1.0).contains(&r.score) => {
                out.reputations.push((id, r.score, r.observations));
            }
            _ => out.skipped += 1,
        }
    }
    Ok(out)
}

fn verify_intent(
    stored: &StoredIntent,
    now_ms: u64,
    skipped: &mut usize,
) -> Option<Arc<SignedIntent>> {
    match SignedIntent::verify(&stored.envelope, now_ms) {
        Ok(i) if i.id.0 == stored.id => Some(Arc::new(i)),
        Ok(_) | Err(_) => {
            *skipped += 1;
            None
        }
    }
}

/// The store's record of one intent.
pub(crate) fn stored_intent(intent: &SignedIntent, own: bool, now_ms: u64) -> StoredIntent {
    StoredIntent {
        id: intent.id.0,
        envelope: intent.envelope.clone(),
        expires_at_unix_ms: intent.content.expires_at_ms,
        status: IntentStatus::Open,
        own,
        received_at_unix_ms: now_ms,
    }
}

/// The store's meta of a negotiation in state `state`, as seen by `local`.
pub(crate) fn meta_of(
    n: &Negotiation,
    local: &PeerId,
    state: StateKind,
    now_ms: u64,
) -> NegotiationMeta {
    let publisher = n.publisher() == *local;
    NegotiationMeta {
        intent_id: n.intent_id().0,
        role: if publisher {
            Role::Publisher
        } else {
            Role::Agent
        },
        counterparty: if publisher {
            n.agent().to_bytes()
        } else {
            n.publisher().to_bytes()
        },
        state: state.as_str().to_owned(),
        updated_at_unix_ms: now_ms,
    }
}
