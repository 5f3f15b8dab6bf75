import type pg from "pg";
import type { Incident, IncidentEvent, JournalRecord } from "../../incidents/types.js";
import type { Clock } from "../../lib/clock.js";
import { describeError } from "../../lib/errors.js";
import type { Logger } from "../../lib/log.js";
import { pgErrorCode } from "../../lib/pg.js";
import { redactor } from "../../lib/redact.js";
import { findIn, MIN_PREFIX } from "../find.js";
import { LiveSet, MAX_RESOLVED_LIVE } from "../live.js";
import { checkPrecondition } from "../precondition.js";
import { afterCursor, checkLimit, decodeCursor, matches, NewestK, pageOf, type Cursor } from "../query.js";
import type { AppendOutcome, Found, HistoryPage, HistoryQuery, IncidentStore, Precondition } from "../types.js";
import { historyRows, loadLive, recordsAfter, storedByPrefix, storedFolds, storedIncident } from "./read.js";
import { jsonText, lastSeqOf, rowOf, writeBatch, type Batch } from "./sql.js";

/** How a PostgreSQL store is opened. The caller owns the pool (and migrated it). */
export interface PgStoreOptions {
  pool: pg.Pool;
  cluster: string;
  node: string;
  /** How long a resolved incident stays in the live view. */
  recentMs: number;
  log: Logger;
  clock?: Pick<Clock, "now">;
  /** Write mode: the leader's epoch. Absent: a follower's read-only view (append refuses). */
  epoch?: number;
  /** Told once when the database refused a write because the epoch moved on (fenced). */
  onRefused?: (detail: string) => void;
}

/** Waits between attempts at a batch PostgreSQL did not take. */
const RETRY_MS = [100, 250, 500, 1000, 2000];
/** How long close() lets the writer try before it gives up on what waits. */
const CLOSE_WAIT_MS = 3000;
/** Records one refresh folds at most (the next one continues). */
const REFRESH_ROWS = 5000;

const delay = (ms: number) => new Promise<void>((done) => setTimeout(done, ms).unref());

/**
 * The cluster's store: records and the incidents they fold into, in PostgreSQL, shared by every
 * node. The leader's store (with an epoch) folds each append in memory at once and writes records
 * in batches, each refused by the database once another node leads; a follower's store is a
 * read-only view that `refresh` brings up to date.
 */
export class PgStore implements IncidentStore {
  private readonly set: LiveSet;
  private readonly clock: Pick<Clock, "now">;
  private lastSeq: number;
  /** Records appended and not yet committed, in seq order. */
  private queue: JournalRecord[] = [];
  /** Incidents with records in the queue: their fold in memory, or undefined when it is folded in the database. */
  private readonly dirty = new Map<string, Incident | undefined>();
  private waiters: { seq: number; done: () => void }[] = [];
  private writing: Promise<void> | undefined;
  private refreshing: Promise<number> | undefined;
  /** Why the last write attempt failed, while records wait. */
  private writeTrouble: string | undefined;
  private readTrouble: string | undefined;
  private fenced: string | undefined;
  private closed = false;
  private stopped = false;

  private constructor(
    private readonly opts: PgStoreOptions,
    incidents: Incident[],
    seq: number,
  ) {
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.set = new LiveSet({ recentMs: opts.recentMs });
    for (const i of incidents) this.set.restore(i);
    this.set.reorder();
    this.lastSeq = seq;
  }

  /** Loads the live view and the newest seq of the cluster. Rejects when PostgreSQL cannot be read. */
  static async open(opts: PgStoreOptions): Promise<PgStore> {
    const now = (opts.clock ?? { now: () => Date.now() }).now();
    const { incidents, seq } = await loadLive(opts.pool, opts.cluster, {
      recentSince: now - opts.recentMs,
      maxResolved: MAX_RESOLVED_LIVE,
    });
    return new PgStore(opts, incidents, seq);
  }

