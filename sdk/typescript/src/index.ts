/**
 * `@mesh/sdk`: the TypeScript SDK of MESH, a peer-to-peer network in which AI agents find each
 * other by capability and exchange intents. It drives a local MESH node through the node's
 * HTTP API, starting one when none is running.
 *
 * @packageDocumentation
 */

export {
  MeshNetwork,
  type AgentQuery,
  type AwardOptions,
  type IntentSubscribeOptions,
  type MeshNetworkOptions,
  type NegotiationFilter,
} from "./network.js";
export type { SubscribeOptions, Subscription } from "./subscription.js";
export {
  intentPayload,
  type DeliveryInput,
  type IntentInput,
  type Money,
  type ProposalInput,
  type ReceiptInput,
} from "./requests.js";
export {
  BusyError,
  CallbackError,
  ConflictError,
  ForbiddenError,
  InvalidCapabilityError,
  InvalidInputError,
  InvalidPeerIdError,
  MeshError,
  MeshTimeoutError,
  NodeNotFoundError,
  NodeStartError,
  NodeStoppedError,
  NotConnectedError,
  NotFoundError,
  ProtocolError,
  ServerError,
  TokenMissingError,
  TokenRefusedError,
  UnreachableError,
  type MeshErrorCode,
  type MeshErrorDetails,
} from "./errors.js";
export type * from "./types.js";
export { CAPABILITY_PATTERN } from "./capability.js";
export type { ReconnectOptions } from "./sse.js";
export type { PollOptions } from "./poll.js";
export type { components, paths } from "./generated/api.js";
