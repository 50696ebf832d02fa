//! MESH's own Prometheus metrics (libp2p's are registered beside them by the event loop).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label naming why something was refused.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Short reason, e.g. `bad_signature`, `expired`, `malformed`.
    pub reason: String,
}

/// Label naming the outcome of an operation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok` or `error`.
    pub result: String,
}

/// Labels of a finished DHT query: what kind of query, and what the node started it for.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DhtQueryLabel {
    /// `bootstrap`, `closest_peers`, `providers`, `start_providing`, `republish_provider`,
    /// `get_record`, `put_record` or `republish_record`.
    pub kind: String,
    /// `discovery`, `topic_peers`, `find_peer`, `random_walk`, or `node` for the DHT's own
    /// upkeep and this node's announcements.
    pub purpose: String,
}

/// A histogram of DHT requests per lookup: 1, 2, 4, ... 512.
#[derive(Debug, Clone)]
pub struct LookupRequests(pub Histogram);

impl Default for LookupRequests {
    fn default() -> Self {
        Self(Histogram::new(exponential_buckets(1.0, 2.0, 10)))
    }
}

/// A histogram of the seconds a discovery query took to find its first agent: 25 ms, 50 ms,
/// ... about 51 s.
#[derive(Debug, Clone)]
pub struct FirstAgentSeconds(pub Histogram);

impl Default for FirstAgentSeconds {
    fn default() -> Self {
        Self(Histogram::new(exponential_buckets(0.025, 2.0, 12)))
    }
}

/// Counters and gauges of the MESH protocols.
#[derive(Debug, Clone, Default)]
pub struct MeshMetrics {
    /// Intents this node published.
    pub intents_published: Counter,
    /// Verified intents delivered to local subscribers (once per intent).
    pub intents_received: Counter,
    /// Verified intents seen again (on another topic or from another path).
    pub intents_duplicate: Counter,
    /// Held intents cancelled by their publisher (own cancellations included).
    pub intents_cancelled: Counter,
    /// Received intents not stored because of a rate limit, by reason (`forwarder`: the peer
    /// that relayed them, on gossip or in a catch-up answer, was over its quota).
    pub intents_throttled: Family<ReasonLabel, Counter>,
    /// DHT lookups of a negotiation peer none of whose known addresses worked.
    pub inp_route_lookups: Counter,
    /// Negotiation messages sent again after their connection closed before the answer.
    pub inp_resent: Counter,
    /// Negotiation messages received again (a retry) and acknowledged without a change.
    pub inp_repeats_acknowledged: Counter,
    /// Store writes that failed.
    pub store_errors: Counter,
    /// Store writes dropped because the writer's queue was full.
    pub store_writes_dropped: Counter,
    /// Gossip messages refused by validation, by reason.
    pub messages_rejected: Family<ReasonLabel, Counter>,
    /// Agent records refused (from the DHT or from a peer's store request), by reason.
    pub records_rejected: Family<ReasonLabel, Counter>,
    /// Discovery queries served, by result.
    pub discovery_queries: Family<ResultLabel, Counter>,
    /// Agents returned by discovery queries.
    pub agents_discovered: Counter,
    /// DHT requests a discovery query had sent when its first provider arrived.
    pub discovery_first_provider_requests: LookupRequests,
    /// Seconds from a discovery query's start until it held its first verified agent record.
    pub discovery_first_agent_seconds: FirstAgentSeconds,
    /// Agent records the DHT did not hold for a provider a discovery found, asked of the
    /// agent itself instead.
    pub record_fallbacks: Counter,
    /// Providers a discovery's DHT lookups named, each counted once per discovery (not when a
    /// rendezvous point named it first).
    pub discovery_providers_seen: Counter,
    /// Agent records asked of the agent itself that did not arrive (the request failed).
    pub record_fetch_failures: Counter,
    /// Agents a discovery learned of from another agent of the capability (a member of its
    /// topic), not from the DHT or a rendezvous point, each once per discovery.
    pub discovery_members_named: Counter,
    /// Connections closed to keep headroom under the connection limit.
    pub connections_trimmed: Counter,
    /// Connections refused, by limit: inbound `per_ip` and `limit` (the connection limit,
    /// before the handshake) and `limit_after_handshake` (libp2p's limit, after it), and
    /// `dial_at_limit` for this node's own dials refused before their handshake at the limit.
    pub connections_refused: Family<ReasonLabel, Counter>,
    /// Announcements (record put + provider records) made.
    pub announcements: Counter,
    /// Bootstrap dials, by result.
    pub bootstrap_dials: Family<ResultLabel, Counter>,
    /// DHT queries finished, once each, by kind and purpose.
    pub dht_queries: Family<DhtQueryLabel, Counter>,
    /// DHT requests sent by finished queries, by kind and purpose.
    pub dht_query_requests: Family<DhtQueryLabel, Counter>,
    /// Peers currently connected.
    pub connected_peers: Gauge,
    /// Intents dropped for a local subscriber that fell behind.
    pub subscriber_lagged: Counter,
    /// New intents learnt through IDP catch-up.
    pub intents_caught_up: Counter,
    /// IDP catch-up requests answered.
    pub catchup_served: Counter,
}

