//! Agent Discovery Protocol: signed agent records and capability provider records in the DHT.
//!
//! An agent puts its signed [`SignedAgentRecord`] under `/mesh/agent/<peer id bytes>` and is a
//! provider of the key of each capability it offers. [`AgentQuery`] finds the providers of each
//! wanted capability, fetches and verifies their records, keeps those that offer every wanted
//! capability and meet the minimum reputation, and ranks them.
//!
//! The `driver` submodule holds the protocol's state on a node (agent records, discoveries in
//! flight, announcements) and runs a discovery from its start to its answer, through the DHT and
//! the rendezvous points; the event loop routes to it.

pub(crate) mod driver;
pub(crate) mod spread;

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;
use mesh_core::{Capability, SignedAgentRecord, Skill};
use serde::Serialize;

use crate::error::DiscoverError;

/// Default number of agents returned.
pub(crate) const DEFAULT_LIMIT: usize = 20;
/// Largest number of agents returned.
pub(crate) const MAX_LIMIT: usize = 200;
/// Verified records cached.
pub(crate) const RECORD_CACHE_CAPACITY: usize = 4096;
/// Record fetches started per discovery query at most.
pub(crate) const MAX_RECORD_FETCHES: usize = 256;

/// What to look for.
///
/// ```
/// use mesh_net::AgentQuery;
/// let q = AgentQuery::new().capabilities(["image-generation"]).min_reputation(0.8);
/// assert_eq!(q.capabilities, vec!["image-generation".to_string()]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AgentQuery {
    /// Every capability an agent must offer.
    pub capabilities: Vec<String>,
    /// Lowest local reputation accepted, in `[0, 1]`.
    pub min_reputation: f64,
    /// Most agents returned.
    pub limit: usize,
}

impl Default for AgentQuery {
    fn default() -> Self {
        Self::new()
    }
}

impl AgentQuery {
    /// A query for any agent, minimum reputation 0, 20 results.
    pub fn new() -> Self {
        Self {
            capabilities: Vec::new(),
            min_reputation: 0.0,
            limit: DEFAULT_LIMIT,
        }
    }

    /// Sets the capabilities every result must offer.
    pub fn capabilities<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.capabilities = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the minimum reputation.
    pub fn min_reputation(mut self, min: f64) -> Self {
        self.min_reputation = min;
        self
    }

    /// Sets the most results returned.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Validates the query into capabilities, minimum and limit.
    pub(crate) fn validate(&self) -> Result<(Vec<Capability>, f64, usize), DiscoverError> {
        let caps = mesh_core::capability::parse_capabilities(&self.capabilities)?;
        if caps.is_empty() {
            return Err(DiscoverError::NoCapability);
        }
        let min = if self.min_reputation.is_finite() {
            self.min_reputation.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Ok((caps, min, self.limit.clamp(1, MAX_LIMIT)))
    }
}

/// A discovered agent.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct AgentInfo {
    /// The agent's peer id.
    pub peer_id: String,
    /// Its display name.
    pub name: String,
    /// Capabilities it offers.
    pub capabilities: Vec<String>,
    /// Skills it offers.
    pub skills: Vec<Skill>,
    /// Addresses from its record.
    pub addresses: Vec<String>,
    /// Load it advertised, in `[0, 1]`.
    pub load: f64,
    /// This node's local reputation of it, in `[0, 1]`.
    pub reputation: f64,
    /// Ping RTT in milliseconds, if connected.
    pub rtt_ms: Option<f64>,
    /// Expiry of its record, Unix ms.
    pub expires_at_ms: u64,
}

/// Verified agent records, bounded; the entry expiring first is evicted when full.
#[derive(Debug, Default)]
pub(crate) struct RecordCache {
    records: HashMap<PeerId, SignedAgentRecord>,
}

impl RecordCache {
    /// Inserts `record` unless a newer one (higher `seq`) is cached.
    pub(crate) fn insert(&mut self, record: SignedAgentRecord) {
        if let Some(old) = self.records.get(&record.peer_id)
            && old.seq > record.seq
        {
            return;
        }
        if !self.records.contains_key(&record.peer_id)
            && self.records.len() >= RECORD_CACHE_CAPACITY
            && let Some(victim) = self
                .records
                .values()
                .min_by_key(|r| r.expires_at_ms)
                .map(|r| r.peer_id)
        {
            self.records.remove(&victim);
        }
        self.records.insert(record.peer_id, record);
    }

