/**
 * The SDK's friendly inputs (camelCase, prices as "2.50 USD", payloads as text or bytes) and
 * their conversion to the API's request bodies.
 */

import { InvalidInputError } from "./errors.js";
import type {
  Budget,
  DeliverRequest,
  Intent,
  PublishIntentRequest,
  ProposalRequest,
  ReceiptRequest,
} from "./types.js";

/** An amount of money: `"2.50 USD"`, `"2.50"` (USD), `2.5` (USD) or `{ amount, currency }`. */
export type Money = string | number | { amount: string | number; currency?: string };

/** An intent to publish: a request for work that agents with its capabilities receive. */
export interface IntentInput {
  /** Short summary, at most 256 characters, e.g. `"Summarise this PDF"`. */
  title: string;
  /** Capabilities the work needs (1 to 16); it is published on the topic of each. */
  capabilities: string[];
  /** Longer description, at most 4096 characters. */
  description?: string;
  /** What the publisher will pay, e.g. `"2 USD"`. */
  budget?: Money;
  /** Seconds the intent stays open (default 3600, at most 7 days). */
  ttlSeconds?: number;
  /** When the work is due: a `Date` or Unix milliseconds. */
  deadline?: Date | number;
  /** Inline input for the work, at most 48 KiB: text (sent as UTF-8) or bytes. */
  payload?: { data: string | Uint8Array; contentType?: string };
  /** Lowest reputation, in [0, 1], asked of agents that bid. */
  minReputation?: number;
}

/** Terms of an offer or counter-offer. */
export interface ProposalInput {
  /** The price, e.g. `"1.80 USD"`. */
  price: Money;
  /** Delivery within this many seconds of the agreement (default 3600). */
  etaSeconds?: number;
  /** Free-text conditions. */
  terms?: string;
}

/** The result of the work: inline (at most 48 KiB) or at a location with its SHA-256. */
export type DeliveryInput =
  | { data: string | Uint8Array; contentType?: string }
  | { location: string; digest: string };

/** The publisher's rating of a delivery. */
export interface ReceiptInput {
  /** Rating in [0, 1]. */
  rating: number;
  /** Comment. */
  comment?: string;
}

/** Parses a {@link Money} value into the API's `{ amount, currency }`. */
export function toBudget(money: Money, field = "price"): Budget {
  if (typeof money === "number") {
    if (!Number.isFinite(money) || money < 0) {
      throw new InvalidInputError(`${field} ${money} is not a non-negative amount: use e.g. 2.5 or "2.50 USD"`);
    }
    return { amount: String(money), currency: "USD" };
  }
  if (typeof money === "string") {
    const parts = money.trim().split(/\s+/);
    const [amount, currency = "USD", ...rest] = parts;
    if (amount === undefined || amount === "" || rest.length > 0) {
      throw new InvalidInputError(`${field} ${JSON.stringify(money)} is not "AMOUNT [CURRENCY]": use e.g. "2.50 USD"`);
    }
    return { amount, currency };
  }
  return { amount: String(money.amount), currency: money.currency ?? "USD" };
}

function base64(data: string | Uint8Array): string {
  return Buffer.from(typeof data === "string" ? new TextEncoder().encode(data) : data).toString("base64");
}

function defaultContentType(data: string | Uint8Array): string {
  return typeof data === "string" ? "text/plain; charset=utf-8" : "application/octet-stream";
}

/** The body of `POST /v1/intents` for `intent`. */
export function toPublishRequest(intent: IntentInput): PublishIntentRequest {
  if (typeof intent !== "object" || intent === null) {
    throw new InvalidInputError("publishIntent needs an intent object: { title, capabilities, ... }");
  }
  if (typeof intent.title !== "string" || intent.title.trim() === "") {
    throw new InvalidInputError('an intent needs a title, e.g. { title: "Summarise this PDF", capabilities: ["text-generation"] }');
  }
  if (!Array.isArray(intent.capabilities) || intent.capabilities.length === 0) {
    throw new InvalidInputError(
      'an intent needs at least one capability, the kind of agent that can do the work, e.g. capabilities: ["text-generation"]',
    );
  }
  const request: PublishIntentRequest = { title: intent.title, capabilities: [...intent.capabilities] };
  if (intent.description !== undefined) request.description = intent.description;
  if (intent.budget !== undefined) request.budget = toBudget(intent.budget, "budget");
  if (intent.ttlSeconds !== undefined) request.ttl_secs = wholeSeconds(intent.ttlSeconds, "ttlSeconds");
  if (intent.deadline !== undefined) {
    request.deadline_ms = intent.deadline instanceof Date ? intent.deadline.getTime() : intent.deadline;
  }
  if (intent.minReputation !== undefined) request.min_reputation = intent.minReputation;
  if (intent.payload !== undefined) {
    request.payload = {
      content_type: intent.payload.contentType ?? defaultContentType(intent.payload.data),
      data_base64: base64(intent.payload.data),
    };
  }
  return request;
}

function wholeSeconds(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidInputError(`${field} must be a whole number of seconds, at least 1 (got ${value})`);
  }
  return value;
}

/** The API's proposal for `proposal`. */
export function toProposalRequest(proposal: ProposalInput): ProposalRequest {
  const { amount, currency } = toBudget(proposal.price);
  return {
    amount,
    currency,
    eta_secs: wholeSeconds(proposal.etaSeconds ?? 3600, "etaSeconds"),
    terms: proposal.terms ?? "",
  };
}

/** The body of `deliver` for `delivery`. */
export function toDeliverRequest(delivery: DeliveryInput): DeliverRequest {
  if ("data" in delivery) {
    return {
      content_type: delivery.contentType ?? defaultContentType(delivery.data),
      data_base64: base64(delivery.data),
    };
  }
  if ("location" in delivery) return { location: delivery.location, digest: delivery.digest };
  throw new InvalidInputError("deliver needs { data, contentType? } or { location, digest }");
}

/** The body of `receipt` for `receipt`. */
export function toReceiptRequest(receipt: ReceiptInput): ReceiptRequest {
  return { rating: receipt.rating, comment: receipt.comment ?? "" };
}

/** The bytes of an intent's inline payload, or `undefined` if it has none. */
export function intentPayload(intent: Intent): Uint8Array | undefined {
  return intent.payload ? new Uint8Array(Buffer.from(intent.payload.data_base64, "base64")) : undefined;
}
