// One node of propagation.mjs, in its own process: a js-libp2p node with gossipsub on
// 127.0.0.1, subscribed to one topic, driven over the IPC channel of its parent.
//
// From the parent: {type: 'dial', addrs} (dialed one after the other), {type: 'publish', id,
// bytes}, {type: 'stats'}. To the parent: {type: 'listening', addr}, {type: 'dialed', failed,
// gossipUnready} (dials that failed, and dialed peers gossipsub has no stream with 10 s later),
// {type: 'published', id, error}, {type: 'stats', peers, meshPeers}, and for every message received
// {type: 'got', id, at}, `at` being this process's wall-clock time in ms
// (performance.timeOrigin + performance.now()).

import { multiaddr } from '@multiformats/multiaddr'
import { createNode, exitWithParent, loopbackAddr, parseArgs } from './lib.mjs'

const DIAL_TIMEOUT_MS = 10_000
const GOSSIP_READY_MS = 10_000

const args = parseArgs(process.argv.slice(2), { transport: 'tcp', topic: 'mesh/intents/1/bench' })
const node = await createNode({ transport: args.transport, topic: args.topic })
const pubsub = node.services.pubsub
const encoder = new TextEncoder()
const decoder = new TextDecoder()

pubsub.addEventListener('message', (event) => {
  const at = performance.timeOrigin + performance.now()
  const msg = event.detail
  if (msg.topic !== args.topic) return
  const text = decoder.decode(msg.data)
  const end = text.indexOf('\n')
  process.send({ type: 'got', id: end < 0 ? text : text.slice(0, end), at })
})

/**
 * Waits until gossipsub has a stream with each of `peers` (identify has told it they speak
 * gossipsub), at most GOSSIP_READY_MS; returns how many it still lacks.
 */
async function gossipUnready (peers) {
  const by = performance.now() + GOSSIP_READY_MS
  for (;;) {
    const known = new Set(pubsub.getPeers().map(String))
    const missing = peers.filter(p => !known.has(p)).length
    if (missing === 0 || performance.now() > by) return missing
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** `id`, a newline, then filler up to `bytes` in all. */
function message (id, bytes) {
  const head = encoder.encode(`${id}\n`)
  const data = new Uint8Array(Math.max(bytes, head.byteLength)).fill(0x78)
  data.set(head)
  return data
}

process.on('message', async (m) => {
  try {
    if (m.type === 'dial') {
      const failed = []
      const dialed = []
      for (const addr of m.addrs) {
        try {
          dialed.push((await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })).remotePeer.toString())
        } catch (err) {
          failed.push(`${addr}: ${err.message ?? err}`)
        }
      }
      process.send({ type: 'dialed', failed, gossipUnready: await gossipUnready(dialed) })
    } else if (m.type === 'publish') {
      try {
        await pubsub.publish(args.topic, message(m.id, m.bytes))
        process.send({ type: 'published', id: m.id, error: null })
      } catch (err) {
        process.send({ type: 'published', id: m.id, error: String(err.message ?? err) })
      }
    } else if (m.type === 'stats') {
      process.send({ type: 'stats', peers: node.getPeers().length, meshPeers: pubsub.getMeshPeers(args.topic).length })
    }
  } catch (err) {
    console.error(err)
    process.exit(1)
  }
})

await node.start()
pubsub.subscribe(args.topic)
exitWithParent(() => node.stop())
process.send({ type: 'listening', addr: loopbackAddr(node) })
