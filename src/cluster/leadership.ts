import type pg from "pg";
import { describeError } from "../lib/errors.js";
import { destroyPg } from "../lib/pg.js";
import type { Logger } from "../lib/log.js";
import { leaderSql } from "./leader-sql.js";
import type { Role } from "./types.js";

export type { LeaderSeen, Role } from "./types.js";

// Who leads a cluster, decided in its PostgreSQL store. Two mechanisms, one for each way a leader
// fails:
// - A leader that dies: its session-level advisory lock goes with its connection, and a follower
//   polling for the lock takes over within a poll.
// - A leader that stalls (SIGSTOP, a GC pause, a network that stops without closing): its lease
//   runs out on the database's clock; a follower then ends the stalled leader's session, which
//   frees the lock. The stalled leader checks its own deadline on its monotonic clock before every
//   action, and every record it writes carries its epoch, which the database refuses once a new
//   leader has taken a higher one.
//
// Modes (changed only in `become`):
//   connecting -> follower           the leadership session is up; the lock is polled
//   follower   -> leader             the lock was free: epoch + 1, lease on the database's clock
//   leader     -> follower           a renewal was refused, the deadline passed, the session ended,
//                                    or the node was told to step down (the store refused a write)
//   any        -> connecting         the session failed; a leader steps down first
//   any        -> stopped            stop()

/** How a node takes part in leadership. */
export interface LeadershipOptions {
  cluster: string;
  node: string;
  /** How long a lease lasts on the database's clock. */
  ttlMs: number;
  /** A fresh client for the leadership session (its error listener attached, its statements bounded). */
  connect(): Promise<pg.Client>;
  log: Logger;
  /** How often a follower tries the lock (default 250 ms: a dead leader is replaced well within 2 s). */
  pollMs?: number;
  /** A monotonic clock in ms (default performance.now): it keeps counting through a SIGSTOP. */
  monotonic?: () => number;
  /** Told of every change of mode, after it happened. A listener that throws is logged. */
  onChange?(role: Role, previous: Role): void;
}

/** A lease is renewed this many times in its life: a missed renewal or two still leaves time to retry. */
const RENEWALS_PER_LEASE = 5;

/**
 * One node's side of leader election: a loop on its own PostgreSQL session that polls for the lock
 * as a follower and renews the lease as the leader. `standing(epoch)` is what the action gate asks.
 */
export class Leadership {
  private role: Role = { mode: "connecting" };
  private client: pg.Client | undefined;
  private readonly monotonic: () => number;
  private readonly pollMs: number;
  private readonly renewMs: number;
  /** The part of the lease a leader does not count on: rates of clocks differ, and a statement takes time. */
  private readonly marginMs: number;
  private wake: (() => void) | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private readonly sql: ReturnType<typeof leaderSql>;
  private readonly counts = { elected: 0, steppedDown: 0, fenced: 0 };

  constructor(private readonly opts: LeadershipOptions) {
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.pollMs = opts.pollMs ?? 250;
    this.renewMs = Math.floor(opts.ttlMs / RENEWALS_PER_LEASE);
    this.marginMs = Math.max(250, Math.floor(opts.ttlMs / 10));
    this.sql = leaderSql(opts.cluster, opts.node);
  }

  /** The name the leadership session carries in pg_stat_activity (how a follower finds a stalled leader's session). */
  get applicationName(): string {
    return this.sql.applicationName;
  }

  /** Starts the loop; resolves at once. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Steps down (if leading) and ends the session. */
  async stop(): Promise<void> {
    this.become({ mode: "stopped" });
    this.wake?.();
    await this.loop;
  }

  /** This node's part now. */
  current(): Role {
    return this.role;
  }

  /** Elections this node won, times it stepped down, stalled leaders it fenced off (metrics). */
  stats(): Readonly<typeof this.counts> {
    return this.counts;
  }

  /**
   * Why this node may not act for `epoch` now, or undefined when it may: it leads at that epoch and
   * its lease, counted on the monotonic clock from before the renewal was sent, has not run out.
   */
  standing(epoch: number): string | undefined {
    const r = this.role;
    if (r.mode !== "leader") return `this node is ${r.mode === "follower" ? "a follower" : r.mode}`;
    if (r.epoch !== epoch) return `leadership moved from epoch ${epoch} to ${r.epoch}`;
    const left = r.deadlineMs - this.monotonic();
    if (left <= 0) return `its lease at epoch ${epoch} ran out ${Math.round(-left)} ms ago and was not renewed`;
    return undefined;
  }

  /** Gives up the lead at once (the store refused a write at this epoch): nothing more is done as leader. */
  stepDown(why: string): void {
    if (this.role.mode !== "leader") return;
    this.opts.log.warn({ epoch: this.role.epoch, why }, "stepping down as leader");
    this.dropSession(`stepped down: ${why}`);
  }

  // Read through a call: the mode changes while a statement is awaited.
  private stopped(): boolean {
    return this.role.mode === "stopped";
  }

