#!/usr/bin/env node
// Message propagation across K js-libp2p processes with gossipsub on 127.0.0.1: the js-libp2p
// counterpart of crates/mesh-cli/examples/propagation_processes.rs.
//
//   node propagation.mjs --nodes 30 --messages 50
//
// K processes (propagation-node.mjs), each one node (TCP + Noise + Yamux, identify, gossipsub
// with MESH's gossip parameters) subscribed to one topic. They start one after the other; node
// i dials min(3, i) random earlier nodes (seeded SplitMix64, the same graph as the MESH example
// for the same seed). Node 0 publishes warm-up messages until one reaches all K - 1 others (the
// mesh has formed), the network settles (--settle-ms, default 6000), then node 0 publishes M
// messages one at a time, each 100 ms (--gap-ms) after the previous one has reached everyone or
// timed out.
//
// Clock: this process's. The time of a message runs from just before this process sends the
// publish command to node 0 until this process receives a node's arrival notice over its IPC
// channel; each notice is stamped on receipt. That is how the MESH example times an intent (from
// before the POST to node 0 until the SSE event is read), so both include one local hop at each
// end. Each node also stamps its arrival with its own wall clock (performance.timeOrigin +
// performance.now(); all processes on one machine read the same system clock), reported as
// `self_stamped_median_t100_ms`. `cpu_ms_per_message` is the CPU time all K processes used
// during the measured messages (from /proc, background work such as heartbeats included),
// divided by M.
//
// Prints a markdown table and, as its last line, the report as JSON (--json: only the JSON).

import { fileURLToPath } from 'node:url'
import { atShare, cpuMs, dialPlan, median, nextMessage, parseArgs, spawnChild, us } from './lib.mjs'

const NODE_SCRIPT = fileURLToPath(new URL('./propagation-node.mjs', import.meta.url))
const START_TIMEOUT_MS = 30_000
const READY_TIMEOUT_MS = 120_000
const WARMUP_TRY_MS = 5_000

const defaults = {
  nodes: 30,
  messages: 50,
  messageBytes: 300,
  degree: 3,
  seed: 7,
  settleMs: 6000,
  gapMs: 100,
  timeoutMs: 10_000,
  transport: 'tcp',
  json: false
}

const wallNow = () => performance.timeOrigin + performance.now()

/** Arrival notices per message id: node index -> {at (this clock), self (node's wall clock)}. */
class Arrivals {
  constructor () {
    this.byId = new Map()
    this.waiter = null
  }

  record (node, id, self) {
    const at = performance.now()
    let seen = this.byId.get(id)
    if (seen === undefined) { seen = new Map(); this.byId.set(id, seen) }
    if (!seen.has(node)) seen.set(node, { at, self })
    if (this.waiter?.id === id && seen.size >= this.waiter.want) this.waiter.resolve()
  }

  /** Waits until `want` nodes have `id`, or `ms` passed; returns what arrived. */
  async wait (id, want, ms) {
    const seen = this.byId.get(id)
    if (seen === undefined || seen.size < want) {
      await new Promise(resolve => {
        const timer = setTimeout(done, ms)
        function done () { clearTimeout(timer); resolve() }
        this.waiter = { id, want, resolve: done }
      })
      this.waiter = null
    }
    const got = this.byId.get(id) ?? new Map()
    this.byId.delete(id)
    return got
  }
}

async function publish (publisher, id, bytes) {
  const acked = nextMessage(publisher, m => m.type === 'published' && m.id === id, START_TIMEOUT_MS, `node 0 to publish ${id}`)
  publisher.send({ type: 'publish', id, bytes })
  return acked
}

