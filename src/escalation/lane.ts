import { CircuitBreaker, type BreakerOptions } from "./breaker.js";
import { keyOf, supersedes } from "./collapse.js";
import type { Notification, Notifier } from "./types.js";

/** One incident's notifications on a channel, oldest first; the head stays while it is sent or waits for a retry. */
interface IncidentQueue {
  entries: { n: Notification; seq: number }[];
  /** Failed attempts of the head so far. */
  attempts: number;
  /** The head waits for a retry until then (ms since the epoch); 0: ready. */
  retryAt: number;
  /** The head, while a send of it is in flight. */
  sending?: Notification;
}

/** What a lane says to do next: send this, or look again in `wakeInMs` (undefined: nothing waits). */
export type LaneTurn = { send: Notification } | { wakeInMs: number | undefined };

// Most urgent first: a page that wakes someone before news that an alert is handled or over.
const URGENCY: Record<string, number> = { P1: 0, P2: 1, P3: 2, P4: 3 };
const NOT_A_TRIGGER = 4;

/**
 * A channel's queue: per incident a FIFO, so an incident's resolve never overtakes its trigger, and
 * across incidents no line at all. The next send is the ready head that is most urgent (a trigger,
 * by severity), then from the target served least recently (a flapping target cannot crowd out a
 * new one), then the oldest. Pure bookkeeping over `now`; the outbox owns sends and timers.
 */
export class Lane {
  readonly breaker: CircuitBreaker;
  /** Sends in flight: at most one per incident. */
  inFlight = 0;
  /** A 429 pauses the whole channel until then. */
  pausedUntil = 0;
  timer: NodeJS.Timeout | undefined;
  /** A pump scheduled for the end of this turn of the event loop. */
  kicked: NodeJS.Immediate | undefined;
  readonly busy = new Set<Promise<void>>();
  private readonly incidents = new Map<string, IncidentQueue>();
  /** When each target's last send started (a counter), for round-robin across targets. */
  private readonly served = new Map<string, number>();
  /** Notifications queued per target: a target with none left is forgotten by `served`. */
  private readonly perTarget = new Map<string, number>();
  private seq = 0;
  private starts = 0;

  constructor(
    public notifier: Notifier,
    breaker: BreakerOptions,
  ) {
    this.breaker = new CircuitBreaker(breaker);
  }

  /** Notifications queued, those being sent included. */
  get size(): number {
    let size = 0;
    for (const q of this.incidents.values()) size += q.entries.length;
    return size;
  }

  /**
   * Queues `n` behind its incident's earlier notifications and returns those it supersedes, which
   * are dropped (see collapse.ts). Only what waits is collapsed, never a send in flight.
   */
  add(n: Notification): Notification[] {
    let q = this.incidents.get(n.incident);
    if (!q) this.incidents.set(n.incident, (q = { entries: [], attempts: 0, retryAt: 0 }));
    const dropped: Notification[] = [];
    const first = q.sending ? 1 : 0;
    // Walk back over the same alert's entries; the first one that stays stops the walk, so their order holds.
    for (let i = q.entries.length - 1; i >= first; i--) {
      const earlier = q.entries[i]!.n;
      if (earlier.channel !== n.channel || keyOf(earlier) !== keyOf(n)) continue;
      if (!supersedes(n, earlier, this.notifier.pages === true)) break;
      dropped.push(earlier);
      q.entries.splice(i, 1);
      this.count(earlier.target, -1);
      if (i === 0) Object.assign(q, { attempts: 0, retryAt: 0 }); // a new head starts its own count
    }
    q.entries.push({ n, seq: ++this.seq });
    this.count(n.target, 1);
    return dropped;
  }

  /** The next send that may start at `now` (marked in flight), or when to look again; `maxInFlight` caps the channel's sends. */
  turn(now: number, maxInFlight: number): LaneTurn {
    const blockedMs = Math.max(this.breaker.waitMs(now), this.pausedUntil - now);
    if (blockedMs > 0) return { wakeInMs: blockedMs };
    // Half-open admits one trial send; the rest wait for its verdict.
    if (this.inFlight >= maxInFlight || (this.inFlight > 0 && this.breaker.state(now) === "half-open")) return { wakeInMs: undefined };
    let best: { q: IncidentQueue; rank: [number, number, number] } | undefined;
    let soonest: number | undefined;
    for (const q of this.incidents.values()) {
      const head = q.entries[0];
      if (!head || q.sending) continue;
      if (q.retryAt > now) {
        soonest = Math.min(soonest ?? Infinity, q.retryAt - now);
        continue;
      }
      const n = head.n;
      const rank: [number, number, number] = [
        n.event === "trigger" ? (URGENCY[n.severity] ?? 3) : NOT_A_TRIGGER,
        this.served.get(n.target) ?? -1,
        head.seq,
      ];
      if (!best || before(rank, best.rank)) best = { q, rank };
    }
    if (!best) return { wakeInMs: soonest };
    const n = best.q.entries[0]!.n;
    best.q.sending = n;
    this.inFlight++;
    this.served.set(n.target, ++this.starts);
    return { send: n };
  }

  /** The send of `n` (its incident's head) ended. */
  ended(n: Notification): void {
    const q = this.incidents.get(n.incident);
    if (q?.sending === n) delete q.sending;
    this.inFlight--;
  }

  /** A failed attempt of `n`, its incident's head: returns the failed attempts so far. */
  failed(n: Notification): number {
    const q = this.incidents.get(n.incident);
    return q?.entries[0]?.n === n ? ++q.attempts : 1;
  }

  /** `n`, its incident's head, is tried again no earlier than `atMs`; the incident's later notifications wait behind it. */
  retryAt(n: Notification, atMs: number): void {
    const q = this.incidents.get(n.incident);
    if (q?.entries[0]?.n === n) q.retryAt = atMs;
  }

  /** `n` is done (delivered or given up on): its incident's next notification becomes the head. */
  done(n: Notification): void {
    const q = this.incidents.get(n.incident);
    if (!q || q.entries[0]?.n !== n) return;
    q.entries.shift();
    Object.assign(q, { attempts: 0, retryAt: 0 });
    if (q.sending === n) delete q.sending;
    if (q.entries.length === 0) this.incidents.delete(n.incident);
    this.count(n.target, -1);
  }

  private count(target: string, delta: number): void {
    const left = (this.perTarget.get(target) ?? 0) + delta;
    if (left > 0) return void this.perTarget.set(target, left);
    // A target with nothing left here owes no turn: keeping it would only grow the maps.
    this.perTarget.delete(target);
    this.served.delete(target);
  }
}

function before(a: [number, number, number], b: [number, number, number]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}
