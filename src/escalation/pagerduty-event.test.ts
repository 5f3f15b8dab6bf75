import { describe, expect, it } from "vitest";
import type { Severity } from "../classify/types.js";
import {
  buildPagerDutyEvent,
  cut,
  dedupKey,
  eventBytes,
  PAGERDUTY_LIMITS,
  parseRetryAfter,
  readPagerDutyReply,
} from "./pagerduty-event.js";
import type { Notification } from "./types.js";

const KEY = "R0UT1NGKEY0123456789abcdefABCDEF";
const opts = { routingKey: KEY, source: "ops-1" };
const OPENED = Date.parse("2024-05-01T10:00:00Z");

function notification(over: Partial<Notification> = {}): Notification {
  return {
    id: "inc-1-pagerduty-trigger-1",
    channel: "pagerduty",
    event: "trigger",
    incident: "inc-1",
    target: "orders-api",
    kind: "server_down",
    severity: "P1",
    state: "escalated",
    reason: "not fixed after 30m",
    evidence: "GET /health: ECONNREFUSED",
    openedAt: OPENED,
    at: OPENED + 60_000,
    attempts: 2,
    steps: [
      { name: "service.restart", outcome: "ok", detail: "restarted" },
      { name: "wait", outcome: "ok", detail: "5s" },
    ],
    ...over,
  };
}

describe("buildPagerDutyEvent", () => {
  it("a trigger names the alert by incident and says what, where and how bad", () => {
    const e = buildPagerDutyEvent(notification({ link: "https://medic.example/api/incidents/inc-1" }), opts);
    expect(e).toMatchObject({
      routing_key: KEY,
      event_action: "trigger",
      dedup_key: "inc-1",
      client: "medic",
      client_url: "https://medic.example/api/incidents/inc-1",
    });
    expect(e.payload).toMatchObject({
      summary: "P1 server_down on orders-api: GET /health: ECONNREFUSED",
      source: "ops-1",
      severity: "critical",
      timestamp: "2024-05-01T10:00:00.000Z",
      component: "orders-api",
      group: "orders-api",
      class: "server_down",
    });
    expect(e.payload!.custom_details).toEqual({
      evidence: "GET /health: ECONNREFUSED",
      reason: "not fixed after 30m",
      state: "escalated",
      attempts: 2,
      steps: [
        { name: "service.restart", outcome: "ok", detail: "restarted" },
        { name: "wait", outcome: "ok", detail: "5s" },
      ],
    });
    expect(e.links).toEqual([{ href: "https://medic.example/api/incidents/inc-1", text: "incident in medic" }]);
  });

  it("has no links without a link", () => {
    const e = buildPagerDutyEvent(notification(), opts);
    expect(e.links).toBeUndefined();
    expect(e.client_url).toBeUndefined();
  });

  it.each<[Severity, string]>([
    ["P1", "critical"],
    ["P2", "error"],
    ["P3", "warning"],
    ["P4", "info"],
  ])("%s is %s", (severity, expected) => {
    expect(buildPagerDutyEvent(notification({ severity }), opts).payload!.severity).toBe(expected);
  });

  it.each(["acknowledge", "resolve"] as const)("%s carries only routing_key, event_action and dedup_key", (event) => {
    const e = buildPagerDutyEvent(notification({ event, link: "https://medic.example/x" }), opts);
    expect(e).toEqual({ routing_key: KEY, event_action: event, dedup_key: "inc-1" });
  });

  it.each([
    ["short evidence", "x".repeat(10), 40],
    ["at the limit", "x".repeat(1024 - 30), 1024],
    ["over the limit", "x".repeat(5000), 1024],
  ])("summary within 1024 characters: %s", (_, evidence, length) => {
    const summary = buildPagerDutyEvent(notification({ evidence }), opts).payload!.summary;
    expect(summary.length).toBe(length);
    expect(summary.endsWith("…")).toBe(length === 1024 && evidence.length > 1024 - 30);
  });

  it("summary is one line; untrusted text stays text", () => {
    const evidence = 'body: <script>alert(1)</script>\n\u001b[31mred\u0000 "quoted" ${HOME} `x`';
    const e = buildPagerDutyEvent(notification({ evidence }), opts);
    expect(e.payload!.summary).toBe('P1 server_down on orders-api: body: <script>alert(1)</script> [31mred "quoted" ${HOME} `x`');
    // The details keep the evidence exactly; JSON carries it as data.
    expect(JSON.parse(JSON.stringify(e)).payload.custom_details.evidence).toBe(evidence);
  });

  it("never splits a surrogate pair when cutting", () => {
    const summary = buildPagerDutyEvent(notification({ evidence: "😀".repeat(2000) }), opts).payload!.summary;
    expect(summary.length).toBeLessThanOrEqual(1024);
    expect(summary).toBe(summary.normalize());
    expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(summary)).toBe(false);
    expect(cut("ab😀", 3)).toBe("ab…");
  });

  it("dedup_key: the incident id, or within 255 characters and still distinct", () => {
    expect(dedupKey("inc-1")).toBe("inc-1");
    const a = "a".repeat(300);
    const b = `${"a".repeat(299)}b`;
    expect(dedupKey(a).length).toBeLessThanOrEqual(PAGERDUTY_LIMITS.dedupKeyChars);
    expect(dedupKey(a)).not.toBe(dedupKey(b));
    expect(dedupKey(a)).toBe(dedupKey(a));
    expect(buildPagerDutyEvent(notification({ incident: a, event: "resolve" }), opts).dedup_key).toBe(dedupKey(a));
  });

  it("stays within 512 KB however much there is to say, keeping the latest steps", () => {
    const steps = Array.from({ length: 5000 }, (_, i) => ({ name: `step-${i}`, outcome: "failed", detail: "\u0001".repeat(10_000) }));
    const e = buildPagerDutyEvent(
      notification({ evidence: "\u0002".repeat(1_000_000), reason: "r".repeat(100_000), target: "t".repeat(10_000), steps }),
      opts,
    );
    expect(eventBytes(e)).toBeLessThanOrEqual(PAGERDUTY_LIMITS.eventBytes);
    const kept = e.payload!.custom_details.steps;
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.at(-1)!.name).toBe("step-4999");
    expect(e.payload!.custom_details.steps_omitted).toBe(5000 - kept.length);
  });
});

