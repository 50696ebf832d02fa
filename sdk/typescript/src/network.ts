/** {@link MeshNetwork}: one agent's connection to the MESH network through a local node. */

import { mkdtemp, rm } from "node:fs/promises";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { checkCapabilities } from "./capability.js";
import {
  InvalidCapabilityError,
  InvalidInputError,
  InvalidPeerIdError,
  MeshError,
  NodeStartError,
  NotConnectedError,
  UnreachableError,
} from "./errors.js";
import { atExit } from "./exit-hook.js";
import { ApiClient, type Query } from "./http.js";
import { TOKEN_FILE, locateNode, readTrimmed, type Attachment } from "./locate.js";
import { NodeProcess } from "./node-process.js";
import { pollUntil, type PollOptions } from "./poll.js";
import {
  toBudget,
  toDeliverRequest,
  toProposalRequest,
  toPublishRequest,
  toReceiptRequest,
  type DeliveryInput,
  type IntentInput,
  type Money,
  type ProposalInput,
  type ReceiptInput,
} from "./requests.js";
import type { EventStream } from "./sse.js";
import { subscribe, type SubscribeOptions, type Subscription } from "./subscription.js";
import type {
  Agent,
  AwardOutcome,
  AwardRequest,
  CancelOutcome,
  Intent,
  IntentSummary,
  NegotiationDetail,
  NegotiationEvent,
  NegotiationSummary,
  NodeInfo,
  OfferRequest,
  Peer,
  Reachability,
  PublishOutcome,
  ReputationView,
  Transcript,
} from "./types.js";

/** Options of {@link MeshNetwork}. Every one is optional. */
export interface MeshNetworkOptions {
  /** Multiaddrs of peers to join through, e.g. `/ip4/203.0.113.7/tcp/7700/p2p/12D3Koo...`. */
  bootstrapPeers?: string[];
  /**
   * Capabilities this agent offers, e.g. `["text-generation"]`: a node the SDK starts
   * advertises them and receives their intents; {@link MeshNetwork.subscribeToIntents}
   * listens to them by default.
   */
  capabilities?: string[];
  /**
   * The node's home directory (its identity). A node already running there is attached to;
   * otherwise the node the SDK starts uses it. Default: a fresh temporary directory, removed
   * by {@link MeshNetwork.close}.
   */
  home?: string;
  /** URL of a running node's API to attach to, e.g. `http://127.0.0.1:7780`. */
  api?: string;
  /** API token of that node (default: `MESH_TOKEN`, else the home's `api-token`). */
  token?: string;
  /** The `mesh` executable used to start a node (default: `MESH_BIN`, else `mesh` on PATH). */
  meshBinary?: string;
  /** Display name the started node advertises. */
  name?: string;
  /** Multiaddrs the started node listens on (default: a free TCP and QUIC port on all interfaces). */
  listen?: string[];
  /** Whether the started node finds peers on the local network with mDNS (default true). */
  mdns?: boolean;
  /** Where the started node's API listens (default `127.0.0.1:0`, a free port). */
  apiAddress?: string;
  /** How long `connect()` waits for a started node's API, in milliseconds (default 30000). */
  startTimeoutMs?: number;
  /** How long `connect()` waits for a first peer when `bootstrapPeers` are given (default 30000). */
  peerTimeoutMs?: number;
  /** Timeout of one API request, in milliseconds (default 60000). */
  requestTimeoutMs?: number;
  /** How long `close()` waits after SIGTERM before SIGKILL, in milliseconds (default 5000). */
  stopGraceMs?: number;
  /** Receives each line the started node logs. */
  onNodeLog?: (line: string) => void;
  /** Environment read for MESH_API, MESH_TOKEN, MESH_HOME and MESH_BIN (default `process.env`). */
  env?: Record<string, string | undefined>;
}

/** What {@link MeshNetwork.discoverAgents} looks for. */
export interface AgentQuery {
  /** Every one of these capabilities (at least one). */
  capabilities: string[];
  /** Lowest local reputation accepted, in [0, 1] (default 0). */
  minReputation?: number;
  /** Most agents returned (default 20, at most 200). */
  limit?: number;
}

/** Options of {@link MeshNetwork.subscribeToIntents}. */
export interface IntentSubscribeOptions extends SubscribeOptions {
  /** Capabilities whose intents to receive (default: the network's `capabilities`). */
  capabilities?: string[];
}

