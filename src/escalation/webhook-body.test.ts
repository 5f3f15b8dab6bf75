import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { sampleNotification } from "../../test/fixtures/notification.js";
import { z } from "zod";
import type { Notification } from "./types.js";
import {
  buildWebhookBody,
  cutText,
  signWebhook,
  WEBHOOK_LIMITS,
  WEBHOOK_TRUNCATED,
  webhookBodyBytes,
  type WebhookBody,
} from "./webhook-body.js";

// Built bodies checked against the published JSON Schema file itself, not a copy of it in code.
const SCHEMA_FILE = new URL("../../docs/webhook-v1.schema.json", import.meta.url);
const DOC = readFileSync(new URL("../../docs/webhook.md", import.meta.url), "utf8");
const published = z.fromJSONSchema(JSON.parse(readFileSync(SCHEMA_FILE, "utf8")));
const OPENED = Date.parse("2025-03-01T10:00:00.000Z");

const notification = (over: Partial<Notification> = {}): Notification =>
  sampleNotification({
    id: "n-1",
    channel: "payments-hook",
    incident: "inc-42",
    state: "escalated",
    reason: "not fixed after 30m",
    evidence: "GET http://127.0.0.1:8000/health: ECONNREFUSED",
    openedAt: OPENED,
    at: OPENED + 90_000,
    attempts: 2,
    steps: [{ name: "docker.restart", outcome: "ok", detail: "restarted orders-api in 2.1s" }],
    ...over,
  });

function expectValid(body: WebhookBody): void {
  const got = published.safeParse(JSON.parse(JSON.stringify(body)));
  expect(got.success ? [] : got.error.issues).toEqual([]);
}

describe("buildWebhookBody", () => {
  it("a plain trigger: every key present, times as ISO, nulls and empty lists for what is absent", () => {
    const body = buildWebhookBody(notification());
    expectValid(body);
    expect(body).toMatchObject({
      version: 1,
      id: "n-1",
      channel: "payments-hook",
      event: "trigger",
      incident: "inc-42",
      key: "inc-42",
      severity: "P1",
      openedAt: "2025-03-01T10:00:00.000Z",
      at: "2025-03-01T10:01:30.000Z",
      attempts: 2,
      affected: [],
      link: null,
      approval: null,
      artifacts: [],
      escalation: null,
      stepsOmitted: 0,
      truncated: false,
    });
  });

  it("a full one (key, escalation, approval, artifacts, affected, link) validates and carries each", () => {
    const body = buildWebhookBody(
      notification({
        key: "inc-42:2",
        escalation: 1,
        affected: ["orders-worker"],
        link: "https://medic.example.com/#/incidents/inc-42",
        artifacts: [{ name: "heap.heapsnapshot", bytes: 1234, step: "capture.signal" }],
        approval: {
          step: "postgres.terminate",
          why: "terminates sessions",
          plan: ["1. postgres.terminate idle > 5m"],
          expiresAt: OPENED + 600_000,
        },
      }),
    );
    expectValid(body);
    expect(body.key).toBe("inc-42:2");
    expect(body.escalation).toBe(1);
    expect(body.approval).toEqual({
      step: "postgres.terminate",
      why: "terminates sessions",
      plan: ["1. postgres.terminate idle > 5m"],
      expiresAt: "2025-03-01T10:10:00.000Z",
    });
    expect(body.artifacts).toEqual([{ name: "heap.heapsnapshot", bytes: 1234, step: "capture.signal" }]);
  });

  it.each(["acknowledge", "resolve"] as const)("a %s validates", (event) => {
    expectValid(buildWebhookBody(notification({ event, state: "resolved", reason: "recovered" })));
  });

  it("a worst case (huge texts, thousands of steps, hostile characters) stays within 256 KiB, valid, marked truncated", () => {
    const hostile = '"\\\u0000\u2028<script>\ud83d\ude00'.repeat(40_000);
    const body = buildWebhookBody(
      notification({
        evidence: hostile,
        reason: hostile,
        target: hostile,
        steps: Array.from({ length: 3000 }, (_, i) => ({ name: `s${i}${hostile.slice(0, 900)}`, outcome: "failed", detail: hostile })),
        affected: Array.from({ length: 5000 }, () => hostile.slice(0, 2000)),
        artifacts: Array.from({ length: 500 }, (_, i) => ({ name: hostile.slice(0, 900), bytes: i, step: "capture.logs" })),
        approval: { step: "x", why: hostile, plan: Array.from({ length: 500 }, () => hostile.slice(0, 5000)), expiresAt: OPENED },
        link: `https://medic.example.com/${"a".repeat(5000)}`,
      }),
    );
    expect(webhookBodyBytes(body)).toBeLessThanOrEqual(WEBHOOK_LIMITS.bodyBytes);
    expectValid(body);
    expect(body.truncated).toBe(true);
    expect(body.steps).toHaveLength(WEBHOOK_LIMITS.steps);
    expect(body.stepsOmitted).toBe(3000 - WEBHOOK_LIMITS.steps);
    expect(body.evidence.endsWith(WEBHOOK_TRUNCATED)).toBe(true);
    // A link cut short leads nowhere: dropped.
    expect(body.link).toBeNull();
    // Identities are whole.
    expect([body.id, body.incident, body.key]).toEqual(["n-1", "inc-42", "inc-42"]);
  });

  it("text is sent as it was, not escaped for any markup", () => {
    const body = buildWebhookBody(notification({ evidence: "<b>*bold*</b> & [x](http://evil)" }));
    expect(body.evidence).toBe("<b>*bold*</b> & [x](http://evil)");
  });

  it("times out of range become null rather than a thrown error", () => {
    const body = buildWebhookBody(notification({ openedAt: Number.NaN, at: 9e15 }));
    expect([body.openedAt, body.at]).toEqual([null, null]);
    expectValid(body);
  });

  it("the schema file refuses what a receiver must not accept", () => {
    const good = JSON.parse(JSON.stringify(buildWebhookBody(notification()))) as Record<string, unknown>;
    for (const bad of [
      { ...good, version: 2 },
      { ...good, event: "page" },
      { ...good, severity: "P0" },
      { ...good, at: "yesterday" },
      { ...good, attempts: -1 },
      { ...good, extra: true },
      Object.fromEntries(Object.entries(good).filter(([k]) => k !== "key")),
    ]) {
      expect(published.safeParse(bad).success).toBe(false);
    }
  });
});

