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
    /// Each labelled series' values summed over nodes, by name and labels as exposed
    /// (`name{label="value"}`).
    pub series: HashMap<String, f64>,
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
            for (series, value) in samples(&text) {
                let name = series.split('{').next().unwrap_or(series);
                *totals.metrics.entry(name.to_owned()).or_default() += value;
                if name != series {
                    *totals.series.entry(series.to_owned()).or_default() += value;
                }
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
        for (k, v) in &other.series {
            *self.series.entry(k.clone()).or_default() += v;
        }
    }

    /// The sum of sample `name` (without labels), 0 when absent.
    pub fn get(&self, name: &str) -> f64 {
        self.metrics.get(name).copied().unwrap_or(0.0)
    }

    /// Sample `name` summed per value of its label `label` (series without it are left out).
    pub fn by_label(&self, name: &str, label: &str) -> std::collections::BTreeMap<String, f64> {
        let mut out = std::collections::BTreeMap::new();
        let prefix = format!("{name}{{");
        for (series, v) in &self.series {
            let Some(labels) = series.strip_prefix(&prefix) else {
                continue;
            };
            let value = labels.trim_end_matches('}').split(',').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k == label).then(|| v.trim_matches('"').to_owned())
            });
            if let Some(value) = value {
                *out.entry(value).or_default() += v;
            }
        }
        out
    }

    /// What changed since `earlier`.
    pub fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            metrics: self
                .metrics
                .iter()
                .map(|(k, v)| (k.clone(), v - earlier.get(k)))
                .collect(),
            series: self
                .series
                .iter()
                .map(|(k, v)| (k.clone(), v - earlier.series.get(k).copied().unwrap_or(0.0)))
                .collect(),
            bytes_sent: self.bytes_sent.saturating_sub(earlier.bytes_sent),
        }
    }
}

/// `(series, value)` of every sample line of a Prometheus text exposition; a series is the
/// sample's name with its labels, if any.
fn samples(text: &str) -> impl Iterator<Item = (&str, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series, value.parse().ok()?))
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn samples_keep_their_labels() {
        let text =
            "# HELP x y\nmesh_a_total{k=\"1\"} 2\nmesh_a_total{k=\"2\"} 3\nmesh_b 1.5\n# EOF\n";
        let got: Vec<_> = samples(text).collect();
        assert_eq!(
            got,
            vec![
                ("mesh_a_total{k=\"1\"}", 2.0),
                ("mesh_a_total{k=\"2\"}", 3.0),
                ("mesh_b", 1.5)
            ]
        );
    }

    #[test]
    fn totals_sum_over_labels_and_split_by_one() {
        let mut t = Totals::default();
        for (series, v) in [
            ("q_count{type=\"Bootstrap\",x=\"1\"}", 2.0),
            ("q_count{x=\"2\",type=\"Bootstrap\"}", 3.0),
            ("q_count{type=\"GetProviders\"}", 4.0),
            ("q_count{x=\"3\"}", 5.0),
        ] {
            *t.series.entry(series.to_owned()).or_default() += v;
        }
        let by = t.by_label("q_count", "type");
        assert_eq!(by.get("Bootstrap"), Some(&5.0));
        assert_eq!(by.get("GetProviders"), Some(&4.0));
        assert_eq!(by.len(), 2, "a series without the label is left out");
        assert!(t.by_label("q_cou", "type").is_empty(), "names match whole");
    }
}
