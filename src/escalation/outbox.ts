import { describeError } from "../lib/errors.js";
import { backoffDelayMs } from "./backoff.js";
import type { BreakerState } from "./breaker.js";
import { Lane } from "./lane.js";
import type { FailureReason, Notification, Notifier, SendResult } from "./types.js";

/** A failed attempt, as the outbox saw it. */
export type SendFailure = SendResult & { ok: false };

/** What the outbox delivers through, and how it reports back (the daemon journals the outcomes). */
export interface OutboxOptions {
  /** Notifiers by channel name. */
  notifiers: ReadonlyMap<string, Notifier>;
  /** Delivered, or skipped because the channel has no such event: the daemon journals notification_sent. */
  onSent(n: Notification, detail?: string): void;
  /** Given up for good (4xx, unknown channel, too many attempts): the daemon journals notification_failed. */
  onFailed(n: Notification, reason: FailureReason, detail: string): void;
  /** An attempt failed and another is scheduled in `nextInMs` (logs, metrics). Not called for the final one. */
  onAttemptFailed?(n: Notification, result: SendFailure, attempt: number, nextInMs: number): void;
  /** Defaults: 1 s doubling to 5 min, 20 attempts in all. */
  retry?: { initialMs: number; maxMs: number; maxAttempts: number };
  /** Defaults: 5 consecutive retryable failures open the breaker for 30 s. */
  breaker?: { failures: number; cooldownMs: number };
  /** Jitter source in [0, 1); injectable for tests. */
  random?: () => number;
  /** One attempt's deadline: the send is aborted then, and counts as a retryable timeout. Default 60 s. */
  sendTimeoutMs?: number;
  /** Never sent: `by`, queued later for the same alert, says all it would have said (the daemon journals notification_superseded). */
  onSuperseded?(n: Notification, by: Notification): void;
  /** Sends in flight at once per channel (each for a different incident). Default SENDS_PER_CHANNEL. */
  sendsPerChannel?: number;
}

/** How long an aborted send may take to return before the outbox stops waiting for it. */
export const ABORT_GRACE_MS = 2_000;

/** What a send resolves to when it was aborted and did not return in time. */
const ABANDONED = Symbol("abandoned");
const DEFAULT_RETRY = { initialMs: 1_000, maxMs: 300_000, maxAttempts: 20 };
const DEFAULT_BREAKER = { failures: 5, cooldownMs: 30_000 };

/** Sends in flight at once per channel, each for a different incident. */
export const SENDS_PER_CHANNEL = 4;

/**
 * Delivers notifications that are already durable in the journal. Per channel, each incident's
 * notifications go in order, one at a time, so an incident's resolve never overtakes its trigger,
 * even while the trigger is being retried; across incidents there is no line: a few sends run at
 * once, a new page goes ahead of other incidents' backlog, and one incident's retries hold up no
 * other (see lane.ts). What a later notification of the same alert supersedes is collapsed, where
 * the channel allows it (collapse.ts). Retryable failures back off (exponential, jittered,
 * Retry-After honoured; a 429 pauses the whole channel) behind a per-channel circuit breaker.
 * Keeps nothing on disk: whatever it has not reported as sent, failed or superseded is still
 * queued in the journal and is handed back on restart. Never throws; a notifier that throws
 * counts as a retryable bad_reply.
 */
export class Outbox {
  private readonly lanes = new Map<string, Lane>();
  /** Ids queued and not yet reported, so a notification handed over twice is sent once. */
  private readonly held = new Set<string>();
  private readonly sends = new Set<AbortController>();
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  private readonly retry: Required<OutboxOptions>["retry"];
  private readonly breaker: Required<OutboxOptions>["breaker"];
  private readonly random: () => number;
  private readonly sendTimeoutMs: number;
  private readonly concurrency: number;

  constructor(private readonly opts: OutboxOptions) {
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.breaker = { ...DEFAULT_BREAKER, ...opts.breaker };
    this.random = opts.random ?? Math.random;
    this.sendTimeoutMs = opts.sendTimeoutMs ?? 60_000;
    this.concurrency = Math.max(1, Math.floor(opts.sendsPerChannel ?? SENDS_PER_CHANNEL));
    for (const [name, notifier] of opts.notifiers) this.lanes.set(name, new Lane(notifier, this.breaker));
  }

