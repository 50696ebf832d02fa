import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";

import {
  BusyError,
  ConflictError,
  ForbiddenError,
  InvalidCapabilityError,
  InvalidInputError,
  InvalidPeerIdError,
  MeshError,
  NodeNotFoundError,
  NodeStoppedError,
  NotFoundError,
  ServerError,
  TokenRefusedError,
  UnreachableError,
  errorFromResponse,
  parseErrorBody,
} from "../src/errors.js";
import { ApiClient } from "../src/http.js";

const context = { method: "POST", path: "/v1/intents", url: "http://127.0.0.1:1", tokenSource: "/home/x/api-token" };
const body = (code: string, message = `${code} happened`): string => JSON.stringify({ error: { code, message } });

describe("errorFromResponse", () => {
  const cases: Array<[number, string, new (...args: never[]) => MeshError, string]> = [
    [401, "unauthorized", TokenRefusedError, "token_refused"],
    [400, "invalid_capability", InvalidCapabilityError, "invalid_capability"],
    [400, "missing_capability", InvalidCapabilityError, "invalid_capability"],
    [400, "invalid_intent", InvalidInputError, "invalid_input"],
    [400, "bad_json", InvalidInputError, "invalid_input"],
    [400, "invalid_peer_id", InvalidPeerIdError, "invalid_peer_id"],
    [413, "too_large", InvalidInputError, "invalid_input"],
    [403, "not_publisher", ForbiddenError, "forbidden"],
    [404, "unknown_negotiation", NotFoundError, "not_found"],
    [404, "unknown_intent", NotFoundError, "not_found"],
    [409, "refused_by_peer", ConflictError, "conflict"],
    [409, "illegal_message", ConflictError, "conflict"],
    [409, "cannot_cancel", ConflictError, "conflict"],
    [502, "unreachable", UnreachableError, "unreachable"],
    [429, "busy", BusyError, "busy"],
    [503, "stopped", NodeStoppedError, "node_stopped"],
    [500, "internal", ServerError, "server_error"],
  ];
  for (const [status, apiCode, type, code] of cases) {
    test(`HTTP ${status} ${apiCode} is ${type.name}`, () => {
      const error = errorFromResponse(status, body(apiCode), context);
      assert.ok(error instanceof type, error.constructor.name);
      assert.ok(error instanceof MeshError);
      assert.equal(error.code, code);
      assert.equal(error.status, status);
      assert.equal(error.apiCode, apiCode);
      assert.equal(error.name, type.name);
    });
  }

  test("the node's message is kept; a refused token says where the token came from", () => {
    assert.equal(errorFromResponse(409, body("stale", "wait for its answer"), context).message, "wait for its answer");
    assert.match(errorFromResponse(401, body("unauthorized"), context).message, /\/home\/x\/api-token/);
  });

  test("a body that is not the JSON error shape still gives a typed error with the text", () => {
    const error = errorFromResponse(422, "Failed to deserialize the JSON body: missing field `rating`", context);
    assert.ok(error instanceof InvalidInputError);
    assert.match(error.message, /missing field `rating`/);
    assert.match(error.message, /POST \/v1\/intents/);
    assert.equal(error.apiCode, undefined);
  });

  test("parseErrorBody reads only the documented shape", () => {
    assert.deepEqual(parseErrorBody(body("x", "y")), { code: "x", message: "y" });
    assert.equal(parseErrorBody("{}"), undefined);
    assert.equal(parseErrorBody('{"error": "text"}'), undefined);
    assert.equal(parseErrorBody("not json"), undefined);
  });
});

describe("ApiClient", () => {
  test("a port where nothing listens is NodeNotFoundError with what to do", async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
      });
    });
    const client = new ApiClient({ baseUrl: `http://127.0.0.1:${port}/`, token: "t", tokenSource: "a test", timeoutMs: 5000 });
    await assert.rejects(client.get("/v1/info"), (error: unknown) => {
      assert.ok(error instanceof NodeNotFoundError);
      assert.match(error.message, /ECONNREFUSED/);
      assert.match(error.message, /mesh node/);
      return true;
    });
  });
});
