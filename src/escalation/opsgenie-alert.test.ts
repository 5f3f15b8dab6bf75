import { describe, expect, it } from "vitest";
import { sampleNotification } from "../../test/fixtures/notification.js";
import type { Severity } from "../classify/types.js";
import { aliasOf, buildOpsgenieRequest, escapeCut, OPSGENIE_LIMITS, type OpsgenieAction, type OpsgenieCreate } from "./opsgenie-alert.js";
import type { Notification } from "./types.js";

const OPENED = Date.parse("2024-05-01T10:00:00Z");
const opts = { source: "ops-1" };

const notification = (over: Partial<Notification> = {}): Notification =>
  sampleNotification({
    channel: "opsgenie",
    openedAt: OPENED,
    at: OPENED + 90_000,
    steps: [{ name: "service.restart", outcome: "ok", detail: "restarted" }],
    ...over,
  });

const create = (n: Notification, o: Parameters<typeof buildOpsgenieRequest>[1] = opts) => {
  const r = buildOpsgenieRequest(n, o);
  expect(r.path).toBe("/v2/alerts");
  return r.body as OpsgenieCreate;
};

describe("buildOpsgenieRequest", () => {
  it("a trigger creates an alert named by the incident, with the facts as details and the story as description", () => {
    const body = create(notification({ link: "https://medic.example/#/incidents/inc-1", affected: ["orders-worker"] }));
    expect(body).toMatchObject({
      message: "P1 server_down on orders-api: GET /health: ECONNREFUSED",
      alias: "inc-1",
      entity: "orders-api",
      source: "ops-1",
      priority: "P1",
      user: "medic",
      note: "opened",
      tags: ["medic", "server_down", "P1"],
      details: {
        incident: "inc-1",
        target: "orders-api",
        kind: "server_down",
        severity: "P1",
        state: "open",
        attempts: "1",
        opened: "2024-05-01T10:00:00.000Z",
        link: "https://medic.example/#/incidents/inc-1",
      },
    });
    expect(body.responders).toBeUndefined();
    expect(body.description).toContain("Reason: opened");
    expect(body.description).toContain("open for 1m30s");
    expect(body.description).toContain("Evidence:\nGET /health: ECONNREFUSED");
    expect(body.description).toContain("Steps (1):\n- service.restart: ok: restarted");
    expect(body.description).toContain("Also affected (suppressed, not paged): orders-worker");
    expect(body.description).toContain("Incident: inc-1 https://medic.example/#/incidents/inc-1");
  });

  it.each<[Severity, string]>([
    ["P1", "P1"],
    ["P2", "P2"],
    ["P3", "P3"],
    ["P4", "P4"],
  ])("severity %s is priority %s", (severity, priority) => {
    expect(create(notification({ severity })).priority).toBe(priority);
  });

  it("acknowledge and resolve act on the alert by alias, with the reason as a note", () => {
    const ack = buildOpsgenieRequest(notification({ event: "acknowledge", reason: "acknowledged by alice: on it" }), opts);
    expect(ack).toEqual({
      path: "/v2/alerts/inc-1/acknowledge?identifierType=alias",
      body: { user: "medic", source: "ops-1", note: "acknowledged by alice: on it" },
    });
    const close = buildOpsgenieRequest(notification({ event: "resolve", key: "inc-1:2", reason: "recovered" }), opts);
    expect(close.path).toBe("/v2/alerts/inc-1%3A2/close?identifierType=alias");
    expect((close.body as OpsgenieAction).note).toBe("recovered");
  });

  it("a second alert of the incident (medic acknowledged, then gave up) is created under its own key", () => {
    const body = create(notification({ key: "inc-1:2", escalation: 1, state: "escalated" }));
    expect(body.alias).toBe("inc-1:2");
    expect(body.message).toBe("Medic's fix failed: P1 server_down on orders-api: GET /health: ECONNREFUSED");
  });

  it("an approval carries the plan in the description", () => {
    const body = create(
      notification({
        state: "awaiting_approval",
        approval: {
          step: "postgres.terminate",
          why: "risky",
          plan: ["terminate 12 idle sessions", "wait 5s"],
          expiresAt: OPENED + 600_000,
        },
      }),
    );
    expect(body.message.startsWith("Approval needed: P1 server_down")).toBe(true);
    expect(body.description).toContain(
      "Awaiting approval of postgres.terminate until 2024-05-01T10:10:00.000Z: risky\n  terminate 12 idle sessions\n  wait 5s",
    );
  });

  it("artifacts are listed by name, size and step with the link, never their content", () => {
    const body = create(
      notification({
        link: "https://medic.example/#/incidents/inc-1",
        artifacts: [{ name: "heap-1.heapsnapshot", bytes: 1_048_576, step: "capture.signal" }],
      }),
    );
    expect(body.description).toContain(
      "Evidence captured before the fix (1), read it at https://medic.example/#/incidents/inc-1:\n- heap-1.heapsnapshot (1048576 bytes, capture.signal)",
    );
  });

  it("configured responders and tags come first; tags are deduplicated, flattened and at most 20", () => {
    const tags = Array.from({ length: 19 }, (_, i) => `team-${i}`);
    const body = create(notification(), {
      ...opts,
      responders: [
        { type: "team", name: "payments" },
        { type: "user", username: "alice@example.com" },
      ],
      tags: ["medic", ...tags],
    });
    expect(body.responders).toEqual([
      { type: "team", name: "payments" },
      { type: "user", username: "alice@example.com" },
    ]);
    expect(body.tags).toHaveLength(OPSGENIE_LIMITS.tags);
    expect(body.tags.slice(0, 2)).toEqual(["medic", "team-0"]);
    expect(create(notification({ kind: `x${"k".repeat(80)}` })).tags[1]).toHaveLength(OPSGENIE_LIMITS.tagChars);
  });

  it("keeps every field within Opsgenie's limits, whatever the notification holds", () => {
    const huge = "é<".repeat(40_000);
    const n = notification({
      key: "k".repeat(2000),
      target: huge,
      kind: huge,
      reason: huge,
      evidence: huge,
      link: `https://medic.example/${"x".repeat(9000)}`,
      steps: Array.from({ length: 500 }, (_, i) => ({ name: `step-${i}`, outcome: "failed", detail: huge })),
      affected: Array.from({ length: 500 }, () => huge),
      artifacts: Array.from({ length: 500 }, () => ({ name: huge, bytes: 1, step: huge })),
      approval: { step: huge, why: huge, plan: Array.from({ length: 500 }, () => huge), expiresAt: OPENED },
    });
    const body = create(n, { source: huge });
    expect(body.message.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.messageChars);
    expect(body.alias.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.aliasChars);
    expect(body.description.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.descriptionChars);
    expect(body.note.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.noteChars);
    expect(body.entity.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.entityChars);
    expect(body.source.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.sourceChars);
    expect(body.tags.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.tags);
    for (const t of body.tags) expect(t.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.tagChars);
    const detailChars = Object.entries(body.details).reduce((sum, [k, v]) => sum + k.length + v.length, 0);
    expect(detailChars).toBeLessThanOrEqual(OPSGENIE_LIMITS.detailsChars);
    // The latest steps are kept, and the description says how many were left out.
    expect(body.description).toMatch(/- … \d+ earlier steps not shown/);
    expect(body.description).toContain("step-499");
    // Cut escaped text never ends in half an entity.
    expect(body.message).toMatch(/(?:&lt;|é)…$/);
    const ack = buildOpsgenieRequest({ ...n, event: "acknowledge" }, { source: huge }).body as OpsgenieAction;
    expect(ack.note.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.noteChars);
    expect(ack.source.length).toBeLessThanOrEqual(OPSGENIE_LIMITS.sourceChars);
  });

  it("distinct long keys stay distinct aliases", () => {
    const a = aliasOf(`${"k".repeat(600)}a`);
    const b = aliasOf(`${"k".repeat(600)}b`);
    expect(a).not.toBe(b);
    expect(a).toHaveLength(OPSGENIE_LIMITS.aliasChars);
    expect(aliasOf("inc-1")).toBe("inc-1");
  });

  it("hostile text becomes inert: HTML escaped, no line breaks in one-line fields", () => {
    const evil = '<a href="https://evil.example">click</a><script>alert(1)</script>\r\nX-Injected: 1 & more';
    const body = create(notification({ evidence: evil, target: `api\n<b>x</b>`, reason: evil }));
    for (const text of [body.message, body.description, body.note]) {
      expect(text).not.toMatch(/<|>/);
      expect(text).toContain("&lt;");
    }
    expect(body.message).not.toMatch(/[\r\n]/);
    expect(body.note).not.toContain("\r");
    expect(body.entity).toBe("api <b>x</b>");
    expect(body.description).toContain("&amp; more");
  });

  it("escapeCut never splits an entity or a surrogate pair", () => {
    expect(escapeCut("ab<cd", 4)).toBe("ab…");
    expect(escapeCut("ab😀cd", 4)).toBe("ab…");
    expect(escapeCut("a&b", 10)).toBe("a&amp;b");
  });
});