  /** Channels from a reloaded config: a lane's queue carries over to its new notifier; a removed channel's lane keeps its notifier until drained. */
  setNotifiers(notifiers: ReadonlyMap<string, Notifier>): void {
    for (const [name, notifier] of notifiers) {
      const lane = this.lanes.get(name);
      if (lane) lane.notifier = notifier;
      else this.lanes.set(name, new Lane(notifier, this.breaker));
    }
  }

  /** Queue notifications (already durable in the journal), in order; delivery starts at once. */
  enqueue(...notifications: Notification[]): void {
    for (const n of notifications) {
      if (this.stopped) return; // a callback may stop the outbox mid-batch
      if (this.held.has(n.id)) continue;
      const lane = this.lanes.get(n.channel);
      if (!lane) {
        const have = [...this.lanes.keys()].join(", ") || "none";
        this.report(() => this.opts.onFailed(n, "rejected", `no channel named ${n.channel} is configured (configured: ${have})`));
      } else if (!lane.notifier.accepts.has(n.event)) {
        // Nothing goes out, so completing it ahead of the queue cannot reorder anything the receiver sees.
        this.report(() => this.opts.onSent(n, `skipped: ${n.channel} has no ${n.event}`));
      } else {
        this.held.add(n.id);
        for (const dropped of lane.add(n)) {
          this.held.delete(dropped.id);
          this.report(() => this.opts.onSuperseded?.(dropped, n));
        }
        this.kick(lane);
      }
    }
    this.settleIdle();
  }

  /** Per channel: queued count (including those being sent), breaker state, consecutive failures. */
  status(): Record<string, { queued: number; breaker: BreakerState; failures: number }> {
    const now = Date.now();
    const out: Record<string, { queued: number; breaker: BreakerState; failures: number }> = {};
    for (const [name, lane] of this.lanes) {
      out[name] = { queued: lane.size, breaker: lane.breaker.state(now), failures: lane.breaker.failures };
    }
    return out;
  }

