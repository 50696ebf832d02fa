// Shared by perf.mjs and propagation.mjs: building a node, the perf protocol, the seeded graph,
// command-line flags, and child processes that die with their parent.

import './node20.mjs'
import { createHash } from 'node:crypto'
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'

/** The libp2p perf protocol (https://github.com/libp2p/specs/blob/master/perf/perf.md). */
export const PERF_PROTOCOL = '/perf/1.0.0'
/** Bytes per write of a perf transfer, as js-libp2p's and rust-libp2p's perf clients use. */
const PERF_BLOCK_BYTES = 64 * 1024

/** The gossip parameters MESH's nodes use (crates/mesh-net/src/behaviour.rs, config.rs). */
export const MESH_GOSSIP = {
  D: 6,
  Dlo: 5,
  Dhi: 12,
  Dout: 2,
  Dlazy: 6,
  heartbeatInterval: 700,
  seenTTL: 120_000
}

/** The QUIC transport package, installed apart from the pinned dependencies (see README.md). */
export const QUIC_PACKAGE = '@chainsafe/libp2p-quic@1.1.8'

/** `@chainsafe/libp2p-quic`, or an error saying how to install it. */
export async function importQuic () {
  try {
    return await import('@chainsafe/libp2p-quic')
  } catch (err) {
    throw new Error(`--transport quic needs ${QUIC_PACKAGE}, which is not among the pinned dependencies: run \`npm install --no-save ${QUIC_PACKAGE}\` in bench/js-libp2p (${err.code ?? err.message})`)
  }
}

/**
 * MESH's peer scoring (crates/mesh-net/src/idp.rs): loopback exempt from the IP colocation
 * penalty (many peers share 127.0.0.1 here), its thresholds, and its per-topic parameters for
 * `topic`; everything else is gossipsub's default, the same in both implementations.
 */
function meshScoring (topic) {
  return {
    scoreParams: {
      IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1']),
      topics: {
        [topic]: {
          topicWeight: 1,
          timeInMeshWeight: 0.01,
          timeInMeshQuantum: 1000,
          timeInMeshCap: 3600,
          firstMessageDeliveriesWeight: 1,
          firstMessageDeliveriesDecay: 0.5,
          firstMessageDeliveriesCap: 100,
          meshMessageDeliveriesWeight: 0,
          meshFailurePenaltyWeight: 0,
          invalidMessageDeliveriesWeight: -100,
          invalidMessageDeliveriesDecay: 0.3
        }
      }
    },
    scoreThresholds: {
      gossipThreshold: -10,
      publishThreshold: -50,
      graylistThreshold: -80,
      acceptPXThreshold: 10,
      opportunisticGraftThreshold: 5
    }
  }
}

/**
 * A js-libp2p node listening on 127.0.0.1: TCP + Noise + Yamux, or QUIC v1, with identify, and
 * gossipsub with MESH's parameters when `topic` is given (the topic its scoring is for).
 */
export async function createNode ({ transport = 'tcp', topic = null } = {}) {
  const transports = []
  const listen = []
  if (transport === 'tcp') {
    transports.push(tcp())
    listen.push('/ip4/127.0.0.1/tcp/0')
  } else if (transport === 'quic') {
    transports.push((await importQuic()).quic())
    listen.push('/ip4/127.0.0.1/udp/0/quic-v1')
  } else {
    throw new Error(`unknown transport ${transport}: use tcp or quic`)
  }
  const services = { identify: identify() }
  if (topic != null) {
    services.pubsub = gossipsub({
      ...MESH_GOSSIP,
      ...meshScoring(topic),
      // MESH's message id: SHA-256(topic ‖ 0x00 ‖ data), so a message is identified by its content.
      msgIdFn: (msg) => createHash('sha256').update(msg.topic).update(Uint8Array.of(0)).update(msg.data).digest(),
      emitSelf: false,
      allowPublishToZeroTopicPeers: false
    })
  }
  return createLibp2p({
    addresses: { listen },
    transports,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services
  })
}

/** The first address of `node` on loopback, with its peer id. */
export function loopbackAddr (node) {
  const addr = node.getMultiaddrs().map(String).find(a => a.startsWith('/ip4/127.0.0.1/'))
  if (addr == null) throw new Error(`no loopback address among ${node.getMultiaddrs().map(String)}`)
  return addr
}

function bigEndianU64 (n) {
  const header = new Uint8Array(8)
  new DataView(header.buffer).setBigUint64(0, BigInt(n))
  return header
}

async function * blocks (total) {
  const block = new Uint8Array(PERF_BLOCK_BYTES)
  let left = total
  while (left > 0) {
    const n = Math.min(left, PERF_BLOCK_BYTES)
    yield n === PERF_BLOCK_BYTES ? block : block.subarray(0, n)
    left -= n
  }
}

/**
 * Serves the perf protocol: reads the 8-byte big-endian count the client wants back, reads and
 * drops everything else the client sends until it closes its side, then sends the count.
 */
export async function handlePerf (node) {
  await node.handle(PERF_PROTOCOL, async ({ stream }) => {
    try {
      const header = []
      let headerBytes = 0
      for await (const chunk of stream.source) {
        if (headerBytes < 8) {
          const bytes = chunk.subarray()
          const take = Math.min(8 - headerBytes, bytes.byteLength)
          header.push(bytes.subarray(0, take))
          headerBytes += take
        }
      }
      if (headerBytes < 8) throw new Error('perf stream closed before its 8-byte header')
      const joined = new Uint8Array(8)
      let at = 0
      for (const part of header) { joined.set(part, at); at += part.byteLength }
      const send = new DataView(joined.buffer).getBigUint64(0)
      await stream.sink(blocks(Number(send)))
    } catch (err) {
      stream.abort(err)
    }
  }, { maxInboundStreams: 64, runOnLimitedConnection: false })
}

