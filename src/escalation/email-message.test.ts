import { describe, expect, it } from "vitest";
import { sampleNotification } from "../../test/fixtures/notification.js";
import type { Incident } from "../incidents/types.js";
import { buildNotification } from "./build.js";
import { buildEmailMessage, domainOf, EMAIL_LIMITS, messageIdOf, threadRootId } from "./email-message.js";
import type { Notification } from "./types.js";

const OPENED = Date.parse("2024-05-01T10:00:00Z");

const notification = (over: Partial<Notification> = {}): Notification =>
  sampleNotification({ channel: "email", openedAt: OPENED, at: OPENED + 120_000, steps: [], ...over });

describe("buildEmailMessage", () => {
  it("the first trigger starts the thread; every later message of the incident answers it", () => {
    const first = buildEmailMessage(notification(), "ops.example.com");
    expect(first.messageId).toBe(threadRootId(notification(), "ops.example.com"));
    expect(first.messageId).toMatch(/^<medic\.[0-9a-f]{32}@ops\.example\.com>$/);
    expect(first.inReplyTo).toBeUndefined();
    for (const later of [
      notification({ id: "inc-1-email-resolve-1", event: "resolve" }),
      notification({ id: "inc-1-email-acknowledge-1", event: "acknowledge" }),
      notification({ id: "inc-1-email-trigger-2", escalation: 1, key: "inc-1:2" }),
    ]) {
      const m = buildEmailMessage(later, "ops.example.com");
      expect(m.messageId).toBe(messageIdOf(later.id, "ops.example.com"));
      expect(m.messageId).not.toBe(first.messageId);
      expect([m.inReplyTo, m.references]).toEqual([first.messageId, first.messageId]);
    }
  });

  it("the thread root is the id build.ts gives an incident's first trigger on a channel", () => {
    const incident = {
      id: "inc-77",
      target: "orders-api",
      kind: "server_down",
      severity: "P1",
      state: "open",
      evidence: "down",
      openedAt: OPENED,
      runs: [],
      notifications: [],
      timeline: [],
    } as unknown as Incident;
    const n = buildNotification(incident, { channel: "team-mail", event: "trigger", reason: "opened" }, OPENED);
    expect(buildEmailMessage(n, "x.example").messageId).toBe(threadRootId(n, "x.example"));
  });

  it.each([
    [notification(), "[P1] server_down on orders-api: GET /health: ECONNREFUSED"],
    [notification({ event: "resolve" }), "[P1] Resolved: server_down on orders-api"],
    [notification({ event: "acknowledge" }), "[P1] Acknowledged: server_down on orders-api"],
    [notification({ escalation: 1, attempts: 2 }), "[P1] Medic's fix failed: server_down on orders-api: GET /health: ECONNREFUSED"],
    [
      notification({ approval: { step: "s", why: "w", plan: [], expiresAt: OPENED } }),
      "[P1] Approval needed: server_down on orders-api: GET /health: ECONNREFUSED",
    ],
  ])("subject of %#", (n, subject) => {
    expect(buildEmailMessage(n, "x.example").subject).toBe(subject);
  });

  it("subject and headers are one line whatever the text, and cut", () => {
    const evil = `a\r\nBcc: x@evil.example\u2028\u0085\u0000${"z".repeat(5000)}`;
    const m = buildEmailMessage(notification({ evidence: evil, target: evil, incident: evil }), "x.example");
    for (const value of [m.subject, ...Object.values(m.headers)]) expect(value).not.toMatch(/[\r\n\u0000\u2028\u0085]/);
    expect(m.subject.length).toBeLessThanOrEqual(EMAIL_LIMITS.subjectChars);
    expect(m.headers["X-Medic-Incident"]!.length).toBeLessThanOrEqual(EMAIL_LIMITS.headerChars);
  });

  it("the body says what, why, what was tried (the latest steps), who else broke, the evidence kept and the plan", () => {
    const m = buildEmailMessage(
      notification({
        link: "https://medic.example/#/incidents/inc-1",
        evidence: "line one\r\nline two",
        steps: Array.from({ length: 150 }, (_, i) => ({ name: `step-${i}`, outcome: "failed", detail: "" })),
        affected: ["orders-worker"],
        artifacts: [{ name: "pg_stat_activity.json", bytes: 900, step: "postgres.snapshot" }],
        approval: { step: "postgres.terminate", why: "risky", plan: ["terminate 3 sessions"], expiresAt: OPENED + 60_000 },
      }),
      "x.example",
    );
    expect(m.text).toContain("Evidence:\n  line one\n  line two");
    expect(m.text).toContain("Steps (150):\n  ... 50 earlier steps not shown\n  - step-50: failed");
    expect(m.text).not.toContain("step-49:");
    expect(m.text).toContain("Also affected (suppressed, not paged):\n  - orders-worker");
    expect(m.text).toContain("  - pg_stat_activity.json (900 bytes, postgres.snapshot)");
    expect(m.text).toContain(
      "Awaiting approval of postgres.terminate until 2024-05-01T10:01:00.000Z: risky\nPlan:\n  terminate 3 sessions",
    );
    expect(m.text).toContain("Approve or reject at https://medic.example/#/incidents/inc-1");
    expect(m.text).toContain("playbook runs: 1");
  });

  it("keeps a huge evidence within its limit", () => {
    const m = buildEmailMessage(notification({ evidence: "x".repeat(1_000_000) }), "x.example");
    expect(m.text.length).toBeLessThan(EMAIL_LIMITS.evidenceChars + 2000);
  });

  it("domainOf reads the sender's domain, or falls back to a reserved one", () => {
    expect(domainOf("medic@Ops.Example.com")).toBe("ops.example.com");
    expect(domainOf("Medic <medic@ops.example.com>")).toBe("ops.example.com");
    expect(domainOf("nobody")).toBe("medic.invalid");
  });
});
