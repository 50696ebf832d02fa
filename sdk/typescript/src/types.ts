/**
 * The node's JSON shapes, as the API returns them (snake_case, exactly what `mesh ... --json`
 * prints), named from the types generated from its OpenAPI document.
 */

import type { components, paths } from "./generated/api.js";

type Schemas = components["schemas"];

/** A verified intent, as `subscribeToIntents` delivers it. */
export type Intent = Schemas["Intent"];
/** An intent this node knows, with its lifecycle status, as `listIntents` shows it. */
export type IntentSummary = Schemas["IntentView"];
/** Where an intent stands: open, negotiating, agreed, delivered, completed, expired, cancelled. */
export type IntentStatus = Schemas["IntentStatus"];
/** Result of `cancelIntent`. */
export type CancelOutcome = Schemas["CancelOutcome"];
/** Result of `awardIntent`: the accepted negotiation (if any offer qualified) and the declined ones. */
export type AwardOutcome = Schemas["AwardOutcome"];
/** A budget: decimal amount and currency code. */
export type Budget = Schemas["Budget"];
/** An inline payload, base64. */
export type Payload = Schemas["Payload"];
/** An agent found by `discoverAgents`. */
export type Agent = Schemas["Agent"];
/** A skill an agent advertises. */
export type Skill = Schemas["Skill"];
/** A connected peer. */
export type Peer = Schemas["Peer"];
/** Where the node stands: AutoNAT's verdict, NAT, relay reservations, direct or relayed peers, advice (`mesh doctor`). */
export type Reachability = Schemas["Reachability"];
/** This node's view of a peer's reputation and what it rests on (`mesh reputation PEER_ID`). */
export type ReputationView = Schemas["ReputationView"];
/** The node's identity, addresses and capabilities. */
export type NodeInfo = Schemas["NodeInfo"];
/** Result of `publishIntent`: the intent id and how many subscribers each topic had. */
export type PublishOutcome = Schemas["PublishOutcome"];
/** A negotiation message this node sent or received, and the state after it. */
export type NegotiationEvent = Schemas["NegotiationEvent"];
/** One negotiation, as `listNegotiations` shows it. */
export type NegotiationSummary = Schemas["NegotiationSummary"];
/** States of a negotiation. */
export type NegotiationState = NegotiationEvent["state"];
/** A signed transcript, verifiable offline with `mesh negotiations verify FILE`. */
export type Transcript = Schemas["TranscriptJson"];
/** One negotiation with its signed transcript. */
export type NegotiationDetail = Required<
  paths["/v1/negotiations/{id}"]["get"]["responses"][200]["content"]["application/json"]
>;

/** Request bodies, as the API takes them. */
export type PublishIntentRequest = Schemas["PublishIntentRequest"];
/** Body of an offer. */
export type OfferRequest = Schemas["OfferRequest"];
/** Terms of an offer or counter, as the API takes them. */
export type ProposalRequest = Schemas["Proposal"];
/** Body of a delivery. */
export type DeliverRequest = Schemas["DeliverRequest"];
/** Body of an award. */
export type AwardRequest = Schemas["AwardRequest"];
/** Body of a receipt. */
export type ReceiptRequest = Schemas["ReceiptRequest"];