  private async run(): Promise<void> {
    while (this.role.mode !== "stopped") {
      try {
        if (!this.client) await this.open();
        else if (this.role.mode === "leader") await this.renew(this.role.epoch);
        else await this.tryLead();
      } catch (err) {
        if (this.stopped()) break;
        // Said once per outage; the retries while the store stays away are only worth a debug line.
        const level = this.role.mode === "connecting" ? "debug" : "warn";
        this.opts.log[level]({ err: describeError(err), mode: this.role.mode }, "the leadership session failed");
        this.dropSession(`the leadership session failed: ${describeError(err)}`);
      }
      await this.sleep(this.role.mode === "leader" ? this.renewMs : this.role.mode === "connecting" ? this.pollMs * 4 : this.pollMs);
    }
    await this.client?.end().catch(() => {});
    this.client = undefined;
  }

  private async open(): Promise<void> {
    const client = await this.opts.connect();
    if (this.stopped()) {
      await client.end().catch(() => {});
      return;
    }
    // The session ending is how a leader learns at once that its lock is gone.
    client.on("end", () => {
      if (this.client === client) this.dropSession("the leadership session ended");
    });
    try {
      await client.query(this.sql.setName);
    } catch (err) {
      destroyPg(client);
      throw err;
    }
    this.client = client;
    this.become({ mode: "follower" });
  }

  private async tryLead(): Promise<void> {
    const client = this.client!;
    const { rows } = await client.query<{ got: boolean }>(this.sql.tryLock);
    if (!rows[0]?.got) {
      await this.watchLeader(client);
      return;
    }
    const sent = this.monotonic();
    const won = await this.sql.takeOver(client, this.opts.ttlMs);
    if (this.stopped() || this.client !== client) return;
    this.counts.elected++;
    this.opts.log.warn({ epoch: won.epoch, previous: won.previous }, "leading the cluster");
    this.become({ mode: "leader", epoch: won.epoch, since: Date.now(), deadlineMs: sent + this.opts.ttlMs - this.marginMs });
  }

  // A follower that cannot get the lock looks at the lease: one past its end on the database's clock
  // belongs to a stalled leader, whose session is ended so that the lock comes free.
  private async watchLeader(client: pg.Client): Promise<void> {
    const seen = await this.sql.leader(client);
    if (this.role.mode === "follower") this.role = { mode: "follower", ...(seen && { leader: seen.leader }) };
    if (!seen?.expired || seen.pid === null || seen.leader.node === this.opts.node) return;
    const ended = await this.sql.endSession(client, seen.pid, seen.leader.node ?? "");
    if (!ended) return;
    this.counts.fenced++;
    this.opts.log.warn(
      { leader: seen.leader.node, epoch: seen.leader.epoch, pid: seen.pid },
      "ended the session of a leader whose lease ran out",
    );
  }

  private async renew(epoch: number): Promise<void> {
    const client = this.client!;
    const sent = this.monotonic();
    let renewed: boolean;
    try {
      renewed = await this.sql.renew(client, epoch, this.opts.ttlMs);
    } catch (err) {
      // A failed renewal is retried until the deadline: the lease still covers this node till then.
      if (this.role.mode === "leader" && this.role.deadlineMs > this.monotonic()) {
        this.opts.log.warn({ err: describeError(err), epoch }, "could not renew the lease; retrying until it runs out");
        return;
      }
      throw err;
    }
    if (this.role.mode !== "leader" || this.role.epoch !== epoch || this.client !== client) return;
    if (!renewed) {
      this.stepDown(`the lease at epoch ${epoch} is no longer ours: another node leads`);
      return;
    }
    this.role = { ...this.role, deadlineMs: sent + this.opts.ttlMs - this.marginMs };
    this.armDeadline();
  }

  // Ends the session (which lets go of the lock once the server sees it close) and starts over.
  private dropSession(why: string): void {
    const client = this.client;
    this.client = undefined;
    if (client) destroyPg(client);
    if (this.role.mode === "leader") this.counts.steppedDown++;
    if (this.role.mode !== "stopped") this.become({ mode: "connecting", why });
    this.wake?.();
  }

  // The moment a lease runs out unrenewed, the node gives up the lead: what it has in flight is cut
  // off then, not when a renewal that hangs finally fails (a follower may be leading by that time).
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    const r = this.role;
    if (r.mode !== "leader") return;
    this.deadlineTimer = setTimeout(
      () => {
        if (this.role !== r && !(this.role.mode === "leader" && this.role.epoch === r.epoch && this.role.deadlineMs > r.deadlineMs)) return;
        if (this.role.mode !== "leader" || this.role.deadlineMs > this.monotonic()) return this.armDeadline();
        this.opts.log.warn({ epoch: r.epoch }, "the lease ran out before it could be renewed: giving up the lead");
        this.dropSession(`the lease at epoch ${r.epoch} ran out before it could be renewed`);
      },
      Math.max(0, r.deadlineMs - this.monotonic()),
    );
    this.deadlineTimer.unref();
  }

  private become(next: Role): void {
    const previous = this.role;
    if (previous.mode === "stopped") return;
    this.role = next;
    this.armDeadline();
    if (previous.mode === next.mode && next.mode !== "leader") return;
    try {
      this.opts.onChange?.(next, previous);
    } catch (err) {
      this.opts.log.error({ err: describeError(err) }, "a leadership listener failed");
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
