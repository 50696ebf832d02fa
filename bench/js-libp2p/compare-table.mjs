#!/usr/bin/env node
// Reads propagation reports (one JSON object per file, as propagation.mjs --json and
// propagation_processes --json print them), groups them by label, and prints the medians over
// runs side by side with the ratio to `mesh` (or, without it, to the first label).
//
//   node compare-table.mjs mesh=run1-mesh.json mesh=run2-mesh.json js-libp2p=run1-js.json ...

import { readFileSync } from 'node:fs'
import { median } from './lib.mjs'

const groups = new Map()
for (const arg of process.argv.slice(2)) {
  const at = arg.indexOf('=')
  if (at < 1) throw new Error(`expected LABEL=FILE, got ${arg}`)
  const label = arg.slice(0, at)
  const text = readFileSync(arg.slice(at + 1), 'utf8').trim().split('\n').pop()
  if (!groups.has(label)) groups.set(label, [])
  groups.get(label).push(JSON.parse(text))
}
if (groups.size === 0) throw new Error('no reports given')

const rows = [
  ['delivery', r => r.delivery_ratio == null ? null : r.delivery_ratio * 100, 1, '%'],
  ['time to 50% of subscribers, ms', r => r.median_t50_ms, 2],
  ['time to 95%, ms', r => r.median_t95_ms, 2],
  ['time to 100%, ms', r => r.median_t100_ms, 2],
  ['slowest message to 100%, ms', r => r.max_t100_ms, 2],
  ['time to 100%, nodes\' own clocks, ms', r => r.self_stamped_median_t100_ms, 1],
  ['publish call on node 0, ms', r => r.median_publish_ms, 2],
  ['CPU of all nodes per message, ms', r => r.cpu_ms_per_message, 1],
  ['connections per node', r => r.mean_connections, 1],
  ['gossip mesh peers per node', r => r.mean_mesh_peers, 1],
  ['setup (start + mesh formed), s', r => r.setup_s, 1]
]

// MESH first, as the ratios are to it; the rest in the order given.
const labels = [...groups.keys()].sort((a, b) => (b === 'mesh') - (a === 'mesh'))
const first = labels[0]
const runs = labels.map(l => groups.get(l).length)
const any = groups.get(first)[0]
console.log(`Propagation across ${any.nodes} processes on 127.0.0.1, ${any.messages} messages of about ${any.message_bytes} B, one at a time; each figure is the median over runs (${labels.map((l, i) => `${l}: ${runs[i]}`).join(', ')}) of the run's median over messages.\n`)
const header = ['measure', ...labels.flatMap((l, i) => i === 0 ? [l] : [l, `${l} / ${first}`])]
console.log(`| ${header.join(' | ')} |`)
console.log(`|---|${header.slice(1).map(() => '---:').join('|')}|`)
for (const [name, get, digits, unit = ''] of rows) {
  const values = labels.map(l => median(groups.get(l).map(get)))
  const cells = [name]
  values.forEach((v, i) => {
    cells.push(v == null ? '-' : `${v.toFixed(digits)}${unit}`)
    if (i > 0) cells.push(v == null || values[0] == null || values[0] === 0 ? '-' : `${(v / values[0]).toFixed(2)}`)
  })
  console.log(`| ${cells.join(' | ')} |`)
}