/** Options of {@link MeshNetwork.awardIntent}. */
export interface AwardOptions {
  /** Collect offers this long before choosing, in milliseconds (default 0: the offers already in). */
  windowMs?: number;
  /** Lowest reputation of an eligible agent (default: the intent's own minimum). */
  minReputation?: number;
  /** Counter the chosen offer at this price when it asks more, e.g. `"1.50 USD"`. */
  counterAt?: Money;
  /** How long to wait for the answer to a counter, in milliseconds (default 10000). */
  answerWaitMs?: number;
}

/** Which negotiations {@link MeshNetwork.waitForNegotiation} waits for. */
export interface NegotiationFilter {
  negotiationId?: string;
  intentId?: string;
  /** E.g. `"offered"`, `"agreed"`, `"delivered"`, `"completed"`. */
  state?: string;
  /** `"publisher"` or `"agent"`. */
  role?: string;
}

/** What a peer id is made of: base58 (the node checks the rest). */
const BASE58 = /^[1-9A-HJ-NP-Za-km-z]{1,128}$/;

function matches(summary: NegotiationSummary, filter: NegotiationFilter): boolean {
  return (
    (filter.negotiationId === undefined || summary.negotiation_id === filter.negotiationId.toLowerCase()) &&
    (filter.intentId === undefined || summary.intent_id === filter.intentId.toLowerCase()) &&
    (filter.state === undefined || summary.state === filter.state) &&
    (filter.role === undefined || summary.role === filter.role)
  );
}

interface Connection {
  client: ApiClient;
  home: string | undefined;
  info: NodeInfo;
  node: NodeProcess | undefined;
  tempHome: string | undefined;
  forgetTempHome: (() => void) | undefined;
}

/**
 * One agent on the MESH network. It attaches to a running node (the `api` option, `MESH_API`,
 * or a node running in `home`/`MESH_HOME`) or starts its own `mesh node` with its own identity.
 *
 * ```ts
 * const network = new MeshNetwork({ bootstrapPeers: [BOOT], capabilities: ["text-generation"] });
 * await network.connect();
 * const unsubscribe = network.subscribeToIntents((intent) => console.log(intent.title));
 * await network.publishIntent({ title: "Summarise this PDF", capabilities: ["text-generation"] });
 * const agents = await network.discoverAgents({ capabilities: ["image-generation"], minReputation: 0.8 });
 * unsubscribe();
 * await network.close();
 * ```
 */
export class MeshNetwork {
  readonly #options: MeshNetworkOptions;
  readonly #capabilities: string[];
  readonly #env: Record<string, string | undefined>;
  #connection: Connection | undefined;
  #connecting: Promise<void> | undefined;
  #streams = new Set<EventStream>();

