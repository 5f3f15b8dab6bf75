import type { Incident, IncidentState } from "../incidents/types.js";
import { MedicError } from "../lib/errors.js";
import type { HistoryQuery } from "./types.js";

// What every backend shares to answer a history query the same way: which incidents match, the
// order (newest opened first, then id), and the cursor that continues after a page.

/** What a query filters and orders on: an incident, or its line in the file store's index. */
export interface Listed {
  id: string;
  target: string;
  state: IncidentState;
  openedAt: number;
  resolvedAt?: number;
  root?: string;
}

/** Where the page before ended: the next page has only incidents after it in the order. */
export interface Cursor {
  openedAt: number;
  id: string;
}

/** Whether an incident is one the query asks for (the cursor and the limit aside). */
export function matches(i: Listed, q: HistoryQuery): boolean {
  if (q.target !== undefined && i.target !== q.target) return false;
  if (q.root !== undefined && i.root !== q.root) return false;
  if (q.state !== undefined && (q.state === "unresolved" ? i.state === "resolved" : i.state !== q.state)) return false;
  if (q.until !== undefined && i.openedAt > q.until) return false;
  if (q.since !== undefined && (i.resolvedAt ?? Infinity) < q.since) return false;
  return true;
}

/** The history order: newest opened first, ties by id (descending), so every page boundary is exact. */
export function newestFirst(a: Cursor, b: Cursor): number {
  return b.openedAt - a.openedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Whether `i` comes after the cursor in the history order (belongs to a later page). */
export function afterCursor(i: Cursor, cursor: Cursor | undefined): boolean {
  return cursor === undefined || newestFirst(cursor, i) < 0;
}

/** The opaque `next` of a page that ended with `last`. */
export function encodeCursor(last: Cursor): string {
  return `${last.openedAt}.${last.id}`;
}

/** The position a `next` stands for; a cursor that is not one of ours is refused, naming it. */
export function decodeCursor(text: string | undefined): Cursor | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d{1,16})\.([A-Za-z0-9:_-]{1,128})$/.exec(text);
  if (!m) {
    throw new MedicError("BAD_CURSOR", `not a history cursor: ${JSON.stringify(text.slice(0, 80))}`, {
      hint: "pass the `next` of the page before, unchanged",
    });
  }
  return { openedAt: Number(m[1]), id: m[2]! };
}

/**
 * The `limit` first items in the history order among those offered, held in a bounded sorted
 * array: a query over a history of any length keeps at most `limit` of them at once.
 */
export class NewestK<T extends Cursor> {
  private readonly items: T[] = [];

  constructor(private readonly limit: number) {}

  /** Offers one; it is kept when it is among the `limit` first so far. */
  offer(item: T): void {
    if (this.full() && newestFirst(item, this.items[this.items.length - 1]!) >= 0) return;
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (newestFirst(this.items[mid]!, item) <= 0) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, item);
    if (this.items.length > this.limit) this.items.pop();
  }

  /** Whether `limit` items are held. */
  full(): boolean {
    return this.items.length >= this.limit;
  }

  /** The last kept item's opening time: an item opened earlier cannot get in once full. */
  floor(): number {
    return this.full() ? this.items[this.items.length - 1]!.openedAt : -Infinity;
  }

  /** The kept items, in the history order. */
  sorted(): T[] {
    return this.items;
  }
}

/** A page of incidents from the newest-first candidates: `next` is set when the page is full. */
export function pageOf(incidents: Incident[], limit: number): { incidents: Incident[]; next?: string } {
  const page = incidents.slice(0, limit);
  const last = page[page.length - 1];
  return { incidents: page, ...(page.length === limit && last && { next: encodeCursor(last) }) };
}

/** A query's limit, checked: a whole number of at least 1. */
export function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new MedicError("BAD_LIMIT", `a history page's limit must be a whole number of at least 1 (got ${limit})`, {
      hint: "like limit: 50",
    });
  }
  return limit;
}
