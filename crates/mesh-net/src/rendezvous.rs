//! Rendezvous: agents register at coordinators under the namespace of each capability they
//! offer, `mesh/cap/<capability>`, and discovery asks the coordinators for the agents
//! registered under a wanted capability.
//!
//! [`Registrations`] is pure bookkeeping: which connected peers are rendezvous points, when
//! each must be registered at (again), and the renewal before the TTL the point granted.
//!
//! ```
//! use mesh_core::Capability;
//! use mesh_net::rendezvous::namespace_of;
//! let cap = Capability::new("text-generation").unwrap();
//! assert_eq!(String::from(namespace_of(&cap).unwrap()), "mesh/cap/text-generation");
//! ```

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use libp2p::PeerId;
use libp2p::rendezvous::Namespace;
use mesh_core::Capability;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::connections::bootstrap::backoff;

/// Prefix of every capability namespace.
pub(crate) const NAMESPACE_PREFIX: &str = "mesh/cap/";
/// Rendezvous points registered at, at most.
pub(crate) const MAX_POINTS: usize = 16;
/// Share of the granted TTL after which a registration is renewed.
const RENEW_AT: f64 = 0.8;
/// The longest TTL a rendezvous point's answer is taken at: libp2p's maximum, 72 h. A point
/// may answer any `u64`; a longer TTL is read as this one, so the renewal stays a time the
/// clock can hold (an unchecked `now + u64::MAX s` ended the event loop).
pub const MAX_GRANTED_TTL_SECS: u64 = libp2p::rendezvous::MAX_TTL;
/// The soonest a registration is renewed after a point accepted it, whatever TTL it granted,
/// so a point that answers a TTL of 0 is not asked again every tick.
pub const MIN_RENEW_AFTER: Duration = Duration::from_secs(30);

/// The rendezvous namespace of `cap`, `mesh/cap/<capability>`.
pub fn namespace_of(cap: &Capability) -> Option<Namespace> {
    Namespace::new(format!("{NAMESPACE_PREFIX}{cap}")).ok()
}

/// The capability of a namespace, if it is one of MESH's.
#[cfg(test)]
fn capability_of(namespace: &Namespace) -> Option<Capability> {
    let s = namespace.to_string();
    Capability::new(s.strip_prefix(NAMESPACE_PREFIX)?).ok()
}

/// Label of a discovery source.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SourceLabel {
    /// `dht` or `rendezvous`.
    pub source: String,
}

/// Metrics of rendezvous and of where discovered agents came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct DiscoveryMetrics {
    /// Agent records found by discovery, by the source that named the agent.
    pub found: Family<SourceLabel, Counter>,
    /// Registrations accepted by rendezvous points (renewals included).
    pub registrations: Counter,
    /// Registrations refused or failed.
    pub registration_failures: Counter,
}

impl DiscoveryMetrics {
    /// Creates the metrics and registers them under `mesh_discovery_`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("mesh_discovery");
        r.register(
            "found",
            "Agents found by discovery, by source (dht, rendezvous, or members: named by another agent of the capability)",
            m.found.clone(),
        );
        r.register(
            "registrations",
            "Rendezvous registrations accepted, renewals included",
            m.registrations.clone(),
        );
        r.register(
            "registration_failures",
            "Rendezvous registrations refused or failed",
            m.registration_failures.clone(),
        );
        m
    }

    /// Counts an agent found through `source`.
    pub(crate) fn found_through(&self, source: &str) {
        self.found
            .get_or_create(&SourceLabel {
                source: source.into(),
            })
            .inc();
    }
}

#[derive(Debug)]
struct Point {
    next_at: Instant,
    failures: u32,
}

/// Which peers are rendezvous points and when to register at each.
#[derive(Debug, Default)]
pub struct Registrations {
    namespaces: Vec<Namespace>,
    points: HashMap<PeerId, Point>,
}

impl Registrations {
    /// Registrations of `capabilities` (none for a node that offers nothing).
    pub fn new(capabilities: &[Capability]) -> Self {
        Self {
            namespaces: capabilities.iter().filter_map(namespace_of).collect(),
            points: HashMap::new(),
        }
    }

    /// The namespaces registered.
    pub fn namespaces(&self) -> &[Namespace] {
        &self.namespaces
    }

    /// `peer` serves rendezvous; register there now (if not already known).
    pub fn point_found(&mut self, peer: PeerId, now: Instant) {
        if self.points.len() < MAX_POINTS {
            self.points.entry(peer).or_insert(Point {
                next_at: now,
                failures: 0,
            });
        }
    }

    /// `peer` is no longer connected.
    pub(crate) fn point_lost(&mut self, peer: &PeerId) {
        self.points.remove(peer);
    }

    /// Connected rendezvous points.
    pub fn points(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.points.keys().copied()
    }

