/**
 * Server-Sent Events over a `fetch` body: a parser that follows the WHATWG event-stream rules
 * and a reader that reconnects with exponential backoff, resuming with `Last-Event-ID`.
 */

import { MeshError, MeshTimeoutError, ProtocolError } from "./errors.js";

/** One dispatched event. */
export interface SseEvent {
  /** The `event:` field, `"message"` when absent. */
  type: string;
  /** The `data:` lines, joined with `\n`. */
  data: string;
  /** The last event id seen on the stream, if any. */
  id: string | undefined;
}

/** Longest line or event accepted, in characters. */
export const MAX_EVENT_CHARS = 1024 * 1024;

/** Feeds decoded text in, takes whole events out. Lines may end in `\n`, `\r\n` or `\r`. */
export class SseParser {
  /** The last `id:` seen (it carries over to later events, as the standard says). */
  lastEventId: string | undefined;
  /** The last valid `retry:` value, in milliseconds. */
  retryMs: number | undefined;
  #buffer = "";
  #eventType = "";
  #data: string[] = [];
  #dataChars = 0;
  #skipLineFeed = false;
  #started = false;

  /** Parses `chunk` and returns the events it completes. */
  push(chunk: string): SseEvent[] {
    let text = chunk;
    if (this.#skipLineFeed && text.startsWith("\n")) text = text.slice(1);
    if (text.length > 0) this.#skipLineFeed = false;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.startsWith("\uFEFF")) text = text.slice(1);
    }
    const buffer = this.#buffer + text;
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = buffer.slice(start, i);
      if (c === 13) {
        if (i + 1 < buffer.length) {
          if (buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.#skipLineFeed = true;
        }
      }
      start = i + 1;
      const event = this.#line(line);
      if (event) events.push(event);
    }
    this.#buffer = buffer.slice(start);
    if (this.#buffer.length > MAX_EVENT_CHARS) {
      throw new ProtocolError(`event stream line longer than ${MAX_EVENT_CHARS} characters`);
    }
    return events;
  }

  #line(line: string): SseEvent | undefined {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#eventType = value;
        break;
      case "data":
        this.#dataChars += value.length + 1;
        if (this.#dataChars > MAX_EVENT_CHARS) {
          throw new ProtocolError(`event stream event larger than ${MAX_EVENT_CHARS} characters`);
        }
        this.#data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value === "" ? undefined : value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
    return undefined;
  }

  #dispatch(): SseEvent | undefined {
    const data = this.#data;
    const type = this.#eventType || "message";
    this.#data = [];
    this.#dataChars = 0;
    this.#eventType = "";
    if (data.length === 0) return undefined;
    return { type, data: data.join("\n"), id: this.lastEventId };
  }
}

/** Reconnection settings of an {@link EventStream}. */
export interface ReconnectOptions {
  /** First wait before reconnecting, in milliseconds (default 250; a server `retry:` replaces it). */
  initialDelayMs?: number;
  /** Longest wait between attempts, in milliseconds (default 10000). */
  maxDelayMs?: number;
  /**
   * Reconnect when nothing, not even a keep-alive, arrives for this long, in milliseconds
   * (default 45000; the node sends a keep-alive every 15 s).
   */
  idleTimeoutMs?: number;
}

/** What an {@link EventStream} needs. */
export interface EventStreamOptions extends ReconnectOptions {
  /** Opens the stream; `lastEventId` is the id to resume after, if any. Throws a MeshError. */
  open(lastEventId: string | undefined, signal: AbortSignal): Promise<Response>;
  /** Called for every event, in order. */
  onEvent(event: SseEvent): void;
  /** Called on every failure: `willRetry` is false when the stream gives up (a fatal error). */
  onError(error: MeshError, willRetry: boolean): void;
  /** Errors after which reconnecting cannot help (a refused token, a bad filter). */
  isFatal(error: MeshError): boolean;
}

/** A Server-Sent Events connection that stays open until {@link EventStream.close}. */
export class EventStream {
  /** Resolves when the stream is first open; rejects if it fails fatally before that. */
  readonly ready: Promise<void>;
  /** Resolves when the stream has stopped for good (closed, or a fatal error). */
  readonly done: Promise<void>;
  #options: EventStreamOptions;
  #closed = false;
  #controller: AbortController | undefined;
  #wake: (() => void) | undefined;
  #lastEventId: string | undefined;
  #serverRetryMs: number | undefined;
  #resolveReady!: () => void;
  #rejectReady!: (error: MeshError) => void;

  constructor(options: EventStreamOptions) {
    this.#options = options;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // A caller that never awaits `ready` must not see an unhandled rejection.
    this.ready.catch(() => undefined);
    this.done = this.#run();
  }

  /** The id of the last event received, sent as `Last-Event-ID` on reconnect. */
  get lastEventId(): string | undefined {
    return this.#lastEventId;
  }

  /** Whether the stream has been closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Stops the stream; no event is delivered after this returns. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#resolveReady();
    this.#controller?.abort();
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const max = this.#options.maxDelayMs ?? 10_000;
    let delay = this.#firstDelay();
    while (!this.#closed) {
      const controller = new AbortController();
      this.#controller = controller;
      let opened = false;
      try {
        const response = await this.#options.open(this.#lastEventId, controller.signal);
        if (this.#closed) break;
        opened = true;
        this.#resolveReady();
        await this.#consume(response, controller);
        if (this.#closed) break;
        this.#options.onError(new ProtocolError("the node ended the event stream; reconnecting"), true);
      } catch (error) {
        if (this.#closed) break;
        const failure = error instanceof MeshError ? error : new ProtocolError(String(error), { cause: error });
        if (this.#options.isFatal(failure)) {
          this.#closed = true;
          this.#rejectReady(failure);
          this.#options.onError(failure, false);
          break;
        }
        this.#options.onError(failure, true);
      }
      // A connection that opened starts the backoff over.
      if (opened) delay = this.#firstDelay();
      await this.#sleep(delay / 2 + Math.random() * (delay / 2));
      delay = Math.min(delay * 2, max);
    }
  }

  /** The first wait after a failure: the server's `retry:` if it sent one, else the option. */
  #firstDelay(): number {
    return this.#serverRetryMs ?? this.#options.initialDelayMs ?? 250;
  }

  /** Reads events until the body ends. */
  async #consume(response: Response, controller: AbortController): Promise<void> {
    const body = response.body;
    if (!body) throw new ProtocolError("the event stream has no body");
    const idleMs = this.#options.idleTimeoutMs ?? 45_000;
    const parser = new SseParser();
    parser.lastEventId = this.#lastEventId;
    const decoder = new TextDecoder();
    const reader = body.getReader();
    let idle = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        idle = true;
        controller.abort();
      }, idleMs);
    };
    try {
      arm();
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.#closed) break;
        arm();
        const events = parser.push(decoder.decode(value, { stream: true }));
        if (parser.retryMs !== undefined) this.#serverRetryMs = parser.retryMs;
        for (const event of events) {
          if (this.#closed) break;
          if (event.id !== undefined) this.#lastEventId = event.id;
          this.#options.onEvent(event);
        }
      }
    } catch (error) {
      if (idle) throw new MeshTimeoutError(`no data on the event stream for ${idleMs} ms; reconnecting`);
      throw error;
    } finally {
      clearTimeout(timer);
      reader.releaseLock();
      if (!controller.signal.aborted) controller.abort();
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closed) return resolve();
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
