/** Subscriptions to the node's Server-Sent Event streams, delivered to a callback. */

import { CallbackError, MeshError, ProtocolError } from "./errors.js";
import type { ApiClient, Query } from "./http.js";
import { EventStream, type ReconnectOptions } from "./sse.js";

/** Options of a subscription. */
export interface SubscribeOptions {
  /**
   * Called when the stream fails: `willRetry` is true while the SDK reconnects, false when it
   * gave up (a refused token, an invalid capability). Also receives errors thrown by the callback.
   */
  onError?: (error: MeshError, willRetry: boolean) => void;
  /** Reconnection settings. */
  reconnect?: ReconnectOptions;
}

/**
 * Stops a subscription when called. `ready` resolves once the node streams the events (await
 * it before relying on an event caused right after) and rejects if the subscription fails for
 * good before that.
 */
export interface Subscription {
  (): void;
  /** Resolves once the stream is open. */
  readonly ready: Promise<void>;
}

/** What to subscribe to. */
export interface StreamTarget<T> {
  client: ApiClient;
  path: string;
  query: Query;
  /** The SSE `event:` type carrying `T` as JSON; other types are ignored. */
  eventType: string;
  callback: (value: T) => void | Promise<void>;
  options: SubscribeOptions;
  /** Called once the subscription has stopped for good, to forget it. */
  onStop: (stream: EventStream) => void;
}

/** Errors after which reconnecting cannot help. */
function isFatal(error: MeshError): boolean {
  return ["token_refused", "forbidden", "invalid_capability", "invalid_input", "not_found"].includes(error.code);
}

/** Opens the stream and returns its {@link EventStream} and the {@link Subscription} handle. */
export function subscribe<T>(target: StreamTarget<T>): { stream: EventStream; subscription: Subscription } {
  const { client, options } = target;
  const report = (error: MeshError, willRetry: boolean): void => options.onError?.(error, willRetry);
  const callbackFailed = (error: unknown): void =>
    report(
      error instanceof MeshError
        ? error
        : new CallbackError(`the ${target.eventType} callback threw: ${String(error)}`, { cause: error }),
      true,
    );
  const stream: EventStream = new EventStream({
    ...options.reconnect,
    open: (lastEventId, signal) =>
      client.stream(target.path, target.query, lastEventId === undefined ? {} : { "last-event-id": lastEventId }, signal),
    onEvent: (event) => {
      if (event.type !== target.eventType) return;
      let value: T;
      try {
        value = JSON.parse(event.data) as T;
      } catch (error) {
        report(new ProtocolError(`a ${target.eventType} event is not JSON: ${String(error)}`, { cause: error }), true);
        return;
      }
      try {
        Promise.resolve(target.callback(value)).catch(callbackFailed);
      } catch (error) {
        callbackFailed(error);
      }
    },
    onError: (error, willRetry) => {
      if (!willRetry) target.onStop(stream);
      report(error, willRetry);
    },
    isFatal,
  });
  const unsubscribe = (): void => {
    stream.close();
    target.onStop(stream);
  };
  return { stream, subscription: Object.assign(unsubscribe, { ready: stream.ready }) };
}