    /// Points to register at now; each is then not due again until an answer or a failure
    /// reschedules it (or a minute passes).
    pub fn due(&mut self, now: Instant) -> Vec<PeerId> {
        if self.namespaces.is_empty() {
            return Vec::new();
        }
        let due: Vec<PeerId> = self
            .points
            .iter()
            .filter(|(_, p)| p.next_at <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in &due {
            if let Some(p) = self.points.get_mut(peer) {
                p.next_at = now + Duration::from_secs(60);
            }
        }
        due
    }

    /// Registers everywhere again now (this node's addresses changed).
    pub(crate) fn refresh(&mut self, now: Instant) {
        for p in self.points.values_mut() {
            p.next_at = now;
        }
    }

    /// `peer` accepted a registration for `ttl_secs` (any value the point sent): renew at 80%
    /// of it, the TTL clamped to [`MAX_GRANTED_TTL_SECS`] and the renewal to at least
    /// [`MIN_RENEW_AFTER`].
    pub fn registered(&mut self, peer: PeerId, ttl_secs: u64, now: Instant) {
        if let Some(p) = self.points.get_mut(&peer) {
            p.failures = 0;
            p.next_at = later(now, renew_after(ttl_secs));
        }
    }

    /// A registration at `peer` failed: try again after a backoff.
    pub fn failed(&mut self, peer: PeerId, now: Instant) {
        if let Some(p) = self.points.get_mut(&peer) {
            p.failures = p.failures.saturating_add(1);
            p.next_at = later(now, backoff(p.failures).max(Duration::from_secs(2)));
        }
    }

    /// When `peer` is next due, if it is a known point.
    pub fn next_at(&self, peer: &PeerId) -> Option<Instant> {
        self.points.get(peer).map(|p| p.next_at)
    }
}

/// How long after a point granted `ttl_secs` the registration is renewed: 80% of the TTL,
/// clamped to [`MAX_GRANTED_TTL_SECS`], and never sooner than [`MIN_RENEW_AFTER`].
pub fn renew_after(ttl_secs: u64) -> Duration {
    let ttl = Duration::from_secs(ttl_secs.min(MAX_GRANTED_TTL_SECS));
    ttl.mul_f64(RENEW_AT).max(MIN_RENEW_AFTER)
}

/// `now + after`, or `now` should the clock not hold it (it holds every bound of this module).
fn later(now: Instant, after: Duration) -> Instant {
    now.checked_add(after).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn registrations_are_renewed_before_the_ttl_and_retried_after_failures() {
        let caps = vec![Capability::new("text").unwrap()];
        let mut r = Registrations::new(&caps);
        let t0 = Instant::now();
        let point = PeerId::random();
        r.point_found(point, t0);
        assert_eq!(r.due(t0), vec![point]);
        assert!(r.due(t0).is_empty(), "not asked twice at once");
        r.registered(point, 100, t0);
        assert!(r.due(t0 + Duration::from_secs(79)).is_empty());
        assert_eq!(r.due(t0 + Duration::from_secs(80)), vec![point]);
        r.failed(point, t0);
        assert!(r.due(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(r.due(t0 + Duration::from_secs(2)), vec![point]);
        r.point_lost(&point);
        assert!(r.due(t0 + Duration::from_secs(600)).is_empty());
    }

    #[test]
    fn a_huge_granted_ttl_is_read_as_72_hours() {
        let caps = vec![Capability::new("text").unwrap()];
        let mut r = Registrations::new(&caps);
        let t0 = Instant::now();
        let point = PeerId::random();
        r.point_found(point, t0);
        assert_eq!(r.due(t0), vec![point]);
        r.registered(point, u64::MAX, t0);
        let renew = Duration::from_secs(MAX_GRANTED_TTL_SECS).mul_f64(RENEW_AT);
        assert_eq!(r.next_at(&point), Some(t0 + renew));
        assert_eq!(r.due(t0 + renew), vec![point]);
    }

    #[test]
    fn a_granted_ttl_of_zero_is_not_renewed_at_once() {
        let caps = vec![Capability::new("text").unwrap()];
        let mut r = Registrations::new(&caps);
        let t0 = Instant::now();
        let point = PeerId::random();
        r.point_found(point, t0);
        r.registered(point, 0, t0);
        assert!(
            r.due(t0 + MIN_RENEW_AFTER - Duration::from_secs(1))
                .is_empty()
        );
        assert_eq!(r.due(t0 + MIN_RENEW_AFTER), vec![point]);
    }

    #[test]
    fn a_node_without_capabilities_registers_nowhere() {
        let mut r = Registrations::new(&[]);
        r.point_found(PeerId::random(), Instant::now());
        assert!(r.due(Instant::now()).is_empty());
    }

    #[test]
    fn namespaces_round_trip() {
        let cap = Capability::new("image-generation").unwrap();
        let ns = namespace_of(&cap).unwrap();
        assert_eq!(capability_of(&ns), Some(cap));
        assert_eq!(capability_of(&Namespace::from_static("other")), None);
    }
}