describe("cutText", () => {
  it("keeps short text, cuts long text to the limit with the marker, never half a surrogate pair", () => {
    expect(cutText("short", 10)).toBe("short");
    const cut = cutText("a".repeat(100), 20);
    expect(cut).toHaveLength(20);
    expect(cut.endsWith(WEBHOOK_TRUNCATED)).toBe(true);
    const emoji = cutText(`${"a".repeat(7)}${"\ud83d\ude00".repeat(10)}`, 20);
    expect(emoji).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });
});

describe("signWebhook", () => {
  it("is v1= hex HMAC-SHA256 of '<timestamp>.<body>' with the secret, as a receiver recomputes it", () => {
    const secret = "a-very-long-secret-value";
    const body = '{"version":1}';
    const expected = createHmac("sha256", secret).update(`1700000000.${body}`).digest("hex");
    expect(signWebhook(secret, 1_700_000_000, body)).toBe(`v1=${expected}`);
    expect(signWebhook(secret, 1_700_000_001, body)).not.toBe(`v1=${expected}`);
  });
});

describe("docs/webhook.md", () => {
  it("its example body validates against the schema", () => {
    const example = /```json\n([\s\S]*?)```/.exec(DOC)![1]!;
    const got = published.safeParse(JSON.parse(example));
    expect(got.success ? [] : got.error.issues).toEqual([]);
  });

  it("its Node example accepts a request medic signed, and refuses a changed body, a wrong secret and an old timestamp", async () => {
    const code = /```js\n([\s\S]*?)```/.exec(DOC)![1]!;
    const dir = mkdtempSync(join(tmpdir(), "medic-doc-"));
    try {
      writeFileSync(join(dir, "verify.mjs"), code);
      const { verifyMedic } = (await import(pathToFileURL(join(dir, "verify.mjs")).href)) as {
        verifyMedic: (secret: string, headers: Record<string, string>, raw: string) => boolean;
      };
      const secret = "a-very-long-secret-value";
      const raw = JSON.stringify(buildWebhookBody(notification()));
      const signed = (ts: number, body = raw) => ({ "x-medic-timestamp": String(ts), "x-medic-signature": signWebhook(secret, ts, body) });
      const now = Math.floor(Date.now() / 1000);
      expect(verifyMedic(secret, signed(now), raw)).toBe(true);
      expect(verifyMedic(secret, signed(now), raw.replace("orders-api", "orders-apj"))).toBe(false);
      expect(verifyMedic("another-secret-value-0000", signed(now), raw)).toBe(false);
      expect(verifyMedic(secret, signed(now - 3600), raw)).toBe(false);
      expect(verifyMedic(secret, {}, raw)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