  /** Resolves when every queue is empty, or once the outbox is stopped (tests, demo). */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.settleIdle();
    });
  }

  /**
   * Stops sending: aborts in-flight sends (they stay owed: the journal still has them queued) and
   * clears every timer. Waits at most ABORT_GRACE_MS for a notifier that ignores its signal. A send
   * that still succeeds meanwhile is reported through onSent; nothing is reported after this resolves.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const lane of this.lanes.values()) {
      clearTimeout(lane.timer);
      clearImmediate(lane.kicked);
      lane.timer = undefined;
      lane.kicked = undefined;
    }
    for (const send of this.sends) send.abort(new Error("outbox stopped"));
    await Promise.all([...this.lanes.values()].flatMap((lane) => [...lane.busy]));
    this.settleIdle();
  }

  /**
   * Pumps the lane once the current turn of the event loop is over: what a daemon journals in one
   * go (an incident opened, and escalated at once because no playbook matches) is queued whole
   * before anything is sent, so the later notification can supersede the earlier one.
   */
  private kick(lane: Lane): void {
    lane.kicked ??= setImmediate(() => {
      lane.kicked = undefined;
      this.pump(lane);
    });
  }

  /** Starts what the lane says may go now; otherwise sets one timer for when something may. */
  private pump(lane: Lane): void {
    if (this.stopped) return;
    clearTimeout(lane.timer);
    lane.timer = undefined;
    for (;;) {
      const turn = lane.turn(Date.now(), this.concurrency);
      if (!("send" in turn)) {
        if (turn.wakeInMs !== undefined) lane.timer = setTimeout(() => this.pump(lane), turn.wakeInMs);
        return;
      }
      const n = turn.send;
      const busy: Promise<void> = this.attempt(lane, n).finally(() => {
        lane.ended(n);
        lane.busy.delete(busy);
        this.pump(lane);
      });
      lane.busy.add(busy);
    }
  }

  /** One send of an incident's head, and what follows from its result. */
  private async attempt(lane: Lane, n: Notification): Promise<void> {
    const result = await this.send(lane.notifier, n);
    if (this.stopped) {
      // Delivered just as we stopped: say so, or a restart would send it again. Anything else stays owed.
      if (result?.ok) this.finish(lane, n, () => this.opts.onSent(n, result.detail));
      return;
    }
    if (!result) return; // unreachable: undefined only comes after stop
    if (result.ok) {
      lane.breaker.success();
      return this.finish(lane, n, () => this.opts.onSent(n, result.detail));
    }
    if (!result.retry) return this.finish(lane, n, () => this.opts.onFailed(n, result.reason, result.detail));
    const now = Date.now();
    lane.breaker.failure(now);
    const attempts = lane.failed(n);
    if (attempts >= this.retry.maxAttempts) {
      const detail = `${result.detail} (gave up after ${attempts} attempts)`;
      return this.finish(lane, n, () => this.opts.onFailed(n, result.reason, detail));
    }
    const backoffMs = backoffDelayMs(attempts, this.retry, this.random, result.retryAfterMs);
    // The receiver asked everyone to slow down, not just this incident.
    if (result.reason === "rate_limited") lane.pausedUntil = Math.max(lane.pausedUntil, now + backoffMs);
    const nextInMs = Math.max(backoffMs, lane.breaker.waitMs(now));
    lane.retryAt(n, now + nextInMs);
    this.report(() => this.opts.onAttemptFailed?.(n, result, attempts, nextInMs));
  }

  /** The notification is done: drop it, then report (so a callback that looks at status() sees it gone). */
  private finish(lane: Lane, n: Notification, report: () => void): void {
    lane.done(n);
    this.held.delete(n.id);
    this.report(report);
    this.settleIdle();
  }

  /**
   * Calls the notifier with a signal that stop() and the send deadline abort. Resolves a normalised
   * SendResult, or undefined when the send was aborted and did not return within the grace period.
   */
  private async send(notifier: Notifier, n: Notification): Promise<SendResult | undefined> {
    const control = new AbortController();
    this.sends.add(control);
    const deadline = setTimeout(() => control.abort(new Error("send deadline passed")), this.sendTimeoutMs);
    const gaveUp = abandonAfter(control.signal, ABORT_GRACE_MS);
    try {
      const sent = Promise.resolve().then(() => notifier.send(n, control.signal));
      const result = await Promise.race([sent, gaveUp.promise]);
      if (result === ABANDONED) return this.stopped ? undefined : timedOut(notifier, this.sendTimeoutMs, true);
      if (!isSendResult(result)) {
        return { ok: false, retry: true, reason: "bad_reply", detail: `${notifier.name} notifier returned no SendResult` };
      }
      return result;
    } catch (err) {
      if (control.signal.aborted && !this.stopped) return timedOut(notifier, this.sendTimeoutMs, false);
      // A notifier should never throw; when one does, it is a bug or an unparsed reply: worth retrying.
      // Its message may quote the webhook URL, which is the secret: drop every URL.
      const why = describeError(err).replace(/\b[a-z][a-z0-9+.-]*:\/\/\S*/gi, "[url]");
      return { ok: false, retry: true, reason: "bad_reply", detail: `${notifier.name} notifier threw: ${why}` };
    } finally {
      clearTimeout(deadline);
      gaveUp.cancel();
      this.sends.delete(control);
    }
  }

  /** Runs a callback of the daemon's; one that throws must not wedge a lane. */
  private report(callback: () => void): void {
    try {
      callback();
    } catch {
      // The daemon reports its own journal failures; the outbox's job is to keep delivering.
    }
  }

  private settleIdle(): void {
    if (this.idleWaiters.length === 0) return;
    if (!this.stopped && [...this.lanes.values()].some((lane) => lane.size > 0)) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function timedOut(notifier: Notifier, ms: number, ignoredAbort: boolean): SendFailure {
  const why = ignoredAbort ? " and ignored the abort" : "";
  return { ok: false, retry: true, reason: "timeout", detail: `${notifier.name} gave no answer within ${ms} ms${why}` };
}

function isSendResult(value: unknown): value is SendResult {
  if (typeof value !== "object" || value === null) return false;
  const r = value as { ok?: unknown; retry?: unknown; reason?: unknown };
  return r.ok === true || (r.ok === false && typeof r.retry === "boolean" && typeof r.reason === "string");
}

/** Resolves ABANDONED `graceMs` after `signal` aborts; cancel() drops the listener and any timer. */
function abandonAfter(signal: AbortSignal, graceMs: number): { promise: Promise<typeof ABANDONED>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let onAbort = (): void => {};
  const promise = new Promise<typeof ABANDONED>((resolve) => {
    onAbort = () => {
      timer = setTimeout(resolve, graceMs, ABANDONED);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return {
    promise,
    cancel() {
      signal.removeEventListener("abort", onAbort);
      clearTimeout(timer);
    },
  };
}
