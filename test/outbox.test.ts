import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import ts from "typescript";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ABORT_GRACE_MS, Outbox, type OutboxOptions } from "../src/escalation/outbox.js";
import type { FailureReason, Notification, NotificationEvent, Notifier, SendResult } from "../src/escalation/types.js";

// Pure delivery logic: these in-process notifiers stand in for Slack and PagerDuty, whose real
// receivers are tested by the channel suites. Time is vitest's fake clock unless a test says otherwise.

const ALL: ReadonlySet<NotificationEvent> = new Set(["trigger", "acknowledge", "resolve"]);
const OK: SendResult = { ok: true };
const FIVE_HUNDRED: SendResult = { ok: false, retry: true, reason: "server_error", detail: "HTTP 500" };

type Script = (n: Notification, call: number, signal: AbortSignal) => SendResult | Promise<SendResult>;

/**
 * A notifier that follows `script` and records every call with the (fake) time it started. It pages
 * (like PagerDuty, it never has a trigger collapsed away by a later resolve) unless `pages` is false.
 */
function fake(name: string, script: Script, accepts: ReadonlySet<NotificationEvent> = ALL, pages = true) {
  const calls: { id: string; at: number; signal: AbortSignal }[] = [];
  let active = 0;
  let maxActive = 0;
  const notifier: Notifier = {
    name,
    accepts,
    pages,
    async send(n, signal) {
      calls.push({ id: n.id, at: Date.now(), signal });
      maxActive = Math.max(maxActive, ++active);
      try {
        return await script(n, calls.length, signal);
      } finally {
        active--;
      }
    },
  };
  return { notifier, calls, ids: () => calls.map((c) => c.id), maxActive: () => maxActive };
}

function note(id: string, event: NotificationEvent = "trigger", channel = "slack", incident = "i1"): Notification {
  return {
    id,
    channel,
    event,
    incident,
    target: "web",
    kind: "server_down",
    severity: "P1",
    state: "open",
    reason: "opened",
    evidence: "connection refused",
    openedAt: 0,
    at: 0,
    attempts: 0,
    steps: [],
  };
}

/** Builds an outbox over `notifiers` and records what it reports, in order. */
function outboxWith(notifiers: Notifier[], opts: Partial<OutboxOptions> = {}) {
  const events: string[] = [];
  const failed: { id: string; reason: FailureReason; detail: string }[] = [];
  const retries: { id: string; reason: FailureReason; attempt: number; nextInMs: number; detail: string }[] = [];
  const outbox = new Outbox({
    notifiers: new Map(notifiers.map((n) => [n.name, n])),
    onSent: (n, detail) => events.push(detail ? `sent ${n.id} (${detail})` : `sent ${n.id}`),
    onFailed: (n, reason, detail) => {
      events.push(`failed ${n.id} ${reason}`);
      failed.push({ id: n.id, reason, detail });
    },
    onAttemptFailed: (n, r, attempt, nextInMs) => retries.push({ id: n.id, reason: r.reason, attempt, nextInMs, detail: r.detail }),
    random: () => 0.5, // no jitter unless a test wants some
    ...opts,
  });
  return { outbox, events, failed, retries };
}

/** Waits on the global setTimeout, so fake timers drive it. */
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const never = () => new Promise<SendResult>(() => {});

beforeEach(() => vi.useFakeTimers({ now: 0 }));
afterEach(() => vi.useRealTimers());