  append(incident: string, event: IncidentEvent, at: number, expect?: Precondition): AppendOutcome {
    const no =
      this.fenced ??
      (this.closed ? "the store is closed" : undefined) ??
      (this.opts.epoch === undefined ? "this node is not the leader: its view of the PostgreSQL store is read-only" : undefined);
    if (no) return { ok: false, reason: "conflict", detail: no };
    const refused = checkPrecondition(expect, this.lastSeq, this.opts.epoch!);
    if (refused) return refused;
    // What the API, the CLI, postmortems and notifications are made from: no secret enters it.
    const record = { ...redactor.value({ ...event, at, incident } as JournalRecord), seq: ++this.lastSeq };
    const held = this.set.apply(record);
    this.dirty.set(incident, held ? this.set.incidents.get(incident) : undefined);
    this.queue.push(record);
    // An incident leaves memory only once written: until then, its fold here is the only one.
    this.set.sweep(this.clock.now(), (i) => !this.dirty.has(i.id));
    this.kick();
    return { ok: true, record };
  }

  flushed(): Promise<void> {
    // Records PostgreSQL does not take wait in memory (problem() says so): nobody waits on them.
    if (this.queue.length === 0 || this.fenced || this.writeTrouble || this.stopped) return Promise.resolve();
    return new Promise((done) => this.waiters.push({ seq: this.lastSeq, done }));
  }

  seq(): number {
    return this.lastSeq;
  }

  live(): ReadonlyMap<string, Incident> {
    return this.set.incidents;
  }

  async find(id: string): Promise<Found> {
    const here = findIn([this.set.incidents.values()], id);
    if (here.found) return here;
    const exact = await storedIncident(this.opts.pool, this.opts.cluster, id);
    if (exact) return { found: exact };
    if (id.length < MIN_PREFIX) return { found: undefined };
    const mine = [...this.set.incidents.keys()].filter((k) => k.startsWith(id));
    const there = await storedByPrefix(this.opts.pool, this.opts.cluster, id, mine);
    const count = mine.length + there.count;
    if (count > 1) return { found: undefined, ambiguous: count };
    if (mine.length === 1) return { found: this.set.incidents.get(mine[0]!)! };
    return there.one ? { found: there.one } : { found: undefined };
  }

  async history(q: HistoryQuery): Promise<HistoryPage> {
    const limit = checkLimit(q.limit);
    let cursor: Cursor | undefined = decodeCursor(q.cursor);
    const live = this.set.incidents;
    const top = new NewestK<Incident>(limit);
    for (const i of live.values()) if (matches(i, q) && afterCursor(i, cursor)) top.offer(i);
    // The stored pages behind the live view: an incident held in memory is shown as folded here.
    for (;;) {
      const rows = await historyRows(this.opts.pool, this.opts.cluster, q, cursor, limit);
      for (const i of rows) if (!live.has(i.id)) top.offer(i);
      const last = rows[rows.length - 1];
      if (!last || rows.length < limit || (top.full() && last.openedAt < top.floor())) break;
      cursor = last;
    }
    return pageOf(top.sorted(), limit);
  }

