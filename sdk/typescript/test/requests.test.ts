import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { InvalidCapabilityError, InvalidInputError } from "../src/errors.js";
import { checkCapabilities } from "../src/capability.js";
import {
  intentPayload,
  toBudget,
  toDeliverRequest,
  toProposalRequest,
  toPublishRequest,
  toReceiptRequest,
} from "../src/requests.js";

describe("requests", () => {
  test("an intent becomes the body of POST /v1/intents", () => {
    const deadline = new Date(Date.UTC(2030, 0, 1));
    assert.deepEqual(
      toPublishRequest({
        title: "Summarise this PDF",
        capabilities: ["text-generation"],
        description: "ten pages",
        budget: "2.50 USD",
        ttlSeconds: 600,
        deadline,
        payload: { data: "hi" },
        minReputation: 0.5,
      }),
      {
        title: "Summarise this PDF",
        capabilities: ["text-generation"],
        description: "ten pages",
        budget: { amount: "2.50", currency: "USD" },
        ttl_secs: 600,
        deadline_ms: deadline.getTime(),
        payload: { content_type: "text/plain; charset=utf-8", data_base64: "aGk=" },
        min_reputation: 0.5,
      },
    );
    assert.deepEqual(toPublishRequest({ title: "t", capabilities: ["a"] }), { title: "t", capabilities: ["a"] });
  });

  test("an intent without a title or capability is refused with an example", () => {
    assert.throws(() => toPublishRequest({ title: "", capabilities: ["a"] }), InvalidInputError);
    assert.throws(() => toPublishRequest({ title: "t", capabilities: [] }), /capabilities: \["text-generation"\]/);
    assert.throws(() => toPublishRequest({ title: "t", capabilities: ["a"], ttlSeconds: 1.5 }), /whole number/);
  });

  test("money is written as text, a number or an object; USD by default", () => {
    assert.deepEqual(toBudget("2 EUR"), { amount: "2", currency: "EUR" });
    assert.deepEqual(toBudget(" 2.5 "), { amount: "2.5", currency: "USD" });
    assert.deepEqual(toBudget(3), { amount: "3", currency: "USD" });
    assert.deepEqual(toBudget({ amount: 1.25, currency: "GBP" }), { amount: "1.25", currency: "GBP" });
    assert.throws(() => toBudget("two dollars please"), InvalidInputError);
    assert.throws(() => toBudget(-1), InvalidInputError);
  });

  test("proposals, deliveries and receipts", () => {
    assert.deepEqual(toProposalRequest({ price: "1.80 USD" }), { amount: "1.80", currency: "USD", eta_secs: 3600, terms: "" });
    assert.deepEqual(toProposalRequest({ price: 2, etaSeconds: 60, terms: "net 30" }), {
      amount: "2",
      currency: "USD",
      eta_secs: 60,
      terms: "net 30",
    });
    assert.throws(() => toProposalRequest({ price: "1", etaSeconds: 0 }), InvalidInputError);
    assert.deepEqual(toDeliverRequest({ data: new Uint8Array([1, 2, 3]) }), {
      content_type: "application/octet-stream",
      data_base64: "AQID",
    });
    assert.deepEqual(toDeliverRequest({ location: "https://example.org/r", digest: "ab".repeat(32) }), {
      location: "https://example.org/r",
      digest: "ab".repeat(32),
    });
    assert.deepEqual(toReceiptRequest({ rating: 1 }), { rating: 1, comment: "" });
  });

  test("intentPayload decodes the inline payload", () => {
    const base = {
      id: "x",
      publisher: "p",
      capabilities: ["a"],
      title: "t",
      description: "",
      deadline_ms: 0,
      created_at_ms: 0,
      expires_at_ms: 0,
      min_reputation: 0,
    };
    assert.equal(intentPayload(base), undefined);
    const bytes = intentPayload({ ...base, payload: { content_type: "x", data_base64: "AQID" } });
    assert.deepEqual(bytes, new Uint8Array([1, 2, 3]));
  });

  test("capability names follow the node's rule", () => {
    checkCapabilities(["text-generation", "a", "v1.2_x", "0".repeat(64)]);
    for (const bad of ["", "Text", "text generation", "-x", "0".repeat(65), "é"]) {
      assert.throws(() => checkCapabilities([bad]), InvalidCapabilityError, bad);
    }
  });
});