describe("readPagerDutyReply", () => {
  const server = "events.pagerduty.com";
  const NOW = Date.parse("2024-05-01T10:00:00Z");
  const read = (status: number, body: unknown, headers = {}, unreadable = false) =>
    readPagerDutyReply({ status, headers, body, unreadable }, server, NOW);

  it.each([
    [202, { status: "success", message: "Event processed", dedup_key: "inc-1" }, false, { ok: true }],
    [429, { status: "throttle event" }, false, { ok: false, retry: true, reason: "rate_limited" }],
    [500, { status: "error" }, false, { ok: false, retry: true, reason: "server_error" }],
    [503, { status: "error" }, false, { ok: false, retry: true, reason: "server_error" }],
    [502, undefined, true, { ok: false, retry: true, reason: "bad_reply" }],
    [200, undefined, true, { ok: false, retry: true, reason: "bad_reply" }],
    [400, { status: "invalid event", errors: ["x"] }, false, { ok: false, retry: false, reason: "bad_request" }],
    [413, undefined, true, { ok: false, retry: false, reason: "bad_request" }],
    [401, undefined, true, { ok: false, retry: false, reason: "unauthorized" }],
    [403, { message: "Forbidden" }, false, { ok: false, retry: false, reason: "unauthorized" }],
    [404, undefined, true, { ok: false, retry: false, reason: "not_found" }],
    [422, {}, false, { ok: false, retry: false, reason: "rejected" }],
    [302, {}, false, { ok: false, retry: true, reason: "bad_reply" }],
  ])("HTTP %i -> %o", (status, body, unreadable, expected) => {
    expect(read(status, body, {}, unreadable)).toMatchObject(expected);
  });

  it("a 400 says what PagerDuty found wrong, flattened and cut", () => {
    const r = read(400, {
      status: "invalid event",
      message: "Event object is invalid",
      errors: ["'payload.summary' is missing or blank", "line\nbreak"],
    });
    expect(r).toMatchObject({
      detail: "PagerDuty rejected the event (HTTP 400): Event object is invalid; 'payload.summary' is missing or blank; line break",
    });
    const long = read(400, { errors: ["e".repeat(10_000)] });
    expect(long.ok || long.detail.length).toBeLessThan(600);
  });

  it.each([
    ["7", 7000],
    ["0", 0],
    ["1.5", 1500],
    ["Wed, 01 May 2024 10:00:30 GMT", 30_000],
    ["99999", 3_600_000],
    ["soon", undefined],
    [undefined, undefined],
  ])("Retry-After %s -> %s ms", (value, ms) => {
    expect(parseRetryAfter(value, NOW)).toBe(ms);
    const r = read(429, {}, value === undefined ? {} : { "retry-after": value });
    expect(r.ok === false && r.retryAfterMs).toBe(ms ?? undefined);
  });

  it("a question for an approver carries the plan in custom_details and says approval is needed", () => {
    const plan = ["playbook careful", "  1. postgres.terminate: terminate up to 50 sessions idle over 5m", "       would end pid 4242"];
    const event = buildPagerDutyEvent(notification({ escalation: 1, approval: { step: "terminate", why: "w", plan, expiresAt: 0 } }), {
      routingKey: "R".repeat(32),
      source: "medic",
    });
    expect(event.payload!.summary).toMatch(/ \(approval needed\): /);
    expect(event.payload!.custom_details).toMatchObject({
      approval: { step: "terminate", why: "w", until: "1970-01-01T00:00:00.000Z", plan },
    });
  });
});

describe("artifacts", () => {
  it("lists kept artifacts (names, sizes, steps; never content) in custom_details, beside the incident's link", () => {
    const artifacts = [{ name: "heap-1.heapsnapshot", bytes: 1234, step: "heap dump" }];
    const e = buildPagerDutyEvent(notification({ artifacts, link: "https://medic.example/#/incidents/inc-1" }), opts);
    expect(e.payload!.custom_details.artifacts).toEqual(artifacts);
    expect(e.links).toEqual([{ href: "https://medic.example/#/incidents/inc-1", text: "incident in medic" }]);
    expect(buildPagerDutyEvent(notification(), opts).payload!.custom_details).not.toHaveProperty("artifacts");
  });
});
