//! Gossipsub peer scoring of MESH's intent topics, and the traffic that decides when a peer is
//! judged on forwarding.
//!
//! A peer in this node's mesh of a topic must forward what it receives. Gossipsub measures
//! that with its mesh-delivery counter (P3): messages a mesh peer delivered first or within
//! [`DELIVERY_WINDOW`] of the first copy, decayed every second. A peer below the threshold is
//! penalised by the square of its deficit; a peer that once joined the mesh and then stopped
//! forwarding (a *covert flash*) falls below zero and is pruned, however long it behaved
//! before, because the reward for time in the mesh (P1) is capped below the penalty.
//!
//! Intent topics carry bursts and silences, and often one publisher: a fixed threshold would
//! punish honest peers in a quiet topic, and peers that got every message *from* this node
//! deliver none back to it. So a topic is judged only while it carries enough traffic from
//! enough publishers ([`TopicTraffic`]), and the threshold is a small share of the messages
//! this node received in it (the same decay as gossipsub's counters). Outside those times the
//! P3 weight is 0 and a peer's score is its time in the mesh, its first deliveries and any
//! penalty for invalid messages (P4), which always apply.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use tokio::time::Instant;

use libp2p::PeerId;
use libp2p::gossipsub::{PeerScoreParams, PeerScoreThresholds, TopicHash, TopicScoreParams};

/// Copies that arrive this long after the first still count as delivered.
pub(crate) const DELIVERY_WINDOW: Duration = Duration::from_millis(250);
/// Per-second decay of the delivery counters, gossipsub's and [`TopicTraffic`]'s alike.
pub(crate) const DELIVERY_DECAY: f64 = 0.8;
/// Time in the mesh before a peer is judged on its deliveries.
pub(crate) const DELIVERY_ACTIVATION: Duration = Duration::from_secs(10);
/// Traffic (decayed count of received messages) below which a topic is not judged: about
/// one message a second in steady state.
pub(crate) const MIN_TRAFFIC: f64 = 4.0;
/// Distinct publishers a topic must have carried in [`PUBLISHER_WINDOW`] to be judged.
pub(crate) const MIN_PUBLISHERS: usize = 3;
/// How long a publisher counts towards [`MIN_PUBLISHERS`].
pub(crate) const PUBLISHER_WINDOW: Duration = Duration::from_secs(60);
/// Share of the topic's traffic an honest mesh peer is expected to deliver: with `D` mesh
/// peers each forwarding what they did not get from this node, honest peers deliver several
/// times this much.
pub(crate) const EXPECTED_SHARE: f64 = 1.0 / 12.0;
/// Most publishers remembered per topic.
const MAX_PUBLISHERS: usize = 1024;

/// Score for time in the mesh (P1): 0.01 a second, capped at 10 (after about 17 minutes).
const TIME_IN_MESH_WEIGHT: f64 = 0.01;
const TIME_IN_MESH_CAP: f64 = 1000.0;
/// Score for first deliveries (P2): 1 each, decaying by half a second, capped at 20.
const FIRST_DELIVERIES_CAP: f64 = 20.0;
/// The most a peer can earn on one topic from P1 and P2 together.
const MAX_REWARD: f64 = TIME_IN_MESH_WEIGHT * TIME_IN_MESH_CAP + FIRST_DELIVERIES_CAP;

/// Gossipsub peer-score parameters of MESH. Topic parameters are set per topic
/// ([`topic_params`]) when the node subscribes, and updated as its traffic changes.
pub(crate) fn peer_score_params() -> PeerScoreParams {
    PeerScoreParams {
        // Loopback and private test networks host many peers on one IP.
        ip_colocation_factor_whitelist: [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
        .into_iter()
        .collect(),
        // The application-specific score (P5) is this node's reputation of the peer, from
        // -1 (no trust) to +1 (full trust), 0 for a peer never seen.
        app_specific_weight: 5.0,
        decay_interval: Duration::from_secs(1),
        ..PeerScoreParams::default()
    }
}

/// Score thresholds: below `graylist` a peer's messages are ignored entirely.
pub(crate) fn peer_score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    }
}

/// Parameters of one intent topic: rewards for time in the mesh and first deliveries, a hard
/// penalty for invalid messages, and, when `judged` holds the expected deliveries, a penalty
/// for a mesh peer that delivers fewer, reaching twice the most a peer can earn when it
/// delivers nothing.
pub(crate) fn topic_params(judged: Option<f64>) -> TopicScoreParams {
    let mut params = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: TIME_IN_MESH_WEIGHT,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: TIME_IN_MESH_CAP,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.5,
        first_message_deliveries_cap: FIRST_DELIVERIES_CAP,
        mesh_message_deliveries_weight: 0.0,
        mesh_message_deliveries_decay: DELIVERY_DECAY,
        mesh_message_deliveries_window: DELIVERY_WINDOW,
        mesh_message_deliveries_activation: DELIVERY_ACTIVATION,
        mesh_failure_penalty_weight: 0.0,
        mesh_failure_penalty_decay: 0.9,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.99,
        ..TopicScoreParams::default()
    };
    if let Some(threshold) = judged.filter(|t| *t > 0.0) {
        let weight = -2.0 * MAX_REWARD / (threshold * threshold);
        params.mesh_message_deliveries_threshold = threshold;
        params.mesh_message_deliveries_cap = (4.0 * threshold).max(1.0);
        params.mesh_message_deliveries_weight = weight;
        // A peer pruned with a deficit keeps the penalty a while (P3b).
        params.mesh_failure_penalty_weight = weight;
    }
    params
}

