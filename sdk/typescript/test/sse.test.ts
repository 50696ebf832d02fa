import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";

import { CallbackError, MeshError, ProtocolError, TokenRefusedError } from "../src/errors.js";
import { ApiClient } from "../src/http.js";
import { EventStream, SseParser, type SseEvent } from "../src/sse.js";
import { subscribe } from "../src/subscription.js";

describe("SseParser", () => {
  test("parses events split anywhere across chunks", () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push("event: intent\nid: ab"), []);
    assert.deepEqual(parser.push('c\ndata: {"x":'), []);
    assert.deepEqual(parser.push("1}\n"), []);
    assert.deepEqual(parser.push("\n: keep-alive\n\n"), [{ type: "intent", data: '{"x":1}', id: "abc" }]);
  });

  test("accepts CRLF, CR and LF line ends, including a CRLF split between chunks", () => {
    const parser = new SseParser();
    const events = [
      ...parser.push("data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r"),
      ...parser.push("\n\r"),
      ...parser.push("\n"),
    ];
    assert.deepEqual(
      events.map((e) => e.data),
      ["a", "b", "c", "d"],
    );
  });

  test("joins multi-line data, defaults the type to message, ignores comments and unknown fields", () => {
    const parser = new SseParser();
    const events = parser.push(":hello\nfoo: bar\ndata: line 1\ndata:line 2\ndata\n\n");
    assert.deepEqual(events, [{ type: "message", data: "line 1\nline 2\n", id: undefined }]);
  });

  test("an event without data is not dispatched, its id is kept", () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push("id: 7\nevent: ping\n\n"), []);
    assert.deepEqual(parser.push("data: x\n\n"), [{ type: "message", data: "x", id: "7" }]);
    assert.equal(parser.lastEventId, "7");
  });

  test("reads retry, ignores ids with NUL and a leading byte-order mark", () => {
    const parser = new SseParser();
    const events = parser.push("\uFEFFretry: 1500\nretry: soon\nid: a\0b\ndata: x\n\n");
    assert.equal(parser.retryMs, 1500);
    assert.deepEqual(events, [{ type: "message", data: "x", id: undefined }]);
  });

  test("refuses an endless line instead of buffering it", () => {
    const parser = new SseParser();
    assert.throws(() => parser.push("data: " + "x".repeat(1024 * 1024 + 1)), ProtocolError);
  });
});

/** A server that sends one event per connection, then closes, and records Last-Event-ID. */
class FlakyServer {
  readonly lastEventIds: Array<string | undefined> = [];
  #server: Server;
  #connections = 0;
  #refuseToken = false;

  constructor() {
    this.#server = createServer((request, response) => this.#handle(request, response));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  refuseToken(): void {
    this.#refuseToken = true;
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    if (this.#refuseToken) {
      response.writeHead(401, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { code: "unauthorized", message: "missing or wrong bearer token" } }));
      return;
    }
    const header = request.headers["last-event-id"];
    this.lastEventIds.push(typeof header === "string" ? header : undefined);
    this.#connections += 1;
    const n = this.#connections;
    response.writeHead(200, { "content-type": "text/event-stream" });
    response.end(`: keep-alive\n\nretry: 10\nevent: intent\nid: id-${n}\ndata: {"n":${n}}\n\n`);
  }
}

describe("EventStream", () => {
  const server = new FlakyServer();
  before(() => server.listen());
  after(() => server.close());

  function stream(onEvent: (e: SseEvent) => void, errors: MeshError[]): EventStream {
    const client = new ApiClient({ baseUrl: server.url, token: "t", tokenSource: "a test", timeoutMs: 5000 });
    return new EventStream({
      initialDelayMs: 10,
      maxDelayMs: 50,
      open: (lastEventId, signal) =>
        client.stream("/v1/intents/stream", {}, lastEventId ? { "last-event-id": lastEventId } : {}, signal),
      onEvent,
      onError: (error) => errors.push(error),
      isFatal: (error) => error.code === "token_refused",
    });
  }

  test("reconnects after the server closes and resumes with Last-Event-ID", async () => {
    const events: SseEvent[] = [];
    const errors: MeshError[] = [];
    let done!: () => void;
    const threeEvents = new Promise<void>((resolve) => (done = resolve));
    const s = stream((e) => {
      events.push(e);
      if (events.length === 3) done();
    }, errors);
    await s.ready;
    await threeEvents;
    s.close();
    await s.done;
    assert.deepEqual(
      events.map((e) => [e.type, e.id, e.data]),
      [
        ["intent", "id-1", '{"n":1}'],
        ["intent", "id-2", '{"n":2}'],
        ["intent", "id-3", '{"n":3}'],
      ],
    );
    assert.deepEqual(server.lastEventIds.slice(0, 3), [undefined, "id-1", "id-2"]);
    assert.ok(errors.length >= 2, "each end of the stream is reported as retryable");
  });

  test("a throwing callback is reported as CallbackError and the subscription goes on", async () => {
    const client = new ApiClient({ baseUrl: server.url, token: "t", tokenSource: "a test", timeoutMs: 5000 });
    const seen: number[] = [];
    const errors: MeshError[] = [];
    let done!: () => void;
    const twoEvents = new Promise<void>((resolve) => (done = resolve));
    const { stream, subscription } = subscribe<{ n: number }>({
      client,
      path: "/v1/intents/stream",
      query: {},
      eventType: "intent",
      callback: (value) => {
        seen.push(value.n);
        if (seen.length === 2) done();
        if (seen.length === 1) throw new Error("boom");
      },
      options: { onError: (error) => errors.push(error), reconnect: { initialDelayMs: 10 } },
      onStop: () => undefined,
    });
    await subscription.ready;
    await twoEvents;
    subscription();
    await stream.done;
    assert.equal(seen.length, 2);
    const failure = errors.find((e) => e instanceof CallbackError);
    assert.ok(failure, errors.map(String).join("; "));
    assert.match(failure.message, /intent callback threw: Error: boom/);
  });

  test("a refused token is fatal: ready rejects and the stream stops", async () => {
    server.refuseToken();
    const errors: MeshError[] = [];
    const s = stream(() => assert.fail("no event expected"), errors);
    await assert.rejects(s.ready, TokenRefusedError);
    await s.done;
    assert.equal(errors.length, 1);
    assert.ok(s.closed);
  });
});
