//! The shape of the simulated network: who is connected to whom, who forwards to whom, and how
//! many hops a message needs.

use std::collections::{HashMap, VecDeque};

use mesh_core::Capability;

use crate::population::Population;

/// Directed edges between node indices.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    edges: HashMap<usize, Vec<usize>>,
}

impl Graph {
    /// Adds the edge `from -> to`.
    pub fn add(&mut self, from: usize, to: usize) {
        self.edges.entry(from).or_default().push(to);
    }

    /// Hops from `source` to every node it reaches.
    pub fn hops_from(&self, source: usize) -> HashMap<usize, usize> {
        let mut depth = HashMap::from([(source, 0usize)]);
        let mut queue = VecDeque::from([source]);
        while let Some(i) = queue.pop_front() {
            let d = depth[&i];
            for &j in self.edges.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
                depth.entry(j).or_insert_with(|| {
                    queue.push_back(j);
                    d + 1
                });
            }
        }
        depth
    }

    /// Mean number of edges leaving a node, over `nodes` nodes.
    pub fn mean_degree(&self, nodes: usize) -> f64 {
        self.edges.values().map(Vec::len).sum::<usize>() as f64 / nodes.max(1) as f64
    }
}

/// The graph of connections between live nodes.
pub async fn connections(population: &Population) -> anyhow::Result<Graph> {
    let index = index(population);
    let mut graph = Graph::default();
    for i in population.live() {
        let Some(node) = population.get(i) else {
            continue;
        };
        for peer in node.handle.peers().await? {
            if let Some(j) = index.get(&peer.peer_id) {
                graph.add(i, *j);
            }
        }
    }
    Ok(graph)
}

/// The paths an intent of `capability` published by `publisher` takes: from the publisher to
/// every connected subscriber (a publisher sends to all of them), from every other node to the
/// peers of its gossip mesh for the topic.
pub async fn gossip(
    population: &Population,
    capability: &Capability,
    publisher: usize,
) -> anyhow::Result<Graph> {
    let index = index(population);
    let mut graph = Graph::default();
    for i in population.live() {
        let Some(node) = population.get(i) else {
            continue;
        };
        let peers = node.handle.topic_peers(capability.clone()).await?;
        let targets = if i == publisher {
            peers.subscribed
        } else {
            peers.mesh
        };
        for peer in targets {
            if let Some(j) = index.get(&peer.to_string()) {
                graph.add(i, *j);
            }
        }
    }
    Ok(graph)
}

fn index(population: &Population) -> HashMap<String, usize> {
    population
        .live()
        .filter_map(|i| population.get(i).map(|n| (n.peer_id.to_string(), i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_follow_the_shortest_path() {
        let mut g = Graph::default();
        for (a, b) in [(0, 1), (1, 2), (2, 3), (0, 3), (3, 4)] {
            g.add(a, b);
        }
        let hops = g.hops_from(0);
        assert_eq!(hops[&3], 1);
        assert_eq!(hops[&4], 2);
        assert_eq!(hops[&2], 2);
        assert_eq!(hops.values().max(), Some(&2));
        assert!(!g.hops_from(4).contains_key(&0));
    }
}
