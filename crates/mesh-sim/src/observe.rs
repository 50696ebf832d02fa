//! Reading what the nodes measured: their Prometheus registries and byte counters, summed over
//! a population.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use crate::net::SimNode;
use crate::population::Population;

/// Totals over the live nodes at one instant; subtract two to get what happened in between.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Each metric's sample values summed over nodes and label sets, by sample name.
    pub metrics: HashMap<String, f64>,
    /// Bytes written to links by all live nodes.
    pub bytes_sent: u64,
}

impl Totals {
    /// Reads every live node.
    pub fn read(population: &Population) -> Self {
        let mut totals = Totals::default();
        for i in population.live() {
            if let Some(node) = population.get(i) {
                totals.add(&Self::read_node(node));
            }
        }
        totals
    }

    /// Reads one node.
    pub fn read_node(node: &SimNode) -> Self {
        let mut totals = Totals {
            bytes_sent: node.sent.load(Ordering::Relaxed),
            ..Totals::default()
        };
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &node.registry).is_ok() {
            for (name, value) in samples(&text) {
                *totals.metrics.entry(name.to_owned()).or_default() += value;
            }
        }
        totals
    }

    /// Adds `other` to these totals.
    pub fn add(&mut self, other: &Totals) {
        self.bytes_sent += other.bytes_sent;
        for (k, v) in &other.metrics {
            *self.metrics.entry(k.clone()).or_default() += v;
        }
    }

    /// The sum of sample `name` (without labels), 0 when absent.
    pub fn get(&self, name: &str) -> f64 {
        self.metrics.get(name).copied().unwrap_or(0.0)
    }

    /// What changed since `earlier`.
    pub fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            metrics: self
                .metrics
                .iter()
                .map(|(k, v)| (k.clone(), v - earlier.get(k)))
                .collect(),
            bytes_sent: self.bytes_sent.saturating_sub(earlier.bytes_sent),
        }
    }
}

/// `(sample name, value)` of every sample line of a Prometheus text exposition.
fn samples(text: &str) -> impl Iterator<Item = (&str, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let name = series.split('{').next()?;
            Some((name, value.parse().ok()?))
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn samples_are_summed_over_labels() {
        let text =
            "# HELP x y\nmesh_a_total{k=\"1\"} 2\nmesh_a_total{k=\"2\"} 3\nmesh_b 1.5\n# EOF\n";
        let got: Vec<_> = samples(text).collect();
        assert_eq!(
            got,
            vec![
                ("mesh_a_total", 2.0),
                ("mesh_a_total", 3.0),
                ("mesh_b", 1.5)
            ]
        );
    }
}
