// connect() without a real node: the errors a user meets before the network is reachable.

import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import {
  InvalidCapabilityError,
  InvalidInputError,
  MeshNetwork,
  NodeNotFoundError,
  NodeStartError,
  NotConnectedError,
  TokenMissingError,
} from "@mesh/sdk";

import { eventually, isAlive } from "./helpers/mesh.js";

const noMeshEnv = { PATH: "/nonexistent" };

describe("MeshNetwork before it is connected", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mesh-sdk-connect-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("a bad capability or bootstrap address is refused by the constructor", () => {
    assert.throws(() => new MeshNetwork({ capabilities: ["Text Generation"] }), (error: unknown) => {
      assert.ok(error instanceof InvalidCapabilityError);
      assert.equal(error.code, "invalid_capability");
      assert.match(error.message, /\[a-z0-9\]\[a-z0-9._-\]\{0,63\}/);
      return true;
    });
    assert.throws(() => new MeshNetwork({ bootstrapPeers: ["bootstrap.mesh.ai:4001"] }), InvalidInputError);
  });

  test("calls before connect() say to connect first", async () => {
    const network = new MeshNetwork({ env: noMeshEnv });
    assert.equal(network.connected, false);
    assert.throws(() => network.peerId, NotConnectedError);
    assert.throws(() => network.subscribeToIntents(() => undefined), NotConnectedError);
    await assert.rejects(network.publishIntent({ title: "t", capabilities: ["a"] }), /await network\.connect\(\)/);
    await assert.rejects(network.discoverAgents({ capabilities: ["a"] }), NotConnectedError);
    await network.close();
  });

  test("no node and no mesh binary on PATH is NodeNotFoundError saying what to do", async () => {
    const network = new MeshNetwork({ env: noMeshEnv });
    await assert.rejects(network.connect(), (error: unknown) => {
      assert.ok(error instanceof NodeNotFoundError, String(error));
      assert.equal(error.code, "node_not_found");
      assert.match(error.message, /mesh binary "mesh" \(PATH\) was not found/);
      assert.match(error.message, /MESH_BIN/);
      assert.match(error.message, /MESH_API/);
      return true;
    });
    assert.equal(network.connected, false);
  });

  test("a meshBinary that does not exist is named in the error", async () => {
    const network = new MeshNetwork({ env: noMeshEnv, meshBinary: join(dir, "no-such-mesh") });
    await assert.rejects(network.connect(), /no-such-mesh.*the `meshBinary` option/);
  });

  test("a node that fails to start gives NodeStartError with its last stderr lines", async () => {
    const fake = join(dir, "failing-mesh");
    await writeFile(fake, '#!/bin/sh\necho "starting" >&2\necho "error: cannot bind 127.0.0.1:1: address in use" >&2\nexit 3\n');
    await chmod(fake, 0o755);
    const network = new MeshNetwork({ env: noMeshEnv, meshBinary: fake });
    await assert.rejects(network.connect(), (error: unknown) => {
      assert.ok(error instanceof NodeStartError, String(error));
      assert.match(error.message, /exited with code 3/);
      assert.match(error.message, /cannot bind 127\.0\.0\.1:1/);
      assert.deepEqual(error.stderr.slice(-2), ["starting", "error: cannot bind 127.0.0.1:1: address in use"]);
      return true;
    });
  });

  test("a node that never serves its API is killed after startTimeoutMs", async () => {
    const fake = join(dir, "silent-mesh");
    const pidFile = join(dir, "silent.pid");
    await writeFile(fake, `#!/bin/sh\necho $$ > "${pidFile}"\nexec "${process.execPath}" -e "setTimeout(() => {}, 60000)"\n`);
    await chmod(fake, 0o755);
    const network = new MeshNetwork({ env: noMeshEnv, meshBinary: fake, startTimeoutMs: 500 });
    await assert.rejects(network.connect(), (error: unknown) => {
      assert.ok(error instanceof NodeStartError);
      assert.match(error.message, /did not serve its API within 500 ms/);
      return true;
    });
    const pid = Number((await readFile(pidFile, "utf8")).trim());
    await eventually("the silent node to be gone", async () => (isAlive(pid) ? undefined : true), 10_000);
  });

  test("an api URL where nothing answers is NodeNotFoundError", async () => {
    const network = new MeshNetwork({ env: {}, api: "http://127.0.0.1:9", token: "t" });
    await assert.rejects(network.connect(), (error: unknown) => {
      assert.ok(error instanceof NodeNotFoundError);
      assert.match(error.message, /no MESH node answers at http:\/\/127\.0\.0\.1:9 \(the `api` option\)/);
      return true;
    });
  });

  test("a node found without any token is TokenMissingError", async () => {
    const server: Server = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end('{"status":"ok"}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const network = new MeshNetwork({ env: {}, api });
      await assert.rejects(network.connect(), (error: unknown) => {
        assert.ok(error instanceof TokenMissingError);
        assert.match(error.message, /pass `token`, set MESH_TOKEN/);
        return true;
      });
    } finally {
      server.close();
    }
  });
});
