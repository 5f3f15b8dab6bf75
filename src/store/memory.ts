import type { Incident, IncidentEvent, JournalRecord } from "../incidents/types.js";
import type { Clock } from "../lib/clock.js";
import { redactor } from "../lib/redact.js";
import { LiveSet, type LiveWindow } from "./live.js";
import { afterCursor, checkLimit, decodeCursor, matches, NewestK, pageOf } from "./query.js";
import { findIn } from "./find.js";
import { checkPrecondition } from "./precondition.js";
import type { AppendOutcome, Found, HistoryPage, HistoryQuery, IncidentStore, Precondition } from "./types.js";

/** How a memory store is set up; every field has a default. */
export interface MemoryStoreOptions extends Partial<LiveWindow> {
  /**
   * A store to start from, read only (a dry run: the real store's live view, its history behind
   * it). Its live incidents are copied; this store never writes to it.
   */
  base?: IncidentStore;
  /** Incidents that left the live view kept for find and history (oldest forgotten first). */
  keep?: number;
  clock?: Pick<Clock, "now">;
}

/** Incidents that left the live view a memory store keeps for `find` and `history` by default. */
export const MEMORY_KEEP = 10_000;

/**
 * Keeps records in memory only: tests, and a dry run's overlay, which starts from the real store's
 * live view and writes nothing anywhere. Bounded like the file store: the live view by the window
 * and the cap, what left it by `keep`.
 */
export class MemoryStore implements IncidentStore {
  private readonly set: LiveSet;
  /** Incidents that left the live view, oldest first. */
  private readonly gone = new Map<string, Incident>();
  private readonly base: IncidentStore | undefined;
  private readonly keep: number;
  private readonly clock: Pick<Clock, "now">;
  private lastSeq: number;
  private epoch = 0;

  constructor(opts: MemoryStoreOptions = {}) {
    this.set = new LiveSet({
      recentMs: opts.recentMs ?? Infinity,
      ...(opts.maxResolved !== undefined && { maxResolved: opts.maxResolved }),
      ...(opts.owed && { owed: opts.owed }),
    });
    this.base = opts.base;
    this.keep = opts.keep ?? MEMORY_KEEP;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.lastSeq = opts.base?.seq() ?? 0;
    for (const incident of opts.base?.live().values() ?? []) this.set.restore(structuredClone(incident));
    this.set.reorder();
  }

  append(incident: string, event: IncidentEvent, at: number, expect?: Precondition): AppendOutcome {
    const refused = checkPrecondition(expect, this.lastSeq, this.epoch);
    if (refused) return refused;
    if (expect?.epoch !== undefined) this.epoch = Math.max(this.epoch, expect.epoch);
    // What the API, the CLI, postmortems and notifications are made from: no secret enters it.
    const record = { ...redactor.value({ ...event, at, incident } as JournalRecord), seq: ++this.lastSeq };
    const back = this.gone.get(incident);
    if (back && !this.set.incidents.has(incident)) {
      this.gone.delete(incident);
      this.set.restore(back);
    }
    this.set.apply(record);
    this.set.sweep(this.clock.now(), (i) => this.forget(i));
    return { ok: true, record };
  }

  flushed(): Promise<void> {
    return Promise.resolve();
  }

  seq(): number {
    return this.lastSeq;
  }

  live(): ReadonlyMap<string, Incident> {
    return this.set.incidents;
  }

  async find(id: string): Promise<Found> {
    const here = findIn([this.set.incidents.values(), this.gone.values()], id);
    if (here.found || here.ambiguous || !this.base) return here;
    const there = await this.base.find(id);
    return there.found && this.set.incidents.has(there.found.id) ? { found: this.set.incidents.get(there.found.id)! } : there;
  }

  async history(q: HistoryQuery): Promise<HistoryPage> {
    const limit = checkLimit(q.limit);
    const cursor = decodeCursor(q.cursor);
    const top = new NewestK<Incident>(limit);
    for (const source of [this.set.incidents.values(), this.gone.values()])
      for (const i of source) if (matches(i, q) && afterCursor(i, cursor)) top.offer(i);
    // The base's history behind ours: its incidents this store holds a copy of are ours now.
    let next = q.cursor;
    while (this.base) {
      const page = await this.base.history({ ...q, limit, ...(next !== undefined && { cursor: next }) });
      for (const i of page.incidents) if (!this.set.incidents.has(i.id) && !this.gone.has(i.id)) top.offer(i);
      const last = page.incidents[page.incidents.length - 1];
      if (!page.next || !last || (top.full() && last.openedAt < top.floor())) break;
      next = page.next;
    }
    return pageOf(top.sorted(), limit);
  }

  problem(): string | undefined {
    return undefined;
  }

  async close(): Promise<void> {}

  private forget(incident: Incident): boolean {
    this.gone.set(incident.id, incident);
    if (this.gone.size > this.keep) this.gone.delete(this.gone.keys().next().value!);
    return true;
  }
}