async function run (o) {
  if (o.nodes < 2) throw new Error('--nodes must be at least 2: a publisher and a subscriber')
  const started = performance.now()
  const plan = dialPlan(o.nodes, o.degree, o.seed)
  const arrivals = new Arrivals()
  const children = []
  const addrs = []
  let gossipUnready = 0
  for (let i = 0; i < o.nodes; i++) {
    const child = spawnChild(NODE_SCRIPT, ['--transport', o.transport])
    children.push(child)
    if (i > 0) child.on('message', m => { if (m.type === 'got') arrivals.record(i, m.id, m.at) })
    const { addr } = await nextMessage(child, m => m.type === 'listening', START_TIMEOUT_MS, `node ${i} to listen`)
    addrs.push(addr)
    if (plan[i].length > 0) {
      const dialed = nextMessage(child, m => m.type === 'dialed', START_TIMEOUT_MS + plan[i].length * 10_000, `node ${i} to dial`)
      child.send({ type: 'dial', addrs: plan[i].map(j => addrs[j]) })
      const { failed, gossipUnready: unready } = await dialed
      if (failed.length > 0) throw new Error(`node ${i} could not dial: ${failed.join('; ')}`)
      gossipUnready += unready
    }
  }
  const subscribers = o.nodes - 1
  const publisher = children[0]

  let warmup = 0
  const readyBy = performance.now() + READY_TIMEOUT_MS
  for (;;) {
    const id = `warmup-${warmup++}`
    const { error } = await publish(publisher, id, o.messageBytes)
    const got = error == null ? await arrivals.wait(id, subscribers, WARMUP_TRY_MS) : new Map()
    if (got.size === subscribers) break
    if (performance.now() > readyBy) throw new Error(`no warm-up message reached all ${subscribers} subscribers within ${READY_TIMEOUT_MS} ms (last: ${got.size}${error ? `, ${error}` : ''})`)
    if (error != null) await new Promise(resolve => setTimeout(resolve, 200))
  }
  const setupS = (performance.now() - started) / 1000
  await new Promise(resolve => setTimeout(resolve, o.settleMs))

  const pids = children.map(c => c.pid)
  const cpuBefore = cpuMs(pids)
  const perMessage = []
  const publishMs = []
  const selfT100 = []
  for (let k = 0; k < o.messages; k++) {
    await new Promise(resolve => setTimeout(resolve, o.gapMs))
    const id = `probe-${k}`
    const t0 = performance.now()
    const t0Wall = wallNow()
    const { error } = await publish(publisher, id, o.messageBytes)
    publishMs.push(performance.now() - t0)
    if (error != null) throw new Error(`node 0 could not publish ${id}: ${error}`)
    const got = await arrivals.wait(id, subscribers, o.timeoutMs)
    const times = [...got.values()].map(a => a.at - t0).sort((a, b) => a - b)
    perMessage.push({
      delivered: times.length,
      t50_ms: us(atShare(times, subscribers, 0.5)),
      t95_ms: us(atShare(times, subscribers, 0.95)),
      t100_ms: us(atShare(times, subscribers, 1))
    })
    if (times.length === subscribers) selfT100.push(Math.max(...[...got.values()].map(a => a.self)) - t0Wall)
  }
  const cpuSpent = cpuMs(pids) - cpuBefore
  // The graph as it was during the measurement.
  const stats = await Promise.all(children.map((c, i) => {
    const reply = nextMessage(c, m => m.type === 'stats', START_TIMEOUT_MS, `stats of node ${i}`)
    c.send({ type: 'stats' })
    return reply
  }))
  const delivered = perMessage.reduce((n, m) => n + m.delivered, 0)
  const t100 = perMessage.map(m => m.t100_ms)
  return {
    impl: 'js-libp2p',
    transport: o.transport,
    nodes: o.nodes,
    subscribers,
    degree: o.degree,
    seed: o.seed,
    messages: o.messages,
    message_bytes: o.messageBytes,
    settle_ms: o.settleMs,
    gap_ms: o.gapMs,
    warmup_messages: warmup,
    setup_s: Math.round(setupS * 1000) / 1000,
    mean_connections: Math.round(stats.reduce((n, s) => n + s.peers, 0) / o.nodes * 100) / 100,
    gossip_unready_links: gossipUnready,
    mean_mesh_peers: Math.round(stats.reduce((n, s) => n + s.meshPeers, 0) / o.nodes * 100) / 100,
    delivery_ratio: o.messages > 0 ? delivered / (subscribers * o.messages) : null,
    median_t50_ms: median(perMessage.map(m => m.t50_ms)),
    median_t95_ms: median(perMessage.map(m => m.t95_ms)),
    median_t100_ms: median(t100),
    max_t100_ms: t100.some(t => t == null) ? null : t100.reduce((a, b) => Math.max(a, b), 0),
    median_publish_ms: us(median(publishMs)),
    self_stamped_median_t100_ms: us(median(selfT100)),
    cpu_ms_per_message: o.messages > 0 ? Math.round(cpuSpent / o.messages * 10) / 10 : null,
    per_message: perMessage
  }
}

/** The markdown table of one or more reports (propagation_processes.rs prints the same). */
export function table (reports) {
  const f = (x, d = 3) => x == null ? '-' : x.toFixed(d)
  const lines = [
    '| impl | nodes | messages | bytes | delivery | to 50% ms | to 95% ms | to 100% ms | max to 100% ms | publish ms | CPU ms/message | connections/node | mesh peers/node | setup s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  ]
  for (const r of reports) {
    lines.push(`| ${r.impl} | ${r.nodes} | ${r.messages} | ${r.message_bytes} | ${r.delivery_ratio == null ? '-' : (r.delivery_ratio * 100).toFixed(1) + '%'} | ${f(r.median_t50_ms)} | ${f(r.median_t95_ms)} | ${f(r.median_t100_ms)} | ${f(r.max_t100_ms)} | ${f(r.median_publish_ms)} | ${f(r.cpu_ms_per_message, 1)} | ${f(r.mean_connections, 1)} | ${f(r.mean_mesh_peers, 1)} | ${f(r.setup_s, 1)} |`)
  }
  return lines.join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const o = parseArgs(process.argv.slice(2), defaults)
    const report = await run(o)
    if (!o.json) {
      console.log(`Propagation across ${report.nodes} js-libp2p processes on 127.0.0.1 (${report.transport}), ${report.messages} messages of ${report.message_bytes} B one at a time; times are medians over messages\n`)
      console.log(table([report]))
      console.log()
    }
    console.log(JSON.stringify(report))
    process.exit(0)
  } catch (err) {
    console.error(`propagation.mjs: ${err.message}`)
    process.exit(1)
  }
}