  /** Checks the options; throws {@link InvalidCapabilityError} for a bad capability name. */
  constructor(options: MeshNetworkOptions = {}) {
    this.#options = { ...options };
    this.#capabilities = [...(options.capabilities ?? [])];
    checkCapabilities(this.#capabilities);
    for (const peer of options.bootstrapPeers ?? []) {
      if (typeof peer !== "string" || !peer.startsWith("/")) {
        throw new InvalidInputError(
          `bootstrap peer ${JSON.stringify(peer)} is not a multiaddr: use e.g. /ip4/127.0.0.1/tcp/7700/p2p/12D3Koo...`,
        );
      }
    }
    this.#env = options.env ?? process.env;
  }

  /** Whether {@link connect} has succeeded and {@link close} has not been called since. */
  get connected(): boolean {
    return this.#connection !== undefined;
  }

  /** The peer id of this agent's node. */
  get peerId(): string {
    return this.#connected().info.peer_id;
  }

  /** URL of the node's local API. */
  get apiUrl(): string {
    return this.#connected().client.baseUrl;
  }

  /** The node's home directory, when known (always, for a node this network started). */
  get home(): string | undefined {
    return this.#connected().home;
  }

  /** Whether this network started its own node (rather than attaching to a running one). */
  get startedNode(): boolean {
    return this.#connected().node !== undefined;
  }

  /**
   * Attaches to a running node or starts one, and checks the token. With `bootstrapPeers`, a
   * node it starts must reach one peer within `peerTimeoutMs`. Calling it again while connected
   * does nothing.
   */
  connect(): Promise<void> {
    if (this.#connection) return Promise.resolve();
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<void> {
    const options = this.#options;
    const timeoutMs = options.requestTimeoutMs ?? 60_000;
    const found = await locateNode({ api: options.api, token: options.token, home: options.home, env: this.#env });
    if (found) {
      const client = this.#client(found, timeoutMs);
      const info = await client.get<NodeInfo>("/v1/info");
      this.#connection = {
        client,
        home: options.home,
        info,
        node: undefined,
        tempHome: undefined,
        forgetTempHome: undefined,
      };
      return;
    }
    await this.#start(timeoutMs);
  }

  /** Starts this agent's own node, in `home` or a fresh temporary one. */
  async #start(timeoutMs: number): Promise<void> {
    const options = this.#options;
    const home = options.home ?? (await mkdtemp(join(tmpdir(), "mesh-sdk-")));
    const tempHome = options.home === undefined ? home : undefined;
    const forgetTempHome = tempHome === undefined ? undefined : atExit(() => rmSync(home, { recursive: true, force: true }));
    let node: NodeProcess | undefined;
    try {
      const binary = options.meshBinary ?? (this.#env.MESH_BIN || undefined);
      node = await NodeProcess.start({
        binary: binary ?? "mesh",
        binarySource: options.meshBinary ? "the `meshBinary` option" : binary ? "MESH_BIN" : "PATH",
        home,
        listen: options.listen ?? [],
        bootstrapPeers: options.bootstrapPeers ?? [],
        capabilities: this.#capabilities,
        name: options.name,
        mdns: options.mdns ?? true,
        apiAddress: options.apiAddress ?? "127.0.0.1:0",
        startTimeoutMs: options.startTimeoutMs ?? 30_000,
        env: { ...this.#env, MESH_HOME: undefined },
        onLog: options.onNodeLog,
      });
      const tokenFile = join(home, TOKEN_FILE);
      const token = await readTrimmed(tokenFile);
      if (token === undefined) {
        throw new NodeStartError(`the node started in ${home} wrote no ${tokenFile}: check the directory's permissions`);
      }
      const client = this.#client({ url: node.apiUrl, token, tokenSource: tokenFile }, timeoutMs);
      let info = await client.get<NodeInfo>("/v1/info");
      if ((options.bootstrapPeers ?? []).length > 0) info = await this.#awaitPeer(client, info);
      this.#connection = { client, home, info, node, tempHome, forgetTempHome };
    } catch (error) {
      await node?.stop(options.stopGraceMs ?? 5_000);
      if (tempHome !== undefined) {
        forgetTempHome?.();
        await rm(tempHome, { recursive: true, force: true });
      }
      throw error;
    }
  }

  #client(found: Attachment, timeoutMs: number): ApiClient {
    return new ApiClient({ baseUrl: found.url, token: found.token, tokenSource: found.tokenSource, timeoutMs });
  }

  async #awaitPeer(client: ApiClient, first: NodeInfo): Promise<NodeInfo> {
    if (first.connected_peers > 0) return first;
    const timeoutMs = this.#options.peerTimeoutMs ?? 30_000;
    try {
      return await pollUntil(
        "a first peer",
        async () => {
          const info = await client.get<NodeInfo>("/v1/info");
          return info.connected_peers > 0 ? info : undefined;
        },
        { timeoutMs, intervalMs: 100 },
      );
    } catch (error) {
      if (!(error instanceof MeshError) || error.code !== "timeout") throw error;
      throw new UnreachableError(
        `none of the bootstrap peers answered within ${timeoutMs} ms (${(this.#options.bootstrapPeers ?? []).join(", ")}): ` +
          "check that they run and that each address ends in /p2p/<peer id>",
      );
    }
  }

  /**
   * Stops every subscription and, if this network started its node, stops it (SIGTERM, then
   * SIGKILL after `stopGraceMs`) and removes the temporary home it created. Safe to call twice.
   */
  async close(): Promise<void> {
    await this.#connecting?.catch(() => undefined);
    for (const stream of this.#streams) stream.close();
    this.#streams.clear();
    const connection = this.#connection;
    this.#connection = undefined;
    if (!connection) return;
    await connection.node?.stop(this.#options.stopGraceMs ?? 5_000);
    if (connection.tempHome !== undefined) {
      connection.forgetTempHome?.();
      await rm(connection.tempHome, { recursive: true, force: true });
    }
  }

  /** The node's peer id, full listen addresses, capabilities and peer count. */
  async info(): Promise<NodeInfo> {
    const connection = this.#connected();
    connection.info = await connection.client.get<NodeInfo>("/v1/info");
    return connection.info;
  }

  /** Connected peers, best reputation first, with RTT. */
  async peers(): Promise<Peer[]> {
    return this.#connected().client.get<Peer[]>("/v1/peers");
  }

  /** Reachability in plain words, as `mesh doctor` prints it: public/private/unknown and why, relay reservations, each peer direct or relayed, and what to do. */
  async reachability(): Promise<Reachability> {
    return this.#connected().client.get<Reachability>("/v1/reachability");
  }

  /**
   * This node's view of a peer's reputation, as `mesh reputation PEER_ID` prints it: the figure
   * discovery and the offer strategy use (`reputation`, in [0, 1]) and what it rests on
   * (receipts, this node's own observations). Any peer may be asked; one nothing is known of is
   * neutral (0.5) with `known` false. Throws {@link InvalidPeerIdError} for a malformed id.
   */
  async reputation(peerId: string): Promise<ReputationView> {
    const { client } = this.#connected();
    if (typeof peerId !== "string" || !BASE58.test(peerId)) {
      throw new InvalidPeerIdError(
        `${JSON.stringify(peerId)} is not a peer id: use the base58 id \`peers()\` or \`mesh peers\` shows, e.g. 12D3KooW...`,
      );
    }
    return client.get<ReputationView>(`/v1/peers/${encodeURIComponent(peerId)}/reputation`);
  }

  /**
   * Calls `callback` with every verified intent that needs one of the capabilities (default:
   * this network's; the node joins their topics). Reconnects with backoff if the stream drops.
   * Returns the function that stops it.
   */
  subscribeToIntents(
    callback: (intent: Intent) => void | Promise<void>,
    options: IntentSubscribeOptions = {},
  ): Subscription {
    const capabilities = options.capabilities ?? this.#capabilities;
    checkCapabilities(capabilities);
    const query = { capabilities: capabilities.length > 0 ? capabilities.join(",") : undefined };
    return this.#subscribe("/v1/intents/stream", query, "intent", callback, options);
  }

  /**
   * Calls `callback` with every message taken into this node's negotiations, sent or received:
   * an offer arriving for an intent this agent published, the publisher's answer to a bid, a
   * delivery, a receipt. Returns the function that stops it.
   */
  subscribeToNegotiations(
    callback: (event: NegotiationEvent) => void | Promise<void>,
    options: SubscribeOptions = {},
  ): Subscription {
    return this.#subscribe("/v1/negotiations/stream", {}, "negotiation", callback, options);
  }

  #subscribe<T>(
    path: string,
    query: Query,
    eventType: string,
    callback: (value: T) => void | Promise<void>,
    options: SubscribeOptions,
  ): Subscription {
    const { client } = this.#connected();
    const onStop = (stream: EventStream): void => {
      this.#streams.delete(stream);
    };
    const { stream, subscription } = subscribe<T>({ client, path, query, eventType, callback, options, onStop });
    this.#streams.add(stream);
    return subscription;
  }

  /** Signs and publishes an intent on the topic of each of its capabilities. */
  async publishIntent(intent: IntentInput): Promise<PublishOutcome> {
    const client = this.#connected().client;
    return client.post<PublishOutcome>("/v1/intents", toPublishRequest(intent));
  }

  /** Agents offering every one of the capabilities, with at least `minReputation`, best first. */
  async discoverAgents(query: AgentQuery): Promise<Agent[]> {
    const client = this.#connected().client;
    if (!query || !Array.isArray(query.capabilities) || query.capabilities.length === 0) {
      throw new InvalidCapabilityError(
        'discoverAgents needs at least one capability, e.g. { capabilities: ["image-generation"] }',
      );
    }
    return client.get<Agent[]>("/v1/agents", {
      capabilities: query.capabilities.join(","),
      min_reputation: query.minReputation,
      limit: query.limit,
    });
  }

  /** Intents this node knows with their status: its own (newest first), then open ones from the network. */
  async listIntents(options: { limit?: number } = {}): Promise<IntentSummary[]> {
    return this.#connected().client.get<IntentSummary[]>("/v1/intents", { limit: options.limit });
  }

  /** One intent this node knows, with its status. */
  async getIntent(intentId: string): Promise<IntentSummary> {
    return this.#connected().client.get<IntentSummary>(`/v1/intents/${encodeURIComponent(intentId)}`);
  }

  /**
   * Cancels an intent this agent published: a signed cancellation goes out on its topics and
   * open negotiations on it are withdrawn.
   */
  async cancelIntent(intentId: string, reason = ""): Promise<CancelOutcome> {
    return this.#connected().client.post<CancelOutcome>(`/v1/intents/${encodeURIComponent(intentId)}/cancel`, {
      reason,
    });
  }

  /**
   * Awards an intent this agent published: collects offers for `windowMs`, accepts the lowest
   * price among eligible agents (countering at `counterAt` when asked), and rejects the rest.
   */
  async awardIntent(intentId: string, options: AwardOptions = {}): Promise<AwardOutcome> {
    const { client } = this.#connected();
    const body: AwardRequest = { window_ms: options.windowMs ?? 0 };
    if (options.minReputation !== undefined) body.min_reputation = options.minReputation;
    if (options.counterAt !== undefined) body.counter_at = toBudget(options.counterAt, "counterAt");
    if (options.answerWaitMs !== undefined) body.answer_wait_ms = options.answerWaitMs;
    const waitMs = (options.windowMs ?? 0) + (options.answerWaitMs ?? 10_000);
    return client.request<AwardOutcome>("POST", `/v1/intents/${encodeURIComponent(intentId)}/award`, {
      body,
      timeoutMs: client.timeoutMs + waitMs,
    });
  }

  // ----- negotiation (INP) -----

  /** Bids on an intent this node has received, opening a negotiation with its publisher (agent). */
  async offer(intentId: string, proposal: ProposalInput): Promise<NegotiationEvent> {
    const client = this.#connected().client;
    const body: OfferRequest = { intent_id: intentId, ...toProposalRequest(proposal) };
    return client.post<NegotiationEvent>("/v1/negotiations/offer", body);
  }

  /** Proposes other terms than the agent's outstanding offer (publisher). */
  async counter(negotiationId: string, proposal: ProposalInput): Promise<NegotiationEvent> {
    return this.#step(negotiationId, "counter", toProposalRequest(proposal));
  }

  /** Accepts the other party's outstanding proposal. */
  async accept(negotiationId: string): Promise<NegotiationEvent> {
    return this.#step(negotiationId, "accept");
  }

  /** Rejects the other party's outstanding proposal, ending the negotiation. */
  async reject(negotiationId: string, reason = ""): Promise<NegotiationEvent> {
    return this.#step(negotiationId, "reject", { reason });
  }

  /** Withdraws from a negotiation before an agreement. */
  async withdraw(negotiationId: string, reason = ""): Promise<NegotiationEvent> {
    return this.#step(negotiationId, "withdraw", { reason });
  }

  /**
   * Cancels an agreement whose delivery is overdue (publisher). Refused as `not_overdue` before
   * the agreed due time; afterwards the intent may be awarded again.
   */
  async cancelAgreement(negotiationId: string, reason = ""): Promise<NegotiationEvent> {
    return this.#step(negotiationId, "cancel", { reason });
  }

  /** Delivers the agreed work (agent): inline data or a location with its SHA-256. */
  async deliver(negotiationId: string, result: DeliveryInput): Promise<NegotiationEvent> {
    return this.#step(negotiationId, "deliver", toDeliverRequest(result));
  }

  /** Rates the delivery, completing the negotiation (publisher). */
  async receipt(negotiationId: string, receipt: ReceiptInput): Promise<NegotiationEvent> {
    return this.#step(negotiationId, "receipt", toReceiptRequest(receipt));
  }

  /** This node's negotiations, optionally only those matching `filter`. */
  async listNegotiations(filter: NegotiationFilter = {}): Promise<NegotiationSummary[]> {
    const all = await this.#connected().client.get<NegotiationSummary[]>("/v1/negotiations");
    return all.filter((n) => matches(n, filter));
  }

  /** One negotiation and its signed transcript. */
  async getNegotiation(negotiationId: string): Promise<NegotiationDetail> {
    return this.#connected().client.get<NegotiationDetail>(`/v1/negotiations/${encodeURIComponent(negotiationId)}`);
  }

  /** The signed transcript of a negotiation: save it as JSON for `mesh negotiations verify FILE`. */
  async getTranscript(negotiationId: string): Promise<Transcript> {
    return (await this.getNegotiation(negotiationId)).transcript;
  }

  /**
   * Polls {@link listNegotiations} until a negotiation matches, e.g. an offer arriving for an
   * intent this agent published: `waitForNegotiation({ intentId, state: "offered" })`.
   */
  async waitForNegotiation(filter: NegotiationFilter, options: PollOptions = {}): Promise<NegotiationSummary> {
    return pollUntil(
      `a negotiation matching ${JSON.stringify(filter)}`,
      async () => (await this.listNegotiations(filter))[0],
      { timeoutMs: 60_000, intervalMs: 200, ...options },
    );
  }

  async #step(negotiationId: string, step: string, body: unknown = {}): Promise<NegotiationEvent> {
    const client = this.#connected().client;
    return client.post<NegotiationEvent>(`/v1/negotiations/${encodeURIComponent(negotiationId)}/${step}`, body);
  }

  #connected(): Connection {
    if (!this.#connection) {
      throw new NotConnectedError("this MeshNetwork is not connected: call `await network.connect()` first");
    }
    return this.#connection;
  }
}