    /// The unexpired cached record of `peer`.
    pub(crate) fn get(&self, peer: &PeerId, now_ms: u64) -> Option<&SignedAgentRecord> {
        self.records.get(peer).filter(|r| r.expires_at_ms > now_ms)
    }
}

/// Filters `records` by capabilities and reputation, and ranks them: reputation first, then
/// lower load, then lower RTT.
pub(crate) fn rank<'a>(
    records: impl IntoIterator<Item = &'a SignedAgentRecord>,
    caps: &[Capability],
    min_reputation: f64,
    limit: usize,
    reputation: impl Fn(&PeerId) -> f64,
    rtt: impl Fn(&PeerId) -> Option<Duration>,
) -> Vec<AgentInfo> {
    let mut out: Vec<AgentInfo> = records
        .into_iter()
        .filter(|r| r.has_all(caps))
        .map(|r| AgentInfo {
            peer_id: r.peer_id.to_string(),
            name: r.name.clone(),
            capabilities: r.capabilities.iter().map(|c| c.to_string()).collect(),
            skills: r.skills.clone(),
            addresses: r.addresses.iter().map(|a| a.to_string()).collect(),
            load: r.load,
            reputation: reputation(&r.peer_id),
            rtt_ms: rtt(&r.peer_id).map(|d| d.as_secs_f64() * 1000.0),
            expires_at_ms: r.expires_at_ms,
        })
        .filter(|a| a.reputation >= min_reputation)
        .collect();
    out.sort_by(|a, b| {
        b.reputation
            .total_cmp(&a.reputation)
            .then(a.load.total_cmp(&b.load))
            .then(
                a.rtt_ms
                    .unwrap_or(f64::MAX)
                    .total_cmp(&b.rtt_ms.unwrap_or(f64::MAX)),
            )
            .then_with(|| a.peer_id.cmp(&b.peer_id))
    });
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::agent_record::RECORD_TTL;
    use mesh_core::{AgentRecord, Keypair};

    const NOW: u64 = 1_700_000_000_000;

    fn record(caps: &[&str], load: f64) -> SignedAgentRecord {
        AgentRecord {
            name: "a".into(),
            capabilities: caps.iter().map(|c| Capability::new(*c).unwrap()).collect(),
            load,
            ..AgentRecord::default()
        }
        .sign(&Keypair::generate_ed25519(), 1, NOW, RECORD_TTL)
        .unwrap()
    }

    #[test]
    fn rank_filters_and_orders() {
        let busy = record(&["text", "image"], 0.9);
        let idle = record(&["text"], 0.1);
        let other = record(&["image"], 0.0);
        let bad = record(&["text"], 0.0);
        let text = vec![Capability::new("text").unwrap()];
        let rep = |p: &PeerId| if *p == bad.peer_id { 0.1 } else { 0.5 };
        let out = rank([&busy, &idle, &other, &bad], &text, 0.3, 10, rep, |_| None);
        let ids: Vec<_> = out.iter().map(|a| a.peer_id.clone()).collect();
        assert_eq!(
            ids,
            vec![idle.peer_id.to_string(), busy.peer_id.to_string()]
        );
        let both = vec![
            Capability::new("text").unwrap(),
            Capability::new("image").unwrap(),
        ];
        let out = rank([&busy, &idle, &other], &both, 0.0, 10, rep, |_| None);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].peer_id, busy.peer_id.to_string());
        assert_eq!(rank([&busy, &idle], &text, 0.0, 1, rep, |_| None).len(), 1);
    }

    #[test]
    fn query_validation() {
        assert!(matches!(
            AgentQuery::new().validate(),
            Err(DiscoverError::NoCapability)
        ));
        assert!(matches!(
            AgentQuery::new().capabilities(["Bad Name"]).validate(),
            Err(DiscoverError::Capability(_))
        ));
        let (caps, min, limit) = AgentQuery::new()
            .capabilities(["a"])
            .min_reputation(7.0)
            .limit(0)
            .validate()
            .unwrap();
        assert_eq!((caps.len(), min, limit), (1, 1.0, 1));
    }

    #[test]
    fn cache_keeps_newest_and_drops_expired() {
        let key = Keypair::generate_ed25519();
        let rec = |seq| {
            AgentRecord::default()
                .sign(&key, seq, NOW, RECORD_TTL)
                .unwrap()
        };
        let mut cache = RecordCache::default();
        cache.insert(rec(5));
        cache.insert(rec(3));
        let peer = key.public().to_peer_id();
        assert_eq!(cache.get(&peer, NOW).unwrap().seq, 5);
        assert!(cache.get(&peer, NOW + 10 * 3_600_000).is_none());
    }
}
