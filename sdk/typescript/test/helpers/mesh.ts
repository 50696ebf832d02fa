/**
 * Test helpers: locating the `mesh` binary, running plain `mesh node` processes on loopback
 * with temporary homes (always cleaned up), and polling.
 */

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The package directory (sdk/typescript); compiled helpers live in dist/test/helpers. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** The mesh binary: $MESH_BIN, else the workspace's target/debug/mesh; undefined if missing. */
export const MESH_BIN: string | undefined = (() => {
  const candidate = process.env.MESH_BIN || resolve(PACKAGE_ROOT, "../../target/debug/mesh");
  return existsSync(candidate) ? candidate : undefined;
})();

/**
 * Why tests that need real nodes are skipped, or `false` when they run. In CI (`CI` set) they
 * always run, so a missing binary fails them instead of skipping them.
 */
export const NEEDS_MESH: string | false =
  MESH_BIN || process.env.CI
    ? false
    : "mesh binary not found: run `cargo build -p mesh-cli` at the repository root or set MESH_BIN";

/** Options that keep an SDK-started node on loopback, without mDNS, and ignore MESH_* variables. */
export function localNodeOptions(): {
  listen: string[];
  mdns: boolean;
  meshBinary: string;
  env: Record<string, string | undefined>;
} {
  return { listen: ["/ip4/127.0.0.1/tcp/0"], mdns: false, meshBinary: requireMesh(), env: isolatedEnv() };
}

/** `process.env` without the MESH_* variables that would make the SDK attach elsewhere. */
export function isolatedEnv(): Record<string, string | undefined> {
  return { ...process.env, MESH_API: undefined, MESH_TOKEN: undefined, MESH_HOME: undefined, MESH_BIN: undefined };
}

function requireMesh(): string {
  if (!MESH_BIN) throw new Error(NEEDS_MESH || "mesh binary missing");
  return MESH_BIN;
}

/** A plain `mesh node` process, as a Rust agent or bootstrap peer. */
export interface RustNode {
  home: string;
  api: string;
  token: string;
  peerId: string;
  /** Its TCP listen address, ending in /p2p/<peer id>. */
  address: string;
  /** Runs another `mesh` command against this node's home. */
  cli(args: string[]): { status: number | null; stdout: string; stderr: string };
  stop(): Promise<void>;
}

const running = new Map<ChildProcess, string>();
process.once("exit", () => {
  for (const [child, home] of running) {
    child.kill("SIGKILL");
    rmSync(home, { recursive: true, force: true });
  }
});
// A test process stopped by a signal exits normally instead, so the exit hooks above and the
// SDK's own stop every node it started.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => process.exit(130));
}

/** Starts `mesh node` in a fresh home and waits until it serves its API and listens. */
export async function startRustNode(
  options: { capabilities?: string[]; bootstrap?: string[]; name?: string } = {},
): Promise<RustNode> {
  const mesh = requireMesh();
  const home = await mkdtemp(join(tmpdir(), "mesh-sdk-test-"));
  const args = ["--home", home, "node", "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0", "--no-mdns"];
  for (const c of options.capabilities ?? []) args.push("--capability", c);
  for (const b of options.bootstrap ?? []) args.push("--bootstrap", b);
  if (options.name) args.push("--name", options.name);
  const child = spawn(mesh, args, { stdio: ["ignore", "ignore", "pipe"], env: isolatedEnv() });
  running.set(child, home);
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-8000);
  });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(child);
    await rm(home, { recursive: true, force: true });
  };
  try {
    const api = await eventually(
      "the Rust node's API",
      async () => {
        if (child.exitCode !== null) throw new Error(`mesh node exited early:\n${stderr}`);
        const url = (await readFile(join(home, "api"), "utf8").catch(() => "")).trim();
        if (!url) return undefined;
        const ok = await fetch(`${url}/v1/health`).then((r) => r.ok, () => false);
        return ok ? url : undefined;
      },
      30_000,
    );
    const token = (await readFile(join(home, "api-token"), "utf8")).trim();
    const info = await eventually(
      "the Rust node's listen address",
      async () => {
        const response = await fetch(`${api}/v1/info`, { headers: { authorization: `Bearer ${token}` } });
        const body = (await response.json()) as { peer_id: string; listen_addrs: string[] };
        const address = body.listen_addrs.find((a) => a.includes("/tcp/"));
        return address ? { peerId: body.peer_id, address } : undefined;
      },
      30_000,
    );
    const address = info.address.includes("/p2p/") ? info.address : `${info.address}/p2p/${info.peerId}`;
    const cli = (extra: string[]): { status: number | null; stdout: string; stderr: string } => {
      const out = spawnSync(mesh, ["--home", home, ...extra], { encoding: "utf8", env: isolatedEnv() });
      return { status: out.status, stdout: out.stdout, stderr: out.stderr };
    };
    return { home, api, token, peerId: info.peerId, address, cli, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Calls `attempt` every `intervalMs` until it returns a value; fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  attempt: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
      if (error instanceof Error && error.message.startsWith("mesh node exited early")) throw error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Whether a process with this id is alive. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
