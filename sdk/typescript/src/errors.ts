/**
 * Typed errors. Every error the SDK throws is a {@link MeshError} with a stable
 * {@link MeshError.code}; errors that come from the node's API also carry the HTTP status and
 * the node's own error code (`apiCode`, e.g. `refused_by_peer`).
 */

/** Stable codes of {@link MeshError}, one per error class. */
export type MeshErrorCode =
  | "node_not_found"
  | "node_start_failed"
  | "not_connected"
  | "token_missing"
  | "token_refused"
  | "forbidden"
  | "invalid_capability"
  | "invalid_peer_id"
  | "invalid_input"
  | "not_found"
  | "conflict"
  | "unreachable"
  | "busy"
  | "node_stopped"
  | "timeout"
  | "protocol_error"
  | "callback_failed"
  | "server_error";

/** Details attached to a {@link MeshError}. */
export interface MeshErrorDetails {
  /** HTTP status of the API answer, when the error came from the node. */
  status?: number | undefined;
  /** The node's error code, e.g. `invalid_capability` or `refused_by_peer`. */
  apiCode?: string | undefined;
  /** The underlying error. */
  cause?: unknown;
}

/** Base class of every error the SDK throws. */
export class MeshError extends Error {
  /** Stable machine-readable code; switch on it or use `instanceof` on the subclasses. */
  readonly code: MeshErrorCode;
  /** HTTP status of the API answer, when the error came from the node. */
  readonly status: number | undefined;
  /** The node's own error code, when the error came from the node. */
  readonly apiCode: string | undefined;

  constructor(code: MeshErrorCode, message: string, details: MeshErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = details.status;
    this.apiCode = details.apiCode;
  }
}

/** No node answers where one was expected, or none can be started (no `mesh` binary). */
export class NodeNotFoundError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("node_not_found", message, details);
  }
}

/** The `mesh node` process that `connect()` started failed or did not become ready in time. */
export class NodeStartError extends MeshError {
  /** The last lines the node wrote to stderr. */
  readonly stderr: string[];

  constructor(message: string, stderr: string[] = [], details?: MeshErrorDetails) {
    super("node_start_failed", message, details);
    this.stderr = stderr;
  }
}

/** A call needs a connected network: call `await network.connect()` first. */
export class NotConnectedError extends MeshError {
  constructor(message: string) {
    super("not_connected", message);
  }
}

/** A running node was found but no API token for it. */
export class TokenMissingError extends MeshError {
  constructor(message: string) {
    super("token_missing", message);
  }
}

/** The node refused the API token (HTTP 401). */
export class TokenRefusedError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("token_refused", message, details);
  }
}

/** The node may not do this, e.g. cancel or award an intent another node published (403). */
export class ForbiddenError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("forbidden", message, details);
  }
}

/** A capability name is invalid: it must match `[a-z0-9][a-z0-9._-]{0,63}`. */
export class InvalidCapabilityError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("invalid_capability", message, details);
  }
}

/** A peer id is malformed: it is the base58 id `mesh peers` shows, e.g. `12D3KooW...`. */
export class InvalidPeerIdError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("invalid_peer_id", message, details);
  }
}

/** The node refused the input (HTTP 400, 413, 415, 422), or the SDK did before sending it. */
export class InvalidInputError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("invalid_input", message, details);
  }
}

/** Unknown negotiation, an intent that is not open on this node, or an unknown endpoint (404). */
export class NotFoundError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("not_found", message, details);
  }
}

/** The step is illegal in the negotiation's state, or the other party refused it (409). */
export class ConflictError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("conflict", message, details);
  }
}

/** The other party could not be reached (502), or no bootstrap peer answered. */
export class UnreachableError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("unreachable", message, details);
  }
}

/** The node has too much in flight (429): retry shortly. */
export class BusyError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("busy", message, details);
  }
}

/** The node is shutting down or its network has stopped (503). */
export class NodeStoppedError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("node_stopped", message, details);
  }
}

/** A request or a wait took longer than its timeout. */
export class MeshTimeoutError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("timeout", message, details);
  }
}

/** The node answered something the SDK cannot read (not JSON, or an oversized event). */
export class ProtocolError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("protocol_error", message, details);
  }
}

/** A subscription callback threw or rejected; `cause` holds what it threw. The stream goes on. */
export class CallbackError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("callback_failed", message, details);
  }
}

/** The node failed internally (HTTP 500 or another unexpected status). */
export class ServerError extends MeshError {
  constructor(message: string, details?: MeshErrorDetails) {
    super("server_error", message, details);
  }
}

/** What the request was, for error messages. */
export interface RequestContext {
  method: string;
  path: string;
  url: string;
  /** Where the token came from, e.g. `/home/me/.local/share/mesh/api-token`. */
  tokenSource: string;
}

/** Reads `{"error": {"code", "message"}}`; `undefined` for any other body. */
export function parseErrorBody(text: string): { code: string; message: string } | undefined {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body !== "object" || body === null || !("error" in body)) return undefined;
    const error: unknown = body.error;
    if (typeof error !== "object" || error === null) return undefined;
    const code = "code" in error ? error.code : undefined;
    const message = "message" in error ? error.message : undefined;
    if (typeof code !== "string" || typeof message !== "string") return undefined;
    return { code, message };
  } catch {
    return undefined;
  }
}

/** Node error codes whose class does not follow from the HTTP status alone. */
const BY_API_CODE: Record<string, (message: string, details: MeshErrorDetails) => MeshError> = {
  invalid_capability: (m, d) => new InvalidCapabilityError(m, d),
  missing_capability: (m, d) => new InvalidCapabilityError(m, d),
  invalid_peer_id: (m, d) => new InvalidPeerIdError(m, d),
  unreachable: (m, d) => new UnreachableError(m, d),
  busy: (m, d) => new BusyError(m, d),
  stopped: (m, d) => new NodeStoppedError(m, d),
};

/**
 * The error for a non-2xx answer of the node's API: the node's JSON error body when there is
 * one (its message already says what to do), else the raw text with the endpoint.
 */
export function errorFromResponse(status: number, bodyText: string, context: RequestContext): MeshError {
  const parsed = parseErrorBody(bodyText);
  const apiCode = parsed?.code;
  const details: MeshErrorDetails = { status, apiCode };
  const where = `${context.method} ${context.path}`;
  if (status === 401) {
    return new TokenRefusedError(
      `the MESH node at ${context.url} refused the API token from ${context.tokenSource}: ` +
        "use the token in that node's $MESH_HOME/api-token (pass `token`, set MESH_TOKEN, or pass its `home`)",
      details,
    );
  }
  const message = parsed
    ? parsed.message
    : `${where} answered HTTP ${status}: ${bodyText.trim().slice(0, 500) || "(no body)"}; see ${context.url}/openapi.json`;
  const byCode = apiCode === undefined ? undefined : BY_API_CODE[apiCode];
  if (byCode) return byCode(message, details);
  switch (status) {
    case 400:
    case 413:
    case 415:
    case 422:
      return new InvalidInputError(message, details);
    case 403:
      return new ForbiddenError(message, details);
    case 404:
      return new NotFoundError(message, details);
    case 409:
      return new ConflictError(message, details);
    case 429:
      return new BusyError(message, details);
    case 502:
    case 504:
      return new UnreachableError(message, details);
    case 503:
      return new NodeStoppedError(message, details);
    default:
      return new ServerError(`${where} failed: ${message}`, details);
  }
}
