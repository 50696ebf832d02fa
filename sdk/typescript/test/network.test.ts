// Two SDK agents, each starting its own node through connect(), and one plain `mesh node`
// process as the Rust agent, on loopback: discovery, intents and a negotiation end to end.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import {
  ConflictError,
  InvalidInputError,
  MeshNetwork,
  NotFoundError,
  ForbiddenError,
  intentPayload,
  type Intent,
  type IntentInput,
  type NegotiationEvent,
} from "@mesh/sdk";

import { NEEDS_MESH, eventually, localNodeOptions, startRustNode, type RustNode } from "./helpers/mesh.js";

/** Collects the intents a subscription delivers. */
class Inbox {
  readonly intents: Intent[] = [];
  readonly push = (intent: Intent): void => {
    this.intents.push(intent);
  };
  find(title: string): Intent | undefined {
    return this.intents.find((i) => i.title === title);
  }
}

/**
 * Publishes an intent from `from` until `inbox` has it: gossip meshes form shortly after peers
 * connect, so a first copy may find no route yet.
 */
async function publishUntilSeen(from: MeshNetwork, inbox: Inbox, intent: IntentInput): Promise<Intent> {
  return eventually(
    `intent "${intent.title}" at the subscriber`,
    async () => {
      const seen = inbox.find(intent.title);
      if (seen) return seen;
      const outcome = await from.publishIntent(intent);
      assert.equal(outcome.id.length, 64);
      assert.deepEqual(
        outcome.topics.map((t) => t.capability),
        intent.capabilities,
      );
      return eventually("delivery", async () => inbox.find(intent.title), 10_000).catch(() => undefined);
    },
    90_000,
    0,
  );
}