impl MeshMetrics {
    /// Creates the metrics and registers them under the `mesh` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("mesh");
        r.register(
            "intents_published",
            "Intents published by this node",
            m.intents_published.clone(),
        );
        r.register(
            "intents_received",
            "Verified intents delivered to local subscribers",
            m.intents_received.clone(),
        );
        r.register(
            "intents_duplicate",
            "Verified intents received again and not delivered twice",
            m.intents_duplicate.clone(),
        );
        r.register(
            "intents_throttled",
            "Received intents dropped by a rate limit, by reason",
            m.intents_throttled.clone(),
        );
        r.register(
            "intents_cancelled",
            "Held intents cancelled by their publisher",
            m.intents_cancelled.clone(),
        );
        r.register(
            "store_errors",
            "Store writes that failed (see the node's log)",
            m.store_errors.clone(),
        );
        r.register(
            "store_writes_dropped",
            "Store writes dropped because the writer fell behind",
            m.store_writes_dropped.clone(),
        );
        r.register(
            "inp_route_lookups",
            "DHT lookups of a negotiation peer none of whose known addresses worked",
            m.inp_route_lookups.clone(),
        );
        r.register(
            "inp_resent",
            "Negotiation messages sent again after their connection closed before the answer",
            m.inp_resent.clone(),
        );
        r.register(
            "inp_repeats_acknowledged",
            "Negotiation messages received again (a retry) and acknowledged without a change",
            m.inp_repeats_acknowledged.clone(),
        );
        r.register(
            "messages_rejected",
            "Gossip, catch-up and negotiation messages refused, by reason",
            m.messages_rejected.clone(),
        );
        r.register(
            "records_rejected",
            "Agent records refused",
            m.records_rejected.clone(),
        );
        r.register(
            "discovery_queries",
            "Agent discovery queries",
            m.discovery_queries.clone(),
        );
        r.register(
            "agents_discovered",
            "Agents returned by discovery queries",
            m.agents_discovered.clone(),
        );
        r.register(
            "discovery_first_provider_requests",
            "DHT requests a discovery query had sent when the first provider of a wanted \
             capability arrived",
            m.discovery_first_provider_requests.0.clone(),
        );
        r.register(
            "discovery_first_agent_seconds",
            "Seconds from a discovery query's start until it held its first verified agent \
             record",
            m.discovery_first_agent_seconds.0.clone(),
        );
        r.register(
            "discovery_record_fallbacks",
            "Agent records the DHT did not hold for a provider a discovery found, asked of \
             the agent itself",
            m.record_fallbacks.clone(),
        );
        r.register(
            "discovery_providers_seen",
            "Providers a discovery's DHT lookups named, each once per discovery",
            m.discovery_providers_seen.clone(),
        );
        r.register(
            "discovery_record_fetch_failures",
            "Agent records asked of the agent itself that did not arrive",
            m.record_fetch_failures.clone(),
        );
        r.register(
            "discovery_members_named",
            "Agents a discovery learned of from another agent of the capability (its topic's \
             members), each once per discovery",
            m.discovery_members_named.clone(),
        );
        r.register(
            "connections_refused",
            "Connections refused, by limit (inbound per_ip and limit; dial_at_limit: own dials)",
            m.connections_refused.clone(),
        );
        r.register(
            "connections_trimmed",
            "Connections closed to keep headroom under the connection limit",
            m.connections_trimmed.clone(),
        );
        r.register(
            "announcements",
            "Agent record and provider announcements",
            m.announcements.clone(),
        );
        r.register(
            "bootstrap_dials",
            "Dials of bootstrap peers",
            m.bootstrap_dials.clone(),
        );
        r.register(
            "dht_queries",
            "DHT queries finished, each once, by kind and by what the node started it for",
            m.dht_queries.clone(),
        );
        r.register(
            "dht_query_requests",
            "DHT requests sent by finished queries, by kind and by what the node started it for",
            m.dht_query_requests.clone(),
        );
        r.register(
            "connected_peers",
            "Peers currently connected",
            m.connected_peers.clone(),
        );
        r.register(
            "subscriber_lagged",
            "Intents a slow local subscriber missed",
            m.subscriber_lagged.clone(),
        );
        r.register(
            "intents_caught_up",
            "New intents learnt through IDP catch-up",
            m.intents_caught_up.clone(),
        );
        r.register(
            "catchup_served",
            "IDP catch-up requests answered",
            m.catchup_served.clone(),
        );
        m
    }

    /// Counts a finished DHT query of `kind`, started for `purpose`, that sent `requests`.
    pub(crate) fn dht_query_finished(&self, kind: &str, purpose: &str, requests: u32) {
        let label = DhtQueryLabel {
            kind: kind.to_owned(),
            purpose: purpose.to_owned(),
        };
        self.dht_queries.get_or_create(&label).inc();
        self.dht_query_requests
            .get_or_create(&label)
            .inc_by(u64::from(requests));
    }

    /// Counts a refused inbound connection.
    pub(crate) fn connection_refused(&self, reason: &str) {
        self.connections_refused
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a refused gossip or negotiation message.
    pub(crate) fn reject_message(&self, reason: &str) {
        self.messages_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a received intent dropped by a rate limit.
    pub(crate) fn throttle_intent(&self, reason: &str) {
        self.intents_throttled
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a refused agent record.
    pub(crate) fn reject_record(&self, reason: &str) {
        self.records_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a finished discovery query.
    pub fn discovery(&self, ok: bool) {
        self.discovery_queries
            .get_or_create(&ResultLabel {
                result: if ok { "ok" } else { "error" }.to_owned(),
            })
            .inc();
    }

    /// Counts a bootstrap dial outcome.
    pub(crate) fn bootstrap_dial(&self, ok: bool) {
        self.bootstrap_dials
            .get_or_create(&ResultLabel {
                result: if ok { "ok" } else { "error" }.to_owned(),
            })
            .inc();
    }
}

/// The kind of a DHT query, as a metric label.
pub(crate) fn dht_query_kind(result: &libp2p::kad::QueryResult) -> &'static str {
    match result {
        libp2p::kad::QueryResult::Bootstrap(_) => "bootstrap",
        libp2p::kad::QueryResult::GetClosestPeers(_) => "closest_peers",
        libp2p::kad::QueryResult::GetProviders(_) => "providers",
        libp2p::kad::QueryResult::StartProviding(_) => "start_providing",
        libp2p::kad::QueryResult::RepublishProvider(_) => "republish_provider",
        libp2p::kad::QueryResult::GetRecord(_) => "get_record",
        libp2p::kad::QueryResult::PutRecord(_) => "put_record",
        libp2p::kad::QueryResult::RepublishRecord(_) => "republish_record",
    }
}
