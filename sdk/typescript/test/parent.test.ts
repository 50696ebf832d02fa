// A node the SDK starts dies with the program that started it, even when that program is
// killed by a signal and cannot call close().

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";

import { MESH_BIN, NEEDS_MESH, PACKAGE_ROOT, eventually, isolatedEnv } from "./helpers/mesh.js";

test("a node started by a program killed with SIGKILL stops too", { skip: NEEDS_MESH }, async () => {
  const home = await mkdtemp(join(tmpdir(), "mesh-sdk-parent-"));
  const sdk = pathToFileURL(join(PACKAGE_ROOT, "dist/src/index.js")).href;
  const script = `
    import { MeshNetwork } from ${JSON.stringify(sdk)};
    const network = new MeshNetwork({
      home: ${JSON.stringify(home)},
      listen: ["/ip4/127.0.0.1/tcp/0"],
      mdns: false,
      meshBinary: ${JSON.stringify(MESH_BIN)},
    });
    await network.connect();
    console.log("ready");
    setInterval(() => {}, 1000);
  `;
  const program = spawn(process.execPath, ["--input-type=module", "-e", script], {
    env: isolatedEnv(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      program.stdout?.setEncoding("utf8");
      program.stdout?.on("data", (chunk: string) => {
        if (chunk.includes("ready")) resolve();
      });
      program.on("exit", (code) => reject(new Error(`the program exited early (${String(code)})`)));
    });
    const api = (await readFile(join(home, "api"), "utf8")).trim();
    const health = await fetch(`${api}/v1/health`);
    assert.equal(health.status, 200);

    program.kill("SIGKILL");
    await eventually(
      "the orphaned node to stop",
      async () => {
        try {
          await fetch(`${api}/v1/health`);
          return undefined;
        } catch {
          return true;
        }
      },
      15_000,
    );
  } finally {
    program.kill("SIGKILL");
    await rm(home, { recursive: true, force: true });
  }
});
