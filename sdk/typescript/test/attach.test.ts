// Attaching to a node that already runs, and the errors a real node gives.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import {
  InvalidCapabilityError,
  InvalidInputError,
  InvalidPeerIdError,
  MeshNetwork,
  NodeStartError,
  TokenRefusedError,
  UnreachableError,
} from "@mesh/sdk";

import { NEEDS_MESH, isolatedEnv, localNodeOptions, startRustNode, type RustNode } from "./helpers/mesh.js";

describe("attaching to a running node", { skip: NEEDS_MESH }, () => {
  let rust: RustNode;
  before(async () => {
    rust = await startRustNode({ capabilities: ["text-generation"] });
  });
  after(() => rust?.stop());

  async function attached(options: ConstructorParameters<typeof MeshNetwork>[0]): Promise<MeshNetwork> {
    const network = new MeshNetwork(options);
    await network.connect();
    assert.equal(network.startedNode, false);
    assert.equal(network.peerId, rust.peerId);
    return network;
  }

  test("with `api` and `token`; close() leaves the node running", async () => {
    const network = await attached({ env: isolatedEnv(), api: rust.api, token: rust.token });
    assert.equal(network.apiUrl, rust.api);
    const info = await network.info();
    assert.deepEqual(info.capabilities, ["text-generation"]);
    await network.close();
    const health = await fetch(`${rust.api}/v1/health`);
    assert.equal(health.status, 200);
  });

  test("with `api` and the node's `home` for the token", async () => {
    const network = await attached({ env: isolatedEnv(), api: `${rust.api}/`, home: rust.home });
    await network.close();
  });

  test("with MESH_API and MESH_TOKEN", async () => {
    const network = await attached({ env: { ...isolatedEnv(), MESH_API: rust.api, MESH_TOKEN: rust.token } });
    await network.close();
  });

  test("with the `home` of a running node, or MESH_HOME", async () => {
    const byOption = await attached({ env: isolatedEnv(), home: rust.home });
    await byOption.close();
    const byEnv = await attached({ env: { ...isolatedEnv(), MESH_HOME: rust.home } });
    assert.equal(byEnv.home, undefined);
    await byEnv.close();
    assert.ok(existsSync(rust.home), "an attached network never removes the node's home");
  });

  test("a wrong token is TokenRefusedError at connect()", async () => {
    const network = new MeshNetwork({ env: isolatedEnv(), api: rust.api, token: "wrong" });
    await assert.rejects(network.connect(), (error: unknown) => {
      assert.ok(error instanceof TokenRefusedError);
      assert.equal(error.code, "token_refused");
      assert.equal(error.status, 401);
      assert.match(error.message, /the `token` option/);
      return true;
    });
    assert.equal(network.connected, false);
  });

  test("invalid capabilities and inputs are typed errors from the node", async () => {
    const network = await attached({ env: isolatedEnv(), api: rust.api, token: rust.token });
    try {
      await assert.rejects(network.discoverAgents({ capabilities: ["Bad Name"] }), (error: unknown) => {
        assert.ok(error instanceof InvalidCapabilityError);
        assert.equal(error.apiCode, "invalid_capability");
        assert.equal(error.status, 400);
        assert.match(error.message, /\[a-z0-9\]\[a-z0-9._-\]\{0,63\}/);
        return true;
      });
      await assert.rejects(network.publishIntent({ title: "t", capabilities: ["NOPE"] }), InvalidCapabilityError);
      assert.throws(() => network.subscribeToIntents(() => undefined, { capabilities: ["Bad Name"] }), InvalidCapabilityError);
      await assert.rejects(network.discoverAgents({ capabilities: ["a"], minReputation: 2 }), (error: unknown) => {
        assert.ok(error instanceof InvalidInputError);
        assert.equal(error.apiCode, "invalid_min_reputation");
        return true;
      });
      await assert.rejects(network.publishIntent({ title: "t", capabilities: ["a"], budget: "lots" }), InvalidInputError);
      await assert.rejects(
        network.publishIntent({ title: "t", capabilities: ["a"], payload: { data: new Uint8Array(48 * 1024 + 1) } }),
        InvalidInputError,
      );
    } finally {
      await network.close();
    }
  });

  test("reputation() is the node's typed view of any peer; a malformed id is InvalidPeerIdError", async () => {
    const network = await attached({ env: isolatedEnv(), api: rust.api, token: rust.token });
    try {
      const stranger = "12D3KooWENxizvpWsNHzJrvkALE3swuVmXUuHmmSFvcjdbzcEdxv";
      const view = await network.reputation(stranger);
      assert.equal(view.peer_id, stranger);
      assert.equal(view.reputation, 0.5);
      assert.equal(view.receipts_score, 0.5);
      assert.equal(view.local_score, 0.5);
      assert.equal(view.global_trust, 0);
      assert.equal(view.positive_evidence, 0);
      assert.equal(view.negative_evidence, 0);
      assert.equal(view.known, false);
      assert.equal(typeof view.computed_at_ms, "number");
      // The CLI prints the same view.
      const out = rust.cli(["reputation", stranger, "--json"]);
      assert.equal(out.status, 0, out.stderr);
      assert.deepEqual(JSON.parse(out.stdout), view);

      // Base58 but not a peer id: the node refuses it with its stable code.
      await assert.rejects(network.reputation("12D3KooW"), (error: unknown) => {
        assert.ok(error instanceof InvalidPeerIdError, String(error));
        assert.equal(error.code, "invalid_peer_id");
        assert.equal(error.status, 400);
        assert.equal(error.apiCode, "invalid_peer_id");
        assert.match(error.message, /"12D3KooW" is not a peer id/);
        assert.match(error.message, /mesh peers/);
        return true;
      });
      // Not even base58 (or not a string): refused before anything is sent.
      for (const bad of ["", "not-a-peer-id", "../info", 42 as unknown as string]) {
        await assert.rejects(network.reputation(bad), (error: unknown) => {
          assert.ok(error instanceof InvalidPeerIdError, String(error));
          assert.equal(error.code, "invalid_peer_id");
          assert.equal(error.status, undefined);
          assert.match(error.message, /12D3KooW/);
          return true;
        });
      }
    } finally {
      await network.close();
    }
  });
});

describe("starting a node that cannot join", { skip: NEEDS_MESH }, () => {
  test("an address the node cannot parse is NodeStartError with the node's own message", async () => {
    const network = new MeshNetwork({ ...localNodeOptions(), bootstrapPeers: ["/ip4/999.0.0.1/tcp/1"] });
    await assert.rejects(network.connect(), (error: unknown) => {
      assert.ok(error instanceof NodeStartError, String(error));
      assert.match(error.message, /\/ip4\/127\.0\.0\.1\/tcp\/7700/);
      return true;
    });
  });

  test("bootstrap peers that never answer are UnreachableError, and nothing is left behind", async () => {
    const home = await mkdtemp(join(tmpdir(), "mesh-sdk-unreachable-"));
    try {
      const nobody = "/ip4/127.0.0.1/tcp/9/p2p/12D3KooWENxizvpWsNHzJrvkALE3swuVmXUuHmmSFvcjdbzcEdxv";
      const network = new MeshNetwork({ ...localNodeOptions(), home, bootstrapPeers: [nobody], peerTimeoutMs: 1500 });
      await assert.rejects(network.connect(), (error: unknown) => {
        assert.ok(error instanceof UnreachableError, String(error));
        assert.match(error.message, /none of the bootstrap peers answered within 1500 ms/);
        return true;
      });
      assert.equal(network.connected, false);
      assert.ok(!(await readdir(home)).includes("api"), "the node stopped and removed its api file");
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
