#!/usr/bin/env node
// Two-node throughput of js-libp2p with the libp2p perf protocol (/perf/1.0.0) on 127.0.0.1.
//
//   node perf.mjs --transport tcp --bytes 104857600
//
// A server node runs in a child process, the client node in this one. Once the client is
// connected (connection setup is not timed), it uploads N bytes (asking for 0 back), then
// downloads N bytes (sending none). Each time runs from opening the perf stream to the end of the
// server's answer, which the server sends only after reading everything sent. Prints one JSON
// line:
//
//   {"impl":"js-libp2p","transport":"tcp","upload_bytes":N,"download_bytes":N,"upload_s":S,
//    "download_s":S,"upload_gbit_s":X,"download_gbit_s":X}
//
// --transport tcp is TCP + Noise + Yamux; --transport quic is QUIC v1 through
// @chainsafe/libp2p-quic, which is installed apart (README.md).

import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, exitWithParent, handlePerf, importQuic, loopbackAddr, nextMessage, parseArgs, runPerf, spawnChild } from './lib.mjs'

const SETUP_TIMEOUT_MS = 30_000

async function serve (transport) {
  const node = await createNode({ transport })
  await handlePerf(node)
  await node.start()
  exitWithParent(() => node.stop())
  process.send({ type: 'listening', addr: loopbackAddr(node) })
}

async function measure ({ transport, bytes }) {
  if (!Number.isInteger(bytes) || bytes < 0) throw new Error('--bytes must be a whole number of bytes')
  if (transport === 'quic') await importQuic()
  const server = spawnChild(fileURLToPath(import.meta.url), ['--serve', '--transport', transport])
  let client
  try {
    const { addr } = await nextMessage(server, m => m.type === 'listening', SETUP_TIMEOUT_MS, 'the perf server to listen')
    client = await createNode({ transport })
    await client.start()
    const peer = multiaddr(addr)
    await client.dial(peer, { signal: AbortSignal.timeout(SETUP_TIMEOUT_MS) })
    const uploadS = await runPerf(client, peer, bytes, 0)
    const downloadS = await runPerf(client, peer, 0, bytes)
    const gbit = (s) => s > 0 ? Math.round(bytes * 8 / s / 1e9 * 1e4) / 1e4 : null
    const round = (s) => Math.round(s * 1e6) / 1e6
    console.log(JSON.stringify({
      impl: 'js-libp2p',
      transport,
      upload_bytes: bytes,
      download_bytes: bytes,
      upload_s: round(uploadS),
      download_s: round(downloadS),
      upload_gbit_s: gbit(uploadS),
      download_gbit_s: gbit(downloadS)
    }))
  } finally {
    await client?.stop()
    server.kill('SIGTERM')
  }
}

const args = parseArgs(process.argv.slice(2), { transport: 'tcp', bytes: 100 * 1024 * 1024, serve: false })
try {
  if (args.serve) await serve(args.transport)
  else await measure(args)
} catch (err) {
  console.error(`perf.mjs: ${err.message}`)
  process.exit(1)
}
