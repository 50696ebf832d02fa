//! A population of simulated nodes: seeded keys, memory ports, bootstrap from random live
//! nodes, and nodes that leave and join (churn).

use std::sync::atomic::{AtomicU64, Ordering};

use mesh_core::{Capability, Keypair};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};

use crate::net::{NodeSettings, NodeSpec, SimNode, start};

/// Memory ports already handed out in this process (memory addresses are process-wide).
static NEXT_PORT: AtomicU64 = AtomicU64::new(1);
/// Nodes started together by [`Population::start_many`] before a pause.
pub const START_BATCH: usize = 25;
/// The pause between two batches.
pub const START_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Nodes of one simulation; a slot is `None` once its node has left.
pub struct Population {
    /// Every node started, by index; `None` for those that left.
    pub nodes: Vec<Option<SimNode>>,
    settings: NodeSettings,
    rng: StdRng,
}

impl Population {
    /// An empty population whose random choices follow `seed`.
    pub fn new(settings: NodeSettings, seed: u64) -> Self {
        Self {
            nodes: Vec::new(),
            settings,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Starts a node offering `capabilities`, bootstrapping from `degree` random live nodes.
    /// Returns its index.
    pub fn add(&mut self, capabilities: Vec<Capability>, degree: usize) -> anyhow::Result<usize> {
        let mut secret = [0u8; 32];
        self.rng.fill_bytes(&mut secret);
        let key = Keypair::ed25519_from_bytes(secret)?;
        let mut live: Vec<usize> = self.live().collect();
        live.shuffle(&mut self.rng);
        let bootstrap = live
            .iter()
            .take(degree)
            .filter_map(|i| self.nodes[*i].as_ref().map(|n| n.addr.clone()))
            .collect();
        let node = start(
            NodeSpec {
                key,
                port: NEXT_PORT.fetch_add(1, Ordering::Relaxed),
                capabilities,
                bootstrap,
            },
            &self.settings,
        )?;
        self.nodes.push(Some(node));
        crate::memory::node_started();
        Ok(self.nodes.len() - 1)
    }

    /// Starts `n` nodes, node `k` offering `capabilities(k)`, [`START_BATCH`] at a time with
    /// [`START_PAUSE`] between batches: nodes join over time rather than in one
    /// instant, as in a real network, and the first ones are listening when later ones dial.
    pub async fn start_many(
        &mut self,
        n: usize,
        degree: usize,
        capabilities: impl Fn(usize) -> Vec<Capability>,
    ) -> anyhow::Result<()> {
        for k in 0..n {
            if k > 0 && k % START_BATCH == 0 {
                tokio::time::sleep(START_PAUSE).await;
            }
            self.add(capabilities(k), degree)?;
        }
        Ok(())
    }

    /// Stops node `index`; it leaves without a word, as a crashed or disconnected node does.
    pub async fn remove(&mut self, index: usize) {
        if let Some(node) = self.nodes.get_mut(index).and_then(Option::take) {
            node.stop().await;
            crate::memory::node_stopped();
        }
    }

    /// Indices of the nodes still running.
    pub fn live(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|_| i))
    }

    /// Node `index`, if it is still running.
    pub fn get(&self, index: usize) -> Option<&SimNode> {
        self.nodes.get(index).and_then(Option::as_ref)
    }

    /// The population's random source, for scenario choices that must follow the seed.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Stops every node.
    pub async fn stop_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.remove(i).await;
        }
    }
}
