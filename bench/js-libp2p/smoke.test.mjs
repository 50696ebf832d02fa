// Smoke tests of the js-libp2p baseline: each program completes and delivers everything. They
// check completion and delivery only, never speed. `npm test` runs them.
//
// With MESH_PROPAGATION_EXAMPLE set to a built crates/mesh-cli/examples/propagation_processes
// binary (its `mesh` binary next to it, as cargo lays them out), the MESH counterpart runs too;
// with @chainsafe/libp2p-quic installed (README.md), perf over QUIC too.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const here = (file) => fileURLToPath(new URL(file, import.meta.url))
const TIMEOUT_MS = 180_000
const MIB = 1024 * 1024

async function lastJsonLine (command, args) {
  const { stdout } = await run(command, args, { timeout: TIMEOUT_MS, maxBuffer: 16 * MIB })
  const lines = stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1])
}

const quicInstalled = await import('@chainsafe/libp2p-quic').then(() => true, () => false)

for (const transport of ['tcp', 'quic']) {
  // In CI (scripts/test installs it) a missing package fails the test instead of skipping it.
  const skip = transport === 'quic' && !quicInstalled && !process.env.CI ? '@chainsafe/libp2p-quic is not installed' : false
  test(`perf.mjs moves 1 MiB each way over ${transport}`, { timeout: TIMEOUT_MS, skip }, async () => {
    const r = await lastJsonLine(process.execPath, [here('./perf.mjs'), '--transport', transport, '--bytes', String(MIB)])
    assert.deepEqual(Object.keys(r), ['impl', 'transport', 'upload_bytes', 'download_bytes', 'upload_s', 'download_s', 'upload_gbit_s', 'download_gbit_s'])
    assert.equal(r.impl, 'js-libp2p')
    assert.equal(r.transport, transport)
    assert.equal(r.upload_bytes, MIB)
    assert.equal(r.download_bytes, MIB)
    assert.ok(r.upload_s > 0 && r.download_s > 0)
  })
}

function assertDelivered (r, nodes, messages) {
  assert.equal(r.nodes, nodes)
  assert.equal(r.subscribers, nodes - 1)
  assert.equal(r.per_message.length, messages)
  for (const m of r.per_message) assert.equal(m.delivered, nodes - 1)
  assert.equal(r.delivery_ratio, 1)
  assert.ok(r.median_t100_ms > 0)
}

test('propagation.mjs with 5 processes delivers 3 messages to everyone', { timeout: TIMEOUT_MS }, async () => {
  const r = await lastJsonLine(process.execPath, [here('./propagation.mjs'), '--nodes', '5', '--messages', '3', '--settle-ms', '0', '--json'])
  assert.equal(r.impl, 'js-libp2p')
  assertDelivered(r, 5, 3)
})

test('propagation_processes (MESH) with 5 processes delivers 3 intents to everyone', {
  timeout: TIMEOUT_MS,
  skip: process.env.MESH_PROPAGATION_EXAMPLE ? false : 'MESH_PROPAGATION_EXAMPLE is not set'
}, async () => {
  const r = await lastJsonLine(process.env.MESH_PROPAGATION_EXAMPLE, ['--nodes', '5', '--messages', '3', '--settle-ms', '0', '--json'])
  assert.equal(r.impl, 'mesh')
  assertDelivered(r, 5, 3)
})

test('the js and MESH drivers pick the same bootstrap graph for a seed', async () => {
  const { dialPlan } = await import('./lib.mjs')
  // Reference values of SplitMix64(7), as propagation_processes.rs computes them.
  assert.deepEqual(dialPlan(8, 3, 7), [[], [0], [0, 1], [0, 1, 2], [1, 2, 3], [0, 3, 4], [0, 4, 5], [2, 3, 5]])
})