/**
 * One perf run on an open connection to `peer`: sends `upload` bytes, asks for `download`
 * bytes, and returns the seconds from opening the stream to the end of the server's answer
 * (the server answers only once it has read everything sent).
 */
export async function runPerf (node, peer, upload, download) {
  const start = performance.now()
  const stream = await node.dialProtocol(peer, PERF_PROTOCOL)
  const sent = stream.sink((async function * () {
    yield bigEndianU64(download)
    yield * blocks(upload)
  })())
  let received = 0
  for await (const chunk of stream.source) received += chunk.byteLength
  await sent
  const seconds = (performance.now() - start) / 1000
  if (received !== download) throw new Error(`perf: asked for ${download} bytes, received ${received}`)
  return seconds
}

/**
 * Parses `--name value` and `--flag` arguments against `defaults`; numbers stay numbers.
 * Unknown flags are an error.
 */
export function parseArgs (argv, defaults) {
  const out = { ...defaults }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`)
    const name = arg.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase())
    if (!(name in defaults)) throw new Error(`unknown flag ${arg}`)
    if (typeof defaults[name] === 'boolean') {
      out[name] = true
      continue
    }
    const value = argv[++i]
    if (value === undefined) throw new Error(`${arg} needs a value`)
    if (typeof defaults[name] === 'number') {
      const n = Number(value)
      if (!Number.isFinite(n)) throw new Error(`${arg} needs a number, got ${value}`)
      out[name] = n
    } else {
      out[name] = value
    }
  }
  return out
}

/**
 * A seeded pseudo-random generator, SplitMix64: the same sequence as `SplitMix64` in
 * crates/mesh-cli/examples/propagation_processes.rs, so one seed gives both the same graph.
 */
export class SplitMix64 {
  constructor (seed) { this.state = BigInt.asUintN(64, BigInt(seed)) }

  next () {
    this.state = BigInt.asUintN(64, this.state + 0x9e3779b97f4a7c15n)
    let z = this.state
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n)
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn)
    return z ^ (z >> 31n)
  }

  /** A number in [0, n). */
  below (n) { return Number(this.next() % BigInt(n)) }
}

/**
 * The nodes each node dials: node i picks min(degree, i) distinct earlier nodes at random
 * (a partial Fisher-Yates shuffle of 0..i), node 0 none.
 */
export function dialPlan (nodes, degree, seed) {
  const rng = new SplitMix64(seed)
  const plan = [[]]
  for (let i = 1; i < nodes; i++) {
    const pool = Array.from({ length: i }, (_, j) => j)
    const k = Math.min(degree, i)
    for (let j = 0; j < k; j++) {
      const r = j + rng.below(i - j)
      ;[pool[j], pool[r]] = [pool[r], pool[j]]
    }
    plan.push(pool.slice(0, k).sort((a, b) => a - b))
  }
  return plan
}

/** Nearest-rank share of `sorted` (ascending): the value at rank ceil(share × want). */
export function atShare (sorted, want, share) {
  const needed = Math.max(1, Math.ceil(want * share))
  return needed <= sorted.length ? sorted[needed - 1] : null
}

/** The median of the numbers present (the upper one of an even count), or null. */
export function median (values) {
  const v = values.filter(x => x != null).sort((a, b) => a - b)
  return v.length === 0 ? null : v[Math.floor(v.length / 2)]
}

/** Rounds to microseconds, the resolution of the measurement (values in ms). */
export function us (ms) {
  return ms == null ? null : Math.round(ms * 1000) / 1000
}

/**
 * CPU time (user + system) the processes `pids` have used so far, ms, from /proc/PID/stat
 * (Linux; clock ticks of 10 ms). Processes that are gone count 0.
 */
export function cpuMs (pids) {
  let ticks = 0
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {}
  }
  return ticks * 10
}

const children = new Set()
let exitHooked = false

function killChildren () {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}

/**
 * Starts `script` with `args` as a child process with an IPC channel. Every child is killed when
 * this process exits, also on an error or a signal; children also exit when the channel closes.
 */
export function spawnChild (script, args) {
  if (!exitHooked) {
    exitHooked = true
    process.on('exit', killChildren)
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
      process.on(signal, () => { killChildren(); process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1)) })
    }
  }
  const child = fork(script, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  children.add(child)
  child.stderrTail = []
  createInterface({ input: child.stderr }).on('line', line => {
    child.stderrTail.push(line)
    if (child.stderrTail.length > 20) child.stderrTail.shift()
  })
  child.stdout.resume()
  child.on('exit', () => children.delete(child))
  return child
}

/** Waits for the next IPC message of `child` that `match` accepts, at most `ms`. */
export function nextMessage (child, match, ms, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out after ${ms} ms waiting for ${what}`)) }, ms)
    const onMessage = (m) => { if (match(m)) { cleanup(); resolve(m) } }
    const onExit = (code, signal) => {
      cleanup()
      reject(new Error(`child exited (${signal ?? code}) while waiting for ${what}:\n${child.stderrTail.join('\n')}`))
    }
    const cleanup = () => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

/** In a child: exits when the parent's IPC channel closes, so no child outlives its driver. */
export function exitWithParent (onExit) {
  process.on('disconnect', async () => {
    try { await onExit?.() } finally { process.exit(0) }
  })
}
