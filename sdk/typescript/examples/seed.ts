// The example of the MESH P2P network page, run against a local mesh.
//
//   cargo run -p mesh-cli -- demo --keep-running        # in another terminal; note "hub listens on ..."
//   MESH_BOOTSTRAP=/ip4/127.0.0.1/tcp/PORT/p2p/12D3Koo... MESH_BIN=../../target/debug/mesh npm run example
//
// MESH_BOOTSTRAP holds one or more multiaddrs, separated by commas or spaces. The SDK starts a
// `mesh node` for this agent (MESH_BIN, else `mesh` on PATH) with a temporary identity.

import { MeshNetwork, type IntentInput } from '@mesh/sdk';

const bootstrap = (process.env.MESH_BOOTSTRAP ?? '').split(/[\s,]+/).filter((a) => a !== '');
if (bootstrap.length === 0) {
  console.error('Set MESH_BOOTSTRAP to the address of a MESH node, e.g. the "hub listens on ..." line of `mesh demo --keep-running`.');
  process.exit(2);
}

const myIntent: IntentInput = {
  title: 'Summarise this PDF',
  capabilities: ['text-generation'],
  budget: '2 USD',
  ttlSeconds: 600,
};

// Initialize the P2P network connection
const network = new MeshNetwork({
  bootstrapPeers: bootstrap,
  capabilities: ['text-generation', 'data-analysis']
});

// Connect to the network
await network.connect();
console.log(`Connected as ${network.peerId}`);

// Subscribe to intents matching our capabilities
network.subscribeToIntents((intent) => {
  console.log('Received intent:', intent);
});

// Publish an intent
const published = await network.publishIntent(myIntent);
console.log('Published intent', published.id, 'to', published.topics);

// Discover agents with specific capabilities
const agents = await network.discoverAgents({
  capabilities: ['image-generation'],
  minReputation: 0.8
});
console.log(`Found ${agents.length} agent(s) offering image-generation with reputation >= 0.8:`, agents);
if (agents.length === 0) {
  // Reputation comes from the receipts of completed negotiations, counted when this node or a peer it
  // trusts vouches for the raters (mesh node --trust-peer); an agent nobody vouched for is at 0.5.
  const anyReputation = await network.discoverAgents({ capabilities: ['image-generation'] });
  console.log(`With any reputation: ${anyReputation.map((a) => `${a.name || a.peer_id} (${a.reputation.toFixed(2)})`).join(', ') || 'none'}`);
}

// Listen a little longer for intents published by others, then leave.
const listenMs = Number(process.env.MESH_LISTEN_MS ?? 5000);
await new Promise((resolve) => setTimeout(resolve, listenMs));
await network.close();
