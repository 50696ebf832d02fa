/** A small client of the node's local HTTP API over the global `fetch`. */

import {
  MeshError,
  MeshTimeoutError,
  NodeNotFoundError,
  ProtocolError,
  errorFromResponse,
  type RequestContext,
} from "./errors.js";

/** Query parameters; `undefined` values are left out. */
export type Query = Record<string, string | number | undefined>;

/** Where the API is and how to authenticate. */
export interface ApiClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  baseUrl: string;
  /** Bearer token. */
  token: string;
  /** Where the token came from, for error messages. */
  tokenSource: string;
  /** Timeout of one request, in milliseconds. */
  timeoutMs: number;
}

/** Removes a trailing slash from a base URL. */
export function normaliseBaseUrl(url: string): string {
  return url.trim().replace(/\/+$/, "");
}

/** The error for a `fetch` that threw (connection refused, timeout, abort). */
export function fetchFailure(error: unknown, url: string, timeoutMs: number): MeshError {
  if (error instanceof MeshError) return error;
  const name = error instanceof Error ? error.name : "";
  if (name === "TimeoutError") {
    return new MeshTimeoutError(`the MESH node at ${url} did not answer within ${timeoutMs} ms`, { cause: error });
  }
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : "";
  return new NodeNotFoundError(
    `no MESH node answers at ${url}${code ? ` (${code})` : ""}: start one with \`mesh node\`, ` +
      "or call connect() without `api` to let the SDK start one",
    { cause: error },
  );
}

/** Whether a node answers `GET /v1/health` at `baseUrl`. */
export async function isHealthy(baseUrl: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const response = await fetch(`${normaliseBaseUrl(baseUrl)}/v1/health`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** JSON requests to one node, errors mapped to {@link MeshError} subclasses. */
export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string;
  /** Timeout of one request, in milliseconds. */
  readonly timeoutMs: number;
  readonly #tokenSource: string;

  constructor(options: ApiClientOptions) {
    this.baseUrl = normaliseBaseUrl(options.baseUrl);
    this.#token = options.token;
    this.#tokenSource = options.tokenSource;
    this.timeoutMs = options.timeoutMs;
  }

  /** `GET path?query`, parsed as JSON. */
  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>("GET", path, { query });
  }

  /** `POST path` with a JSON body, parsed as JSON. */
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, { body });
  }

  /** One request; throws the mapped {@link MeshError} on failure. */
  async request<T>(
    method: string,
    path: string,
    options: { query?: Query | undefined; body?: unknown; timeoutMs?: number } = {},
  ): Promise<T> {
    const url = this.url(path, options.query);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: "application/json" };
    const init: RequestInit = { method, headers, signal: AbortSignal.timeout(timeoutMs) };
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, init);
      text = await response.text();
    } catch (error) {
      throw fetchFailure(error, this.baseUrl, timeoutMs);
    }
    if (!response.ok) throw errorFromResponse(response.status, text, this.context(method, path));
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new ProtocolError(`${method} ${path} answered HTTP ${response.status} with a body that is not JSON`, {
        status: response.status,
        cause: error,
      });
    }
  }

  /**
   * Opens a streaming GET (Server-Sent Events); the caller reads the body. Throws the mapped
   * error if the node does not answer 2xx.
   */
  async stream(path: string, query: Query, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(this.url(path, query), {
        headers: { ...headers, authorization: `Bearer ${this.#token}`, accept: "text/event-stream" },
        signal,
      });
    } catch (error) {
      throw fetchFailure(error, this.baseUrl, this.timeoutMs);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      throw errorFromResponse(response.status, text, this.context("GET", path));
    }
    return response;
  }

  private url(path: string, query?: Query): string {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  private context(method: string, path: string): RequestContext {
    return { method, path, url: this.baseUrl, tokenSource: this.#tokenSource };
  }
}