describe("Outbox delivery", () => {
  it("sends an incident's notifications in order, one at a time, and channels do not wait for each other", async () => {
    const slack = fake("slack", async () => (await delay(100), OK));
    const pd = fake("pagerduty", async () => (await delay(10_000), OK));
    const { outbox, events } = outboxWith([slack.notifier, pd.notifier]);
    outbox.enqueue(note("s1"), note("p1", "trigger", "pagerduty"), note("s2", "resolve"), note("s3"));
    await vi.advanceTimersByTimeAsync(350);
    expect(events).toEqual(["sent s1", "sent s2", "sent s3"]);
    expect(slack.maxActive()).toBe(1);
    expect(outbox.status()).toEqual({
      slack: { queued: 0, breaker: "closed", failures: 0 },
      pagerduty: { queued: 1, breaker: "closed", failures: 0 },
    });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(events.at(-1)).toBe("sent p1");
    await outbox.idle();
  });

  it("keeps a resolve behind its trigger while the trigger is retried", async () => {
    const slack = fake("slack", (n, call) => (n.id === "t1" && call <= 2 ? FIVE_HUNDRED : OK));
    const { outbox, events, retries } = outboxWith([slack.notifier], { retry: { initialMs: 1_000, maxMs: 60_000, maxAttempts: 10 } });
    outbox.enqueue(note("t1", "trigger"), note("r1", "resolve"));
    await vi.advanceTimersByTimeAsync(2_500);
    expect(slack.ids()).toEqual(["t1", "t1"]); // the resolve waits at the head of the line
    expect(events).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(slack.ids()).toEqual(["t1", "t1", "t1", "r1"]);
    expect(slack.calls.map((c) => c.at)).toEqual([0, 1_000, 3_000, 3_000]);
    expect(events).toEqual(["sent t1", "sent r1"]);
    expect(retries.map((r) => [r.attempt, r.nextInMs])).toEqual([
      [1, 1_000],
      [2, 2_000],
    ]);
  });

  it("honours a longer Retry-After, capped at maxMs", async () => {
    const slack = fake("slack", (n, call) =>
      call === 1
        ? { ok: false, retry: true, reason: "rate_limited", detail: "HTTP 429", retryAfterMs: 10_000 }
        : call === 2
          ? { ok: false, retry: true, reason: "rate_limited", detail: "HTTP 429", retryAfterMs: 3_600_000 }
          : OK,
    );
    const { outbox, events, retries } = outboxWith([slack.notifier], { retry: { initialMs: 100, maxMs: 30_000, maxAttempts: 10 } });
    outbox.enqueue(note("n1"));
    await vi.advanceTimersByTimeAsync(9_999);
    expect(slack.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(slack.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(slack.calls.map((c) => c.at)).toEqual([0, 10_000, 40_000]);
    expect(retries.map((r) => r.nextInMs)).toEqual([10_000, 30_000]);
    expect(events).toEqual(["sent n1"]);
  });

  it("gives up on a 4xx at once, moves on, and does not count it toward the breaker", async () => {
    const slack = fake("slack", (n) =>
      n.id.startsWith("bad") ? { ok: false, retry: false, reason: "unauthorized", detail: "HTTP 403 invalid_token" } : OK,
    );
    const { outbox, events, failed, retries } = outboxWith([slack.notifier], { breaker: { failures: 2, cooldownMs: 30_000 } });
    outbox.enqueue(
      note("bad1", "trigger", "slack", "i1"),
      note("bad2", "trigger", "slack", "i2"),
      note("bad3", "trigger", "slack", "i3"),
      note("good", "trigger", "slack", "i4"),
    );
    await vi.advanceTimersByTimeAsync(60_000);
    expect(slack.ids()).toEqual(["bad1", "bad2", "bad3", "good"]);
    expect(events).toEqual(["failed bad1 unauthorized", "failed bad2 unauthorized", "failed bad3 unauthorized", "sent good"]);
    expect(failed[0]?.detail).toBe("HTTP 403 invalid_token");
    expect(retries).toEqual([]);
    expect(outbox.status().slack).toEqual({ queued: 0, breaker: "closed", failures: 0 });
  });

  it("stops after maxAttempts with the last reason, and leaves no timer behind", async () => {
    const slack = fake("slack", (_n, call) =>
      call < 4 ? FIVE_HUNDRED : { ok: false, retry: true, reason: "timeout", detail: "no answer" },
    );
    const { outbox, events, failed, retries } = outboxWith([slack.notifier], {
      retry: { initialMs: 100, maxMs: 1_000, maxAttempts: 4 },
      breaker: { failures: 100, cooldownMs: 1 },
    });
    outbox.enqueue(note("n1"));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(slack.calls).toHaveLength(4);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(events).toEqual(["failed n1 timeout"]);
    expect(failed[0]?.detail).toMatch(/no answer.*gave up after 4 attempts/);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("jitters retry delays with the injected random source", async () => {
    const slack = fake("slack", () => FIVE_HUNDRED);
    const { outbox, retries } = outboxWith([slack.notifier], {
      retry: { initialMs: 1_000, maxMs: 60_000, maxAttempts: 3 },
      random: () => 0,
    });
    outbox.enqueue(note("n1"));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(retries.map((r) => r.nextInMs)).toEqual([800, 1_600]);
    expect(slack.calls.map((c) => c.at)).toEqual([0, 800, 2_400]);
  });

  it("completes events the channel does not take as skipped, without sending", async () => {
    const slack = fake("slack", () => OK, new Set<NotificationEvent>(["trigger", "resolve"]));
    const { outbox, events } = outboxWith([slack.notifier]);
    outbox.enqueue(note("a1", "acknowledge"));
    expect(events).toEqual(["sent a1 (skipped: slack has no acknowledge)"]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(slack.calls).toHaveLength(0);
  });

  it("rejects a notification for a channel that is not configured", () => {
    const { outbox, events, failed } = outboxWith([fake("slack", () => OK).notifier]);
    outbox.enqueue(note("x1", "trigger", "teams"));
    expect(events).toEqual(["failed x1 rejected"]);
    expect(failed[0]?.detail).toContain("no channel named teams is configured");
  });

  it("treats a notifier that throws or returns garbage as a retryable bad_reply", async () => {
    const slack = fake("slack", (_n, call) => {
      if (call === 1) throw new Error("boom");
      if (call === 2) return undefined as unknown as SendResult;
      return OK;
    });
    const { outbox, events, retries } = outboxWith([slack.notifier], { retry: { initialMs: 100, maxMs: 1_000, maxAttempts: 5 } });
    outbox.enqueue(note("n1"));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(retries.map((r) => r.reason)).toEqual(["bad_reply", "bad_reply"]);
    expect(retries[0]?.detail).toContain("boom");
    expect(events).toEqual(["sent n1"]);
  });

  it("keeps a URL quoted by a thrown error (the webhook is the secret) out of the detail", async () => {
    const slack = fake("slack", (_n, call) => {
      if (call === 1) throw new TypeError("Invalid URL: https://hooks.slack.com/services/T0/B0/s3cr3t?x=1 (check config)");
      return OK;
    });
    const { outbox, retries } = outboxWith([slack.notifier], { retry: { initialMs: 100, maxMs: 1_000, maxAttempts: 5 } });
    outbox.enqueue(note("n1"));
    await vi.advanceTimersByTimeAsync(200);
    expect(retries[0]?.detail).toBe("slack notifier threw: Invalid URL: [url] (check config)");
  });

  it("sends a notification handed over twice only once", async () => {
    const slack = fake("slack", async () => (await delay(50), OK));
    const { outbox, events } = outboxWith([slack.notifier]);
    outbox.enqueue(note("n1"), note("n1"));
    outbox.enqueue(note("n1"));
    await vi.advanceTimersByTimeAsync(500);
    expect(slack.ids()).toEqual(["n1"]);
    expect(events).toEqual(["sent n1"]);
  });

  it("keeps delivering when a callback throws", async () => {
    const slack = fake("slack", () => OK);
    const sent: string[] = [];
    const outbox = new Outbox({
      notifiers: new Map([["slack", slack.notifier]]),
      onSent: (n) => {
        sent.push(n.id);
        throw new Error("journal full");
      },
      onFailed: () => {},
    });
    outbox.enqueue(note("n1"), note("n2", "resolve"));
    await vi.advanceTimersByTimeAsync(10);
    await outbox.idle();
    expect(sent).toEqual(["n1", "n2"]);
  });

  it("aborts a send past its deadline and retries it as a timeout", async () => {
    const slack = fake("slack", (_n, call, signal) =>
      call === 1 ? new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))) : OK,
    );
    const { outbox, events, retries } = outboxWith([slack.notifier], {
      sendTimeoutMs: 5_000,
      retry: { initialMs: 100, maxMs: 1_000, maxAttempts: 5 },
    });
    outbox.enqueue(note("n1"));
    await vi.advanceTimersByTimeAsync(4_999);
    expect(retries).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(retries.map((r) => r.reason)).toEqual(["timeout"]);
    expect(slack.calls[0]?.signal.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(100);
    expect(events).toEqual(["sent n1"]);
  });

  it("gives up on a notifier that ignores the deadline's abort after the grace period", async () => {
    const slack = fake("slack", (_n, call) => (call === 1 ? never() : OK));
    const { outbox, events, retries } = outboxWith([slack.notifier], {
      sendTimeoutMs: 5_000,
      retry: { initialMs: 100, maxMs: 1_000, maxAttempts: 5 },
    });
    outbox.enqueue(note("n1"));
    await vi.advanceTimersByTimeAsync(6_999);
    expect(retries).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(retries[0]).toMatchObject({ reason: "timeout", detail: expect.stringContaining("ignored the abort") });
    await vi.advanceTimersByTimeAsync(100);
    expect(events).toEqual(["sent n1"]);
  });
});

describe("Outbox across incidents", () => {
  const at = (id: string, incident: string, over: Partial<Notification> = {}, event: NotificationEvent = "trigger") => ({
    ...note(id, event, "slack", incident),
    ...over,
  });

  it("a new incident's P1 page goes ahead of other incidents' backlog", async () => {
    const slack = fake("slack", async () => (await delay(100), OK));
    const { outbox, events } = outboxWith([slack.notifier], { sendsPerChannel: 1 });
    outbox.enqueue(...Array.from({ length: 50 }, (_, i) => at(`old${i}`, `i${i}`, { severity: "P3", target: `flappy${i % 3}` })));
    await vi.advanceTimersByTimeAsync(150);
    outbox.enqueue(at("page", "new", { severity: "P1", target: "orders-db" }));
    await vi.advanceTimersByTimeAsync(150); // old1, in flight, ends at 200; the page goes next and ends at 300
    expect(slack.ids().slice(0, 3)).toEqual(["old0", "old1", "page"]);
    expect(events).toContain("sent page");
    expect(outbox.status().slack?.queued).toBe(48);
    const stopping = outbox.stop();
    await vi.advanceTimersByTimeAsync(ABORT_GRACE_MS); // the fake's send ignores the abort
    await stopping;
  });

  it("among equals, the target served least recently goes first: a flapping target cannot crowd out another", async () => {
    const slack = fake("slack", async () => (await delay(10), OK));
    const { outbox } = outboxWith([slack.notifier], { sendsPerChannel: 1 });
    outbox.enqueue(
      ...Array.from({ length: 6 }, (_, i) => at(`a${i}`, `a${i}`, { target: "flappy" })),
      at("b0", "b0", { target: "steady" }),
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(slack.ids()).toEqual(["a0", "b0", "a1", "a2", "a3", "a4", "a5"]);
  });

  it("pages before news that an alert is over, and a resolve still never overtakes its trigger", async () => {
    const slack = fake("slack", async () => (await delay(10), OK));
    const { outbox } = outboxWith([slack.notifier], { sendsPerChannel: 1 });
    outbox.enqueue(
      at("busy", "i0"),
      at("r1", "i1", {}, "resolve"),
      at("t2", "i2", { severity: "P2" }),
      at("t3", "i3", { severity: "P1" }),
      at("r3", "i3", {}, "resolve"),
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(slack.ids()).toEqual(["busy", "t3", "t2", "r1", "r3"]);
  });

  it("one incident's retries hold up no other incident, and its own resolve waits behind them", async () => {
    const slack = fake("slack", (n, call) => (n.id === "t1" && call <= 3 ? FIVE_HUNDRED : OK));
    const { outbox, events } = outboxWith([slack.notifier], { retry: { initialMs: 1_000, maxMs: 60_000, maxAttempts: 10 } });
    outbox.enqueue(at("t1", "i1"), at("r1", "i1", {}, "resolve"));
    await vi.advanceTimersByTimeAsync(500);
    outbox.enqueue(at("t2", "i2"), at("r2", "i2", {}, "resolve"));
    await vi.advanceTimersByTimeAsync(10);
    expect(events).toEqual(["sent t2", "sent r2"]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(events).toEqual(["sent t2", "sent r2", "sent t1", "sent r1"]);
  });

  it("sends up to sendsPerChannel at once, one per incident", async () => {
    const slack = fake("slack", async () => (await delay(100), OK));
    const { outbox, events } = outboxWith([slack.notifier], { sendsPerChannel: 3 });
    outbox.enqueue(...["i1", "i2", "i3", "i4"].flatMap((i) => [at(`t-${i}`, i), at(`r-${i}`, i, {}, "resolve")]));
    await vi.advanceTimersByTimeAsync(100);
    expect(slack.maxActive()).toBe(3);
    expect(events).toEqual(["sent t-i1", "sent t-i2", "sent t-i3"]);
    await vi.advanceTimersByTimeAsync(1_000);
    for (const i of ["i1", "i2", "i3", "i4"]) expect(events.indexOf(`sent t-${i}`)).toBeLessThan(events.indexOf(`sent r-${i}`));
    expect(events).toHaveLength(8);
  });

  it("a 429 pauses the whole channel for its Retry-After, not only the incident that got it", async () => {
    const slack = fake("slack", (n, call) =>
      call === 1 ? { ok: false, retry: true, reason: "rate_limited", detail: "HTTP 429", retryAfterMs: 5_000 } : OK,
    );
    const { outbox, events } = outboxWith([slack.notifier], { retry: { initialMs: 100, maxMs: 60_000, maxAttempts: 10 } });
    outbox.enqueue(at("t1", "i1"));
    await vi.advanceTimersByTimeAsync(10);
    outbox.enqueue(at("t2", "i2"));
    await vi.advanceTimersByTimeAsync(4_980);
    expect(slack.ids()).toEqual(["t1"]);
    await vi.advanceTimersByTimeAsync(20);
    expect(events.sort()).toEqual(["sent t1", "sent t2"]);
  });

  it("half-open lets one trial send through, whatever sendsPerChannel says", async () => {
    let healthy = false;
    const slack = fake("slack", async () => (await delay(50), healthy ? OK : FIVE_HUNDRED));
    const { outbox } = outboxWith([slack.notifier], {
      breaker: { failures: 2, cooldownMs: 10_000 },
      retry: { initialMs: 100, maxMs: 60_000, maxAttempts: 100 },
    });
    outbox.enqueue(at("t1", "i1"), at("t2", "i2"), at("t3", "i3"));
    await vi.advanceTimersByTimeAsync(60);
    expect(outbox.status().slack?.breaker).toBe("open");
    expect(slack.calls.map((c) => c.at)).toEqual([0, 0, 0]); // three incidents at once, all failed by 50
    healthy = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(slack.calls.slice(3).map((c) => [c.id, c.at])).toEqual([["t1", 10_050]]); // the trial, alone
    await vi.advanceTimersByTimeAsync(100);
    expect(slack.calls.slice(3).map((c) => [c.id, c.at])).toEqual([
      ["t1", 10_050],
      ["t2", 10_100],
      ["t3", 10_100],
    ]);
    expect(outbox.status().slack).toEqual({ queued: 0, breaker: "closed", failures: 0 });
  });
});

describe("Outbox collapse", () => {
  const superseded = (opts: Partial<OutboxOptions> = {}) => {
    const dropped: string[] = [];
    return { dropped, opts: { ...opts, onSuperseded: (n: Notification, by: Notification) => dropped.push(`${n.id} by ${by.id}`) } };
  };

  it("drops an acknowledge still waiting when the resolve of the same alert comes, and says so", async () => {
    const pd = fake("pagerduty", async () => (await delay(100), OK));
    const { dropped, opts } = superseded();
    const { outbox, events } = outboxWith([pd.notifier], opts);
    outbox.enqueue(note("t", "trigger", "pagerduty"));
    await vi.advanceTimersByTimeAsync(10);
    outbox.enqueue(note("a", "acknowledge", "pagerduty"), note("r", "resolve", "pagerduty"));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(pd.ids()).toEqual(["t", "r"]);
    expect(dropped).toEqual(["a by r"]);
    expect(events).toEqual(["sent t", "sent r"]);
  });

  it("on a message stream, a trigger still waiting says nothing the resolve does not; on a channel that pages, it still goes", async () => {
    const slack = fake("slack", async () => (await delay(100), OK), ALL, false);
    const pd = fake("pagerduty", async () => (await delay(100), OK));
    const { dropped, opts } = superseded();
    const { outbox } = outboxWith([slack.notifier, pd.notifier], opts);
    outbox.enqueue(note("s0", "trigger", "slack", "busy"), note("p0", "trigger", "pagerduty", "busy"));
    await vi.advanceTimersByTimeAsync(10);
    outbox.enqueue(note("st", "trigger", "slack", "busy"), note("sr", "resolve", "slack", "busy"));
    outbox.enqueue(note("pt", "trigger", "pagerduty", "busy"), note("pr", "resolve", "pagerduty", "busy"));
    await vi.advanceTimersByTimeAsync(1_000);
    // s0 and p0 were in flight: what is being sent is never collapsed.
    expect(slack.ids()).toEqual(["s0", "sr"]);
    expect(pd.ids()).toEqual(["p0", "pt", "pr"]);
    expect(dropped).toEqual(["st by sr"]);
  });

  it("a later trigger of the same alert supersedes one still waiting; another alert's (a new dedup key) never does", async () => {
    const pd = fake("pagerduty", async () => (await delay(100), OK));
    const { dropped, opts } = superseded();
    const { outbox } = outboxWith([pd.notifier], opts);
    outbox.enqueue(note("busy", "acknowledge", "pagerduty"));
    await vi.advanceTimersByTimeAsync(10);
    outbox.enqueue(note("opened", "trigger", "pagerduty"), note("failed", "trigger", "pagerduty"));
    outbox.enqueue({ ...note("repage", "trigger", "pagerduty"), key: "i1:2" }, note("old-resolve", "resolve", "pagerduty"));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(dropped).toEqual(["opened by failed"]);
    expect(pd.ids()).toEqual(["busy", "failed", "repage", "old-resolve"]);
  });

  it("never drops, nor drops anything for, a message that another channel is broken", async () => {
    const slack = fake("slack", async () => (await delay(100), OK), ALL, false);
    const { dropped, opts } = superseded();
    const { outbox } = outboxWith([slack.notifier], opts);
    outbox.enqueue(note("busy", "trigger"));
    await vi.advanceTimersByTimeAsync(10);
    outbox.enqueue({ ...note("broken", "trigger"), reason: "could not notify pagerduty (unauthorized: HTTP 401)" }, note("r", "resolve"));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(dropped).toEqual([]);
    expect(slack.ids()).toEqual(["busy", "broken", "r"]);
  });

  it("collapses what a restarted medic hands over again, in the order the journal has it", async () => {
    const slack = fake("slack", () => OK, ALL, false);
    const { dropped, opts } = superseded();
    const { outbox, events } = outboxWith([slack.notifier], opts);
    outbox.enqueue(
      note("t", "trigger", "slack", "i1"),
      note("e", "trigger", "slack", "i1"),
      note("t2", "trigger", "slack", "i2"),
      note("r", "resolve", "slack", "i1"),
    );
    await vi.advanceTimersByTimeAsync(10);
    expect(dropped).toEqual(["t by e", "e by r"]);
    expect(events.sort()).toEqual(["sent r", "sent t2"]);
  });
});

describe("Outbox circuit breaker", () => {
  const breakerOpts = {
    retry: { initialMs: 100, maxMs: 60_000, maxAttempts: 100 },
    breaker: { failures: 3, cooldownMs: 30_000 },
  };

  it("opens after N consecutive failures and sends nothing during the cooldown", async () => {
    const slack = fake("slack", () => FIVE_HUNDRED);
    const { outbox, retries } = outboxWith([slack.notifier], breakerOpts);
    outbox.enqueue(note("n1"));
    await vi.advanceTimersByTimeAsync(300);
    expect(slack.calls.map((c) => c.at)).toEqual([0, 100, 300]);
    expect(outbox.status().slack).toEqual({ queued: 1, breaker: "open", failures: 3 });
    expect(retries.at(-1)?.nextInMs).toBe(30_000); // the breaker's wait, not the 400 ms backoff
    outbox.enqueue(note("n2", "trigger", "slack", "i2"), note("n3", "trigger", "slack", "i3"));
    await vi.advanceTimersByTimeAsync(29_999);
    expect(slack.calls).toHaveLength(3); // zero attempts while open
    expect(outbox.status().slack?.queued).toBe(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(slack.calls).toHaveLength(4); // half-open: one try through
    expect(slack.ids().at(-1)).toBe("n1");
  });

  it("half-open: a failed try re-opens for a full cooldown, a good one closes and drains in order", async () => {
    let healthy = false;
    const slack = fake("slack", () => (healthy ? OK : FIVE_HUNDRED));
    const { outbox, events } = outboxWith([slack.notifier], breakerOpts);
    outbox.enqueue(note("t1", "trigger"), note("r1", "resolve"));
    await vi.advanceTimersByTimeAsync(30_300);
    expect(slack.calls).toHaveLength(4);
    expect(outbox.status().slack?.breaker).toBe("open"); // the half-open try failed
    await vi.advanceTimersByTimeAsync(29_999);
    expect(slack.calls).toHaveLength(4);
    expect(outbox.status().slack?.breaker).toBe("open");
    healthy = true;
    await vi.advanceTimersByTimeAsync(1);
    expect(slack.calls.map((c) => c.at).slice(-2)).toEqual([60_300, 60_300]);
    expect(slack.ids()).toEqual(["t1", "t1", "t1", "t1", "t1", "r1"]);
    expect(events).toEqual(["sent t1", "sent r1"]);
    expect(outbox.status().slack).toEqual({ queued: 0, breaker: "closed", failures: 0 });
  });

  it("holds the next notification too when one gives up while the breaker is open", async () => {
    const slack = fake("slack", () => FIVE_HUNDRED);
    const { outbox, events } = outboxWith([slack.notifier], {
      retry: { initialMs: 100, maxMs: 60_000, maxAttempts: 3 },
      breaker: { failures: 2, cooldownMs: 30_000 },
    });
    outbox.enqueue(note("n1"), note("n2", "resolve"));
    await vi.advanceTimersByTimeAsync(30_100);
    expect(slack.calls.map((c) => [c.id, c.at])).toEqual([
      ["n1", 0],
      ["n1", 100],
      ["n1", 30_100],
    ]);
    expect(events).toEqual(["failed n1 server_error"]);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(slack.calls).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(slack.calls.at(-1)).toMatchObject({ id: "n2", at: 60_100 });
    await outbox.stop();
  });

  it("keeps one channel's open breaker away from the others", async () => {
    const slack = fake("slack", () => FIVE_HUNDRED);
    const pd = fake("pagerduty", () => OK);
    const { outbox, events } = outboxWith([slack.notifier, pd.notifier], breakerOpts);
    outbox.enqueue(note("s1"));
    await vi.advanceTimersByTimeAsync(1_000);
    outbox.enqueue(note("p1", "trigger", "pagerduty"));
    await vi.advanceTimersByTimeAsync(1);
    expect(events).toEqual(["sent p1"]);
    expect(outbox.status().pagerduty?.breaker).toBe("closed");
  });
});

describe("Outbox stop", () => {
  it("returns within the grace period from a notifier that ignores its signal, and leaves no timer", async () => {
    const slack = fake("slack", never);
    const { outbox, events } = outboxWith([slack.notifier]);
    outbox.enqueue(note("n1"), note("n2", "resolve"));
    await vi.advanceTimersByTimeAsync(10);
    let stopped = false;
    const stopping = outbox.stop().then(() => (stopped = true));
    expect(slack.calls[0]?.signal.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(vi.getTimerCount()).toBe(0);
    expect(events).toEqual([]); // still owed: the journal has them queued
    expect(outbox.status().slack?.queued).toBe(2);
  });

  it("returns at once when the notifier honours the signal", async () => {
    const slack = fake(
      "slack",
      (_n, _c, signal) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    );
    const { outbox, events } = outboxWith([slack.notifier]);
    outbox.enqueue(note("n1"));
    await vi.advanceTimersByTimeAsync(10);
    const t0 = Date.now();
    await outbox.stop();
    expect(Date.now() - t0).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(events).toEqual([]);
  });

  it("clears a pending retry, so nothing is sent afterwards", async () => {
    const slack = fake("slack", () => FIVE_HUNDRED);
    const { outbox, events } = outboxWith([slack.notifier], { retry: { initialMs: 1_000, maxMs: 60_000, maxAttempts: 10 } });
    outbox.enqueue(note("n1"));
    await vi.advanceTimersByTimeAsync(10);
    expect(vi.getTimerCount()).toBe(1);
    await outbox.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(slack.calls).toHaveLength(1);
    expect(events).toEqual([]);
  });

  it("still reports a send that succeeds during the grace period, before stop resolves", async () => {
    const slack = fake(
      "slack",
      (_n, _c, signal) => new Promise((resolve) => signal.addEventListener("abort", () => setTimeout(resolve, 500, OK))),
    );
    const { outbox, events } = outboxWith([slack.notifier]);
    outbox.enqueue(note("n1"), note("n2", "resolve"));
    await vi.advanceTimersByTimeAsync(10);
    const stopping = outbox.stop();
    await vi.advanceTimersByTimeAsync(500);
    await stopping;
    expect(events).toEqual(["sent n1"]);
    expect(slack.ids()).toEqual(["n1"]);
  });

  it("ignores enqueue after stop, and idle() does not hang", async () => {
    const slack = fake("slack", () => OK);
    const { outbox, events } = outboxWith([slack.notifier]);
    await outbox.stop();
    outbox.enqueue(note("n1"), note("x1", "trigger", "teams"));
    await vi.advanceTimersByTimeAsync(1_000);
    await outbox.idle();
    expect(slack.calls).toHaveLength(0);
    expect(events).toEqual([]);
    expect(outbox.status().slack?.queued).toBe(0);
  });
});

describe("Outbox on real timers", () => {
  beforeEach(() => vi.useRealTimers());

  it("idle() resolves once everything is delivered", async () => {
    const slack = fake("slack", (n, call) => (n.id === "n1" && call === 1 ? FIVE_HUNDRED : OK));
    const { outbox, events } = outboxWith([slack.notifier], { retry: { initialMs: 20, maxMs: 100, maxAttempts: 5 } });
    outbox.enqueue(note("n1"), note("n2", "resolve"));
    await outbox.idle();
    expect(events).toEqual(["sent n1", "sent n2"]);
    await outbox.stop();
  });

  it("after stop() a process exits on its own despite a hung send and a pending retry", async () => {
    const dir = await mkdtemp(join(tmpdir(), "medic-outbox-"));
    try {
      // The outbox and its imports, transpiled as they are, into a tree where the .js imports resolve.
      for (const file of [
        "escalation/outbox",
        "escalation/lane",
        "escalation/collapse",
        "escalation/backoff",
        "escalation/breaker",
        "lib/errors",
      ]) {
        const source = await readFile(new URL(`../src/${file}.ts`, import.meta.url), "utf8");
        const out = ts.transpileModule(source, {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
        });
        await mkdir(dirname(join(dir, `${file}.js`)), { recursive: true });
        await writeFile(join(dir, `${file}.js`), out.outputText);
      }
      await writeFile(join(dir, "package.json"), '{"type":"module"}');
      await writeFile(
        join(dir, "main.js"),
        `
        import { Outbox } from "./escalation/outbox.js";
        const all = new Set(["trigger", "acknowledge", "resolve"]);
        const hung = { name: "pagerduty", accepts: all, send: () => new Promise(() => {}) };
        const failing = { name: "slack", accepts: all, send: async () => ({ ok: false, retry: true, reason: "server_error", detail: "HTTP 500" }) };
        const outbox = new Outbox({ notifiers: new Map([["pagerduty", hung], ["slack", failing]]), onSent() {}, onFailed() {},
          retry: { initialMs: 60_000, maxMs: 300_000, maxAttempts: 20 } });
        const n = (id, channel) => ({ id, channel, event: "trigger", incident: "i1", target: "web", kind: "server_down", severity: "P1",
          state: "open", reason: "opened", evidence: "x", openedAt: 0, at: 0, attempts: 0, steps: [] });
        outbox.enqueue(n("p1", "pagerduty"), n("s1", "slack"));
        setTimeout(async () => {
          const t0 = Date.now();
          await outbox.stop();
          console.log("stopped " + JSON.stringify({ ms: Date.now() - t0, status: outbox.status() }));
        }, 100);
      `,
      );
      const child = spawn(process.execPath, [join(dir, "main.js")], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d));
      child.stderr.on("data", (d: Buffer) => (out += d));
      const kill = setTimeout(() => child.kill("SIGKILL"), 20_000); // a leaked timer (60 s deadline, 1 s retry) would keep it up
      const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
      clearTimeout(kill);
      expect({ code, signal }, out).toEqual({ code: 0, signal: null });
      const report = JSON.parse(out.slice(out.indexOf("stopped ") + 8)) as { ms: number; status: Record<string, { queued: number }> };
      expect(report.ms).toBeLessThan(10_000); // grace is 2 s; generous on a busy machine
      expect(report.status.pagerduty?.queued).toBe(1);
      expect(report.status.slack?.queued).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
