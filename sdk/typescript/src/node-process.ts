/** Starting and stopping a `mesh node` child process. */

import { spawn, type ChildProcess } from "node:child_process";
import { rm } from "node:fs/promises";
import { join } from "node:path";

import { NodeNotFoundError, NodeStartError } from "./errors.js";
import { atExit } from "./exit-hook.js";
import { isHealthy } from "./http.js";
import { API_FILE, readTrimmed } from "./locate.js";

/** How to start a node. */
export interface NodeProcessOptions {
  /** The `mesh` executable. */
  binary: string;
  /** Where `binary` came from, for error messages (e.g. "MESH_BIN"). */
  binarySource: string;
  /** The node's home directory (its identity, token and API address). */
  home: string;
  /** Multiaddrs to listen on; empty for the node's default (a free TCP and QUIC port). */
  listen: readonly string[];
  /** Multiaddrs of peers to dial at start. */
  bootstrapPeers: readonly string[];
  /** Capabilities the node advertises and whose intents it receives. */
  capabilities: readonly string[];
  /** Display name in the agent record. */
  name?: string | undefined;
  /** Discover peers on the local network with mDNS. */
  mdns: boolean;
  /** Where the local API listens (loopback). */
  apiAddress: string;
  /** How long to wait for the API, in milliseconds. */
  startTimeoutMs: number;
  /** Environment of the child. */
  env: Record<string, string | undefined>;
  /** Receives every line the node logs (stderr). */
  onLog?: ((line: string) => void) | undefined;
}

/** Lines of the node's stderr kept for error messages. */
const STDERR_LINES = 40;

/** The command-line arguments of `mesh node` for `options`. */
export function nodeArguments(options: NodeProcessOptions): string[] {
  // The node stops when our end of its stdin pipe closes, so it dies with this process even
  // when this process is killed by a signal.
  const args = ["--home", options.home, "node", "--api", options.apiAddress, "--exit-on-stdin-close"];
  for (const address of options.listen) args.push("--listen", address);
  for (const peer of options.bootstrapPeers) args.push("--bootstrap", peer);
  for (const capability of options.capabilities) args.push("--capability", capability);
  if (options.name !== undefined) args.push("--name", options.name);
  if (!options.mdns) args.push("--no-mdns");
  return args;
}

/** A running `mesh node` started by the SDK. */
export class NodeProcess {
  /** URL of the node's local API. */
  readonly apiUrl: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess, apiUrl: string, exited: Promise<void>) {
    this.#child = child;
    this.apiUrl = apiUrl;
    this.#exited = exited;
  }

  /** Whether the process has exited. */
  get exited(): boolean {
    return this.#child.exitCode !== null || this.#child.signalCode !== null;
  }

  /**
   * Starts the node and resolves once it wrote its API address to its home and answers
   * `/v1/health`. Throws {@link NodeNotFoundError} if the binary does not exist and
   * {@link NodeStartError} if the node exits or is not ready within `startTimeoutMs`.
   */
  static async start(options: NodeProcessOptions): Promise<NodeProcess> {
    const apiFile = join(options.home, API_FILE);
    // No node answers in this home (the caller checked): an api file left there is stale.
    await rm(apiFile, { force: true });
    const child = spawn(options.binary, nodeArguments(options), {
      env: options.env,
      stdio: ["pipe", "ignore", "pipe"],
    });
    // A node left running when this process exits would hold its home: kill it.
    const forget = atExit(() => child.kill("SIGKILL"));
    const stderr: string[] = [];
    let partial = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      const lines = (partial + chunk).split(/\r?\n/);
      partial = lines.pop() ?? "";
      for (const line of lines) {
        stderr.push(line);
        if (stderr.length > STDERR_LINES) stderr.shift();
        options.onLog?.(line);
      }
    });
    let spawnError: NodeJS.ErrnoException | undefined;
    let hasExited = false;
    const exited = new Promise<void>((resolve) => {
      child.once("error", (error: NodeJS.ErrnoException) => {
        spawnError = error;
        forget();
        resolve();
      });
      child.once("close", () => {
        hasExited = true;
        forget();
        resolve();
      });
    });
    const tail = (): string[] => (partial ? [...stderr, partial] : [...stderr]);
    const deadline = Date.now() + options.startTimeoutMs;
    for (;;) {
      if (spawnError) throw startFailure(spawnError, options);
      if (hasExited) {
        const how = child.signalCode ? `was killed by ${child.signalCode}` : `exited with code ${child.exitCode}`;
        throw new NodeStartError(withTail(`the mesh node ${how} before its API was ready`, tail()), tail());
      }
      const url = await readTrimmed(apiFile).catch(() => undefined);
      if (url !== undefined && (await isHealthy(url, 1000))) {
        // The node alone must not keep this process alive: an unclosed network is killed at exit.
        child.unref();
        (child.stderr as { unref?: () => void } | null)?.unref?.();
        return new NodeProcess(child, url, exited);
      }
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        await exited;
        throw new NodeStartError(
          withTail(
            `the mesh node started in ${options.home} did not serve its API within ${options.startTimeoutMs} ms ` +
              "(raise `startTimeoutMs` on a slow machine)",
            tail(),
          ),
          tail(),
        );
      }
      await Promise.race([exited, delay(50)]);
    }
  }

  /** Sends SIGTERM, then SIGKILL if the node has not exited after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (this.exited) return this.#exited;
    this.#child.kill("SIGTERM");
    const stopped = await Promise.race([this.#exited.then(() => true), delay(graceMs).then(() => false)]);
    if (!stopped) {
      this.#child.kill("SIGKILL");
      await this.#exited;
    }
  }
}

function startFailure(error: NodeJS.ErrnoException, options: NodeProcessOptions): Error {
  if (error.code === "ENOENT") {
    return new NodeNotFoundError(
      `no MESH node to attach to, and the mesh binary ${JSON.stringify(options.binary)} (${options.binarySource}) ` +
        "was not found: build it with `cargo build -p mesh-cli` and set MESH_BIN or the `meshBinary` option " +
        "(or put `mesh` on PATH), or attach to a running node with the `api` option or MESH_API",
      { cause: error },
    );
  }
  return new NodeStartError(`cannot run ${options.binary} (${options.binarySource}): ${error.message}`, [], {
    cause: error,
  });
}

function withTail(message: string, lines: readonly string[]): string {
  const shown = lines.filter((line) => line.trim() !== "").slice(-10);
  return shown.length === 0 ? message : `${message}; its last output:\n${shown.map((l) => `  ${l}`).join("\n")}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