  /** Follower: folds the records committed since the last look (seq > mine); how many. Never throws (logs, returns 0). */
  refresh(): Promise<number> {
    if (this.opts.epoch !== undefined || this.closed) return Promise.resolve(0);
    this.refreshing ??= this.pull().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** Why this store may no longer write (the database refused its epoch), or undefined. */
  refusal(): string | undefined {
    return this.fenced;
  }

  problem(): string | undefined {
    if (this.fenced) return `this node may no longer write to the PostgreSQL store: ${this.fenced}`;
    if (this.writeTrouble && this.queue.length > 0)
      return `${this.queue.length} journal records waiting in memory for PostgreSQL: ${this.writeTrouble}`;
    return this.readTrouble;
  }

  /** Lets the writer commit what waits for a few seconds at most; never ends the pool (the caller owns it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.writing) await Promise.race([this.writing, delay(CLOSE_WAIT_MS)]);
    this.stopped = true;
    if (this.queue.length > 0 && !this.fenced)
      this.opts.log.error({ lost: this.queue.length }, "medic stops with journal records never written to PostgreSQL");
    this.release(() => true);
  }

  // --- the writer ---

  // Starts the writer unless it runs. It starts itself again for a record appended after its last
  // look at the queue but before it ended (a flushed() waiter's continuation appending at once).
  private kick(): void {
    if (this.writing || this.stopped || this.fenced) return;
    this.writing = this.drain().finally(() => {
      this.writing = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  // One batch at a time, everything queued so far, until the queue is empty, fenced, or stopped.
  private async drain(): Promise<void> {
    await new Promise((next) => setImmediate(next)); // appends of the same tick share a batch
    let failures = 0;
    while (this.queue.length > 0 && !this.fenced && !this.stopped) {
      const count = this.queue.length;
      try {
        const outcome = await writeBatch(this.opts.pool, this.takeBatch());
        if (!outcome.ok) this.fence(outcome.fenced);
        else this.committed(count);
        failures = 0;
      } catch (err) {
        this.failed(err);
        await delay(RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)]!);
      }
    }
  }

  private takeBatch(): Batch {
    const inMemory: Incident[] = [];
    const elsewhere = new Map<string, JournalRecord[]>();
    for (const r of this.queue) {
      const fold = this.dirty.get(r.incident);
      if (fold) {
        if (!inMemory.includes(fold)) inMemory.push(fold);
      } else elsewhere.set(r.incident, [...(elsewhere.get(r.incident) ?? []), r]);
    }
    const { cluster, node, epoch } = this.opts;
    // Serialised now: the folds in memory keep changing while the batch is on its way.
    return { cluster, node, epoch: epoch!, records: jsonText(this.queue), incidents: jsonText(inMemory.map(rowOf)), elsewhere };
  }

  private committed(count: number): void {
    const done = this.queue.splice(0, count);
    const waiting = new Set(this.queue.map((r) => r.incident));
    for (const r of done) if (!waiting.has(r.incident)) this.dirty.delete(r.incident);
    if (this.writeTrouble)
      this.opts.log.warn({ written: count }, "PostgreSQL takes the store's writes again; the records kept in memory are written");
    this.writeTrouble = undefined;
    const upTo = done[done.length - 1]?.seq ?? 0;
    this.release((seq) => seq <= upTo);
    this.set.sweep(this.clock.now(), (i) => !this.dirty.has(i.id));
  }

  private failed(err: unknown): void {
    // pg's messages name the server at most, never the URL; the redactor sees them anyway.
    const why = `${pgErrorCode(err)}: ${redactor.text(describeError(err))}`;
    if (!this.writeTrouble)
      this.opts.log.error(
        { err: why, waiting: this.queue.length },
        "cannot write to the PostgreSQL store; keeping records in memory and trying again",
      );
    this.writeTrouble = why;
    this.release(() => true);
  }

  private fence(detail: string): void {
    this.fenced = detail;
    this.opts.log.error({ detail, unwritten: this.queue.length }, "the PostgreSQL store refused this node's writes: its epoch is over");
    this.release(() => true);
    if (this.stopped) return;
    try {
      this.opts.onRefused?.(detail);
    } catch (err) {
      this.opts.log.error({ err: describeError(err) }, "the store's onRefused listener threw");
    }
  }

  private release(which: (seq: number) => boolean): void {
    const now = this.waiters.filter((w) => which(w.seq));
    this.waiters = this.waiters.filter((w) => !which(w.seq));
    for (const w of now) w.done();
  }

  // --- the follower ---

  private async pull(): Promise<number> {
    const { pool, cluster } = this.opts;
    try {
      const records = await recordsAfter(pool, cluster, this.lastSeq, REFRESH_ROWS);
      const missing = new Set(records.filter((r) => r.type !== "opened" && !this.set.incidents.has(r.incident)).map((r) => r.incident));
      if (missing.size > 0) {
        for (const fold of await storedFolds(pool, cluster, [...missing])) this.set.restore(fold);
        this.set.reorder();
      }
      for (const r of records) {
        const held = this.set.incidents.get(r.incident);
        // A fold loaded from medic_incidents may already hold this record (it can be newer than our seq).
        if (held && lastSeqOf(held) >= (r.seq ?? 0)) continue;
        this.set.apply(r);
      }
      this.lastSeq = records[records.length - 1]?.seq ?? this.lastSeq;
      this.set.sweep(this.clock.now(), () => true);
      if (this.readTrouble) this.opts.log.warn({}, "the PostgreSQL store can be read again");
      this.readTrouble = undefined;
      return records.length;
    } catch (err) {
      const why = `${pgErrorCode(err)}: ${redactor.text(describeError(err))}`;
      if (!this.readTrouble) this.opts.log.error({ err: why }, "cannot read the PostgreSQL store; the live view is not up to date");
      this.readTrouble = `cannot read the PostgreSQL store: ${why}`;
      return 0;
    }
  }
}