/// The application-specific score (P5) of a peer of local reputation `reputation` in [0, 1].
pub(crate) fn app_score(reputation: f64) -> f64 {
    (2.0 * (reputation - 0.5)).clamp(-1.0, 1.0)
}

/// The traffic of each intent topic this node is subscribed to, and whether its mesh peers are
/// judged on forwarding. Owned by the event loop.
#[derive(Debug, Default)]
pub(crate) struct TopicTraffic {
    topics: HashMap<TopicHash, Traffic>,
}

#[derive(Debug)]
struct Traffic {
    /// Messages received, decayed by [`DELIVERY_DECAY`] a second.
    decayed: f64,
    updated: Instant,
    /// When each recent publisher last published.
    publishers: HashMap<PeerId, Instant>,
    /// The threshold in force, `None` when not judged.
    judged: Option<f64>,
}

impl TopicTraffic {
    /// A message of `publisher` was accepted on `topic` at `now`.
    pub(crate) fn record(&mut self, topic: &TopicHash, publisher: PeerId, now: Instant) {
        let traffic = self.topics.entry(topic.clone()).or_insert_with(|| Traffic {
            decayed: 0.0,
            updated: now,
            publishers: HashMap::new(),
            judged: None,
        });
        traffic.decay(now);
        traffic.decayed += 1.0;
        if traffic.publishers.len() >= MAX_PUBLISHERS
            && !traffic.publishers.contains_key(&publisher)
        {
            traffic
                .publishers
                .retain(|_, at| now.saturating_duration_since(*at) < PUBLISHER_WINDOW);
            if traffic.publishers.len() >= MAX_PUBLISHERS {
                return;
            }
        }
        traffic.publishers.insert(publisher, now);
    }

    /// This node left `topic`.
    pub(crate) fn forget(&mut self, topic: &TopicHash) {
        self.topics.remove(topic);
    }

    /// The topics whose parameters must change at `now`, with their new threshold (`None`:
    /// not judged): when judging starts or stops, or the threshold moved by a quarter.
    pub(crate) fn changes(&mut self, now: Instant) -> Vec<(TopicHash, Option<f64>)> {
        let mut out = Vec::new();
        for (topic, traffic) in &mut self.topics {
            traffic.decay(now);
            traffic
                .publishers
                .retain(|_, at| now.saturating_duration_since(*at) < PUBLISHER_WINDOW);
            let wanted = (traffic.decayed >= MIN_TRAFFIC
                && traffic.publishers.len() >= MIN_PUBLISHERS)
                .then_some(traffic.decayed * EXPECTED_SHARE);
            let changed = match (traffic.judged, wanted) {
                (None, None) => false,
                (Some(old), Some(new)) => (new - old).abs() > old / 4.0,
                _ => true,
            };
            if changed {
                traffic.judged = wanted;
                out.push((topic.clone(), wanted));
            }
        }
        out
    }
}

impl Traffic {
    fn decay(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        if elapsed > 0.0 {
            self.decayed *= DELIVERY_DECAY.powf(elapsed);
            self.updated = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_valid_judged_or_not() {
        assert!(peer_score_params().validate().is_ok());
        assert!(peer_score_thresholds().validate().is_ok());
        assert!(topic_params(None).validate().is_ok());
        assert!(topic_params(Some(0.4)).validate().is_ok());
        assert!(topic_params(Some(30.0)).validate().is_ok());
    }

    #[test]
    fn a_peer_that_delivers_nothing_loses_more_than_it_can_earn() {
        for threshold in [0.4, 2.0, 30.0] {
            let p = topic_params(Some(threshold));
            let penalty = p.mesh_message_deliveries_weight * threshold * threshold;
            assert!(
                penalty + MAX_REWARD < -MAX_REWARD / 2.0,
                "threshold {threshold}"
            );
        }
    }

    #[test]
    fn a_topic_is_judged_only_with_enough_traffic_from_enough_publishers() {
        let topic = TopicHash::from_raw("mesh/cap/test/1");
        let start = Instant::now();
        let mut traffic = TopicTraffic::default();
        let one = PeerId::random();
        // Much traffic from one publisher: not judged.
        for i in 0..50 {
            traffic.record(&topic, one, start + Duration::from_millis(i * 100));
        }
        assert!(traffic.changes(start + Duration::from_secs(5)).is_empty());
        // Three publishers: judged, the threshold a share of the decayed traffic.
        let publishers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        let at = start + Duration::from_secs(6);
        for p in &publishers {
            for _ in 0..4 {
                traffic.record(&topic, *p, at);
            }
        }
        let changes = traffic.changes(at);
        assert_eq!(changes.len(), 1);
        let threshold = changes[0].1.expect("judged");
        assert!(threshold > 0.0 && threshold < 12.0 * EXPECTED_SHARE + 2.0);
        // Silence: the traffic decays and judging stops.
        let quiet = at + Duration::from_secs(30);
        assert_eq!(traffic.changes(quiet), vec![(topic, None)]);
    }
}