describe("two SDK agents and a Rust agent", { skip: NEEDS_MESH }, () => {
  let rust: RustNode;
  let publisher: MeshNetwork;
  let worker: MeshNetwork;
  const inbox = new Inbox();
  let unsubscribe: (() => void) | undefined;
  let intent: Intent;

  before(async () => {
    rust = await startRustNode({ capabilities: ["image-generation"], name: "rust-painter" });
    publisher = new MeshNetwork({
      ...localNodeOptions(),
      bootstrapPeers: [rust.address],
      capabilities: ["data-analysis"],
      name: "sdk-publisher",
    });
    worker = new MeshNetwork({
      ...localNodeOptions(),
      bootstrapPeers: [rust.address],
      capabilities: ["text-generation"],
      name: "sdk-worker",
    });
    await Promise.all([publisher.connect(), worker.connect()]);
  });

  after(async () => {
    unsubscribe?.();
    await Promise.allSettled([publisher?.close(), worker?.close()]);
    await rust?.stop();
  });

  test("each agent runs its own node with its own identity, connected to the Rust node", async () => {
    assert.ok(publisher.startedNode && worker.startedNode);
    assert.notEqual(publisher.peerId, worker.peerId);
    assert.notEqual(publisher.apiUrl, worker.apiUrl);
    const info = await worker.info();
    assert.deepEqual(info.capabilities, ["text-generation"]);
    assert.ok(info.listen_addrs.every((a) => a.endsWith(`/p2p/${worker.peerId}`)), String(info.listen_addrs));
    const peers = await worker.peers();
    assert.ok(peers.some((p) => p.peer_id === rust.peerId), JSON.stringify(peers));
  });

  test("discoverAgents finds the Rust agent and the SDK worker by capability", async () => {
    const painters = await eventually("the Rust agent in discovery", async () => {
      const found = await publisher.discoverAgents({ capabilities: ["image-generation"] });
      return found.length > 0 ? found : undefined;
    });
    assert.equal(painters.length, 1);
    assert.equal(painters[0]?.peer_id, rust.peerId);
    assert.equal(painters[0]?.name, "rust-painter");
    assert.deepEqual(painters[0]?.capabilities, ["image-generation"]);

    const writers = await eventually("the SDK worker in discovery", async () => {
      const found = await publisher.discoverAgents({ capabilities: ["text-generation"], minReputation: 0 });
      return found.length > 0 ? found : undefined;
    });
    assert.equal(writers[0]?.peer_id, worker.peerId);

    // Local reputation starts neutral (0.5): nobody is that trusted yet.
    const trusted = await publisher.discoverAgents({ capabilities: ["image-generation"], minReputation: 0.99 });
    assert.deepEqual(trusted, []);
    assert.deepEqual(await publisher.discoverAgents({ capabilities: ["video-editing"] }), []);
  });

  test("subscribeToIntents delivers an intent another SDK agent publishes", async () => {
    const subscription = worker.subscribeToIntents(inbox.push);
    unsubscribe = subscription;
    await subscription.ready;
    intent = await publishUntilSeen(publisher, inbox, {
      title: "Summarise this PDF",
      capabilities: ["text-generation"],
      description: "Ten pages on market demand",
      budget: "2.50 USD",
      ttlSeconds: 600,
      payload: { data: "%PDF-1.7 ...", contentType: "application/pdf" },
    });
    assert.equal(intent.publisher, publisher.peerId);
    assert.deepEqual(intent.capabilities, ["text-generation"]);
    assert.deepEqual(intent.budget, { amount: "2.50", currency: "USD" });
    assert.equal(intent.description, "Ten pages on market demand");
    assert.equal(intent.payload?.content_type, "application/pdf");
    assert.equal(new TextDecoder().decode(intentPayload(intent)), "%PDF-1.7 ...");
    assert.ok(intent.expires_at_ms > Date.now());
  });

  test("an intent the Rust agent publishes reaches the SDK subscriber", async () => {
    const title = "Translate a menu";
    const out = rust.cli(["intents", "publish", "--capability", "text-generation", "--title", title, "--budget", "1 USD"]);
    assert.equal(out.status, 0, out.stderr);
    const id = out.stdout.trim();
    const seen = await eventually("the Rust agent's intent", async () => inbox.find(title), 60_000);
    assert.equal(seen.id, id);
    assert.equal(seen.publisher, rust.peerId);
  });

  test("a negotiation goes from offer to receipt and both sides hold the same transcript", async () => {
    const publisherEvents: NegotiationEvent[] = [];
    const workerEvents: NegotiationEvent[] = [];
    const streams = [
      publisher.subscribeToNegotiations((e) => void publisherEvents.push(e)),
      worker.subscribeToNegotiations((e) => void workerEvents.push(e)),
    ];
    await Promise.all(streams.map((s) => s.ready));

    const offered = await worker.offer(intent.id, { price: "1.80 USD", etaSeconds: 1800, terms: "PDF summary" });
    assert.equal(offered.kind, "offer");
    assert.equal(offered.role, "agent");
    assert.equal(offered.state, "offered");
    assert.equal(offered.intent_id, intent.id);
    const id = offered.negotiation_id;

    const incoming = await publisher.waitForNegotiation({ intentId: intent.id, state: "offered" });
    assert.equal(incoming.negotiation_id, id);
    assert.equal(incoming.role, "publisher");
    assert.equal(incoming.agent, worker.peerId);
    assert.equal(incoming.proposal?.amount, "1.80");

    const accepted = await publisher.accept(id);
    assert.equal(accepted.state, "agreed");
    await worker.waitForNegotiation({ negotiationId: id, state: "agreed" });
    // The agreement holds until its delivery is due: cancelling it earlier is refused.
    const agreed = await publisher.waitForNegotiation({ negotiationId: id, state: "agreed" });
    assert.ok(agreed.due_at_ms !== undefined && agreed.due_at_ms > Date.now(), "the due time is shown");
    await assert.rejects(
      publisher.cancelAgreement(id, "too early"),
      (error: unknown) => error instanceof ConflictError && error.apiCode === "not_overdue",
    );

    const delivered = await worker.deliver(id, { data: "The report finds that demand grew 12%." });
    assert.equal(delivered.kind, "deliver");
    await publisher.waitForNegotiation({ negotiationId: id, state: "delivered" });

    const receipt = await publisher.receipt(id, { rating: 0.9, comment: "clear and on time" });
    assert.equal(receipt.state, "completed");
    await worker.waitForNegotiation({ negotiationId: id, state: "completed" });

    const [mine, theirs] = await Promise.all([publisher.getNegotiation(id), worker.getNegotiation(id)]);
    assert.equal(mine.summary.state, "completed");
    assert.equal(mine.transcript.format, "mesh-negotiation-transcript/1");
    assert.equal(mine.transcript.envelopes.length, 4);
    assert.deepEqual(await worker.getTranscript(id), theirs.transcript);
    assert.deepEqual(mine.transcript, theirs.transcript);

    // The transcript is evidence anyone can check offline.
    const dir = await mkdtemp(join(tmpdir(), "mesh-sdk-transcript-"));
    try {
      const file = join(dir, "transcript.json");
      await writeFile(file, JSON.stringify(theirs.transcript));
      const verified = rust.cli(["negotiations", "verify", file]);
      assert.equal(verified.status, 0, verified.stderr);
      assert.match(verified.stdout, /valid transcript: 4 signed messages/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    // A finished negotiation takes no more steps.
    await assert.rejects(publisher.accept(id), ConflictError);

    // Both negotiation streams saw every message, from their own side.
    const steps = (events: NegotiationEvent[]): string[] =>
      events.filter((e) => e.negotiation_id === id).map((e) => `${e.kind}:${e.received ? "in" : "out"}`);
    await eventually("the publisher's negotiation events", async () =>
      steps(publisherEvents).length >= 4 ? true : undefined,
    );
    await eventually("the worker's negotiation events", async () => (steps(workerEvents).length >= 4 ? true : undefined));
    assert.deepEqual(steps(publisherEvents), ["offer:in", "accept:out", "deliver:in", "receipt:out"]);
    assert.deepEqual(steps(workerEvents), ["offer:out", "accept:in", "deliver:out", "receipt:in"]);
    for (const stop of streams) stop();

    // The publisher's own receipt now speaks for the worker: its view of the worker rests on it.
    const view = await eventually("the receipt in the publisher's view of the worker", async () => {
      const v = await publisher.reputation(worker.peerId);
      return v.known ? v : undefined;
    });
    assert.equal(view.peer_id, worker.peerId);
    assert.ok(view.positive_evidence > 0, JSON.stringify(view));
    assert.ok(view.computed_at_ms > 0, JSON.stringify(view));

    // The intent's lifecycle follows the negotiation.
    const status = await publisher.getIntent(intent.id);
    assert.equal(status.own, true);
    assert.equal(status.status, "completed");
    assert.ok((await publisher.listIntents()).some((i) => i.id === intent.id));
  });

  test("awardIntent accepts the best offer for the publisher", async () => {
    const job = await publishUntilSeen(publisher, inbox, {
      title: "Draft a press release",
      capabilities: ["text-generation"],
      budget: "5 USD",
    });
    const bid = await worker.offer(job.id, { price: "4 USD", etaSeconds: 600 });
    await publisher.waitForNegotiation({ negotiationId: bid.negotiation_id, state: "offered" });
    const outcome = await publisher.awardIntent(job.id);
    assert.equal(outcome.accepted, bid.negotiation_id);
    assert.equal(outcome.agent, worker.peerId);
    assert.equal(outcome.offers, 1);
    assert.deepEqual(outcome.declined, []);
    await worker.waitForNegotiation({ negotiationId: bid.negotiation_id, state: "agreed" });
    assert.equal((await publisher.getIntent(job.id)).status, "agreed");
  });

  test("cancelIntent withdraws an open intent everywhere; only its publisher may cancel it", async () => {
    const job = await publishUntilSeen(publisher, inbox, { title: "Plot a chart", capabilities: ["text-generation"] });
    await assert.rejects(worker.cancelIntent(job.id, "not mine"), ForbiddenError);
    const cancelled = await publisher.cancelIntent(job.id, "no longer needed");
    assert.equal(cancelled.id, job.id);
    assert.equal((await publisher.getIntent(job.id)).status, "cancelled");
    const seen = await eventually("the cancellation at the worker", async () => {
      const view = await worker.getIntent(job.id);
      return view.status === "cancelled" ? view : undefined;
    });
    assert.equal(seen.cancel_reason, "no longer needed");
    await assert.rejects(worker.offer(job.id, { price: "1 USD" }), (error: unknown) =>
      error instanceof ConflictError || error instanceof NotFoundError,
    );
  });

  test("negotiation errors are typed", async () => {
    const unknown = "0".repeat(64);
    await assert.rejects(worker.offer(unknown, { price: "1 USD" }), NotFoundError);
    await assert.rejects(worker.getNegotiation(unknown), NotFoundError);
    await assert.rejects(worker.accept("not-an-id"), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError);
      assert.equal(error.apiCode, "invalid_negotiation_id");
      assert.match(error.message, /64 hex digits/);
      return true;
    });
    await assert.rejects(worker.offer(intent.id, { price: "two dollars" }), InvalidInputError);
  });

  test("close() stops the nodes it started and removes their temporary homes", async () => {
    unsubscribe?.();
    const api = worker.apiUrl;
    const home = worker.home;
    assert.ok(home && existsSync(home));
    await worker.close();
    assert.equal(worker.connected, false);
    const answers = await fetch(`${api}/v1/health`).then(() => true, () => false);
    assert.equal(answers, false, "the worker's node still answers after close()");
    await worker.close();
    assert.equal(existsSync(home), false, "the temporary home is left behind");
  });
});
