import { join } from "node:path";
import type { Incident } from "../../incidents/types.js";
import { findIn, MIN_PREFIX } from "../find.js";
import { afterCursor, checkLimit, decodeCursor, matches, NewestK, pageOf } from "../query.js";
import type { Found, HistoryPage, HistoryQuery } from "../types.js";
import { evOf, lineIdStartsWith, numberField, parseEntry, type IndexEntry } from "./index-file.js";
import { indexName, listJournal } from "./layout.js";
import { foldEntry, SegmentFiles } from "./read-records.js";
import { readLinesBackwards } from "./reverse-lines.js";

/** Folded incidents kept for the next request (a few pages of every client's view; about 2 KB each). */
const FOLDED_KEPT = 1_000;

/**
 * History as the file store answers it: the live incidents in memory, then the index from its
 * newest line back, stopping as soon as no older line can belong to the page (an incident left
 * memory after it opened and after it resolved, and the index is in the order they left). Only
 * the incidents on the page are folded, from their own lines in the segments.
 */
export class FileHistory {
  /**
   * Incidents folded from the segments lately, by id and how many records they have: an index
   * entry never changes (an amendment adds records, and so a new key), so the pages clients poll
   * over and over are folded once, not per request.
   */
  private readonly folded = new Map<string, Incident>();

  constructor(
    private readonly dir: string,
    private readonly live: () => ReadonlyMap<string, Incident>,
  ) {}

  async find(id: string): Promise<Found> {
    const live = this.live();
    const here = findIn([live.values()], id);
    if (here.found?.id === id) return here;
    // Shorter than a prefix may be: only a whole id counts.
    const exactOnly = id.length < MIN_PREFIX;
    const prefix = Buffer.from(id);
    const matched = new Map<string, IndexEntry>();
    const amendments = new Map<string, number[]>();
    for (const n of listJournal(this.dir).indexes.reverse()) {
      const more = await readLinesBackwards(join(this.dir, indexName(n)), (line) => {
        if (!lineIdStartsWith(line, prefix)) return true;
        const entry = parseEntry(line);
        if (!entry || live.has(entry.id) || (exactOnly && entry.id !== id)) return true;
        if (entry.amend) amendments.set(entry.id, [...entry.pos, ...(amendments.get(entry.id) ?? [])]);
        else if (!matched.has(entry.id)) matched.set(entry.id, entry);
        // A whole id is unique: no need to read on.
        return !(entry.id === id && !entry.amend);
      });
      if (!more) break;
    }
    const count = matched.size + (here.found ? 1 : (here.ambiguous ?? 0));
    if (count > 1) return { found: undefined, ambiguous: count };
    if (here.found) return here;
    const entry = [...matched.values()][0];
    if (!entry) return { found: undefined };
    return { found: this.fold([entry], amendments)[0]! };
  }

  async history(q: HistoryQuery): Promise<HistoryPage> {
    const limit = checkLimit(q.limit);
    const cursor = decodeCursor(q.cursor);
    const live = this.live();
    const top = new NewestK<Incident | IndexEntry>(limit);
    for (const i of live.values()) if (matches(i, q) && afterCursor(i, cursor)) top.offer(i);
    const amendments = new Map<string, number[]>();
    // The index holds resolved incidents only.
    if (q.state === undefined || q.state === "resolved") {
      const since = q.since ?? (q.root !== undefined ? await this.openedAt(q.root) : undefined) ?? -Infinity;
      const needle = q.target !== undefined ? Buffer.from(`"target":${JSON.stringify(q.target)},`) : undefined;
      for (const n of listJournal(this.dir).indexes.reverse()) {
        const more = await readLinesBackwards(join(this.dir, indexName(n)), (line) => {
          const ev = evOf(line);
          if (ev !== undefined && (ev < since || ev < top.floor())) return false;
          const amend = line.includes('"amend":true');
          if (!amend) {
            // Cheap tests on the bytes first: most lines of a long scan are on other pages, or other targets'.
            const openedAt = numberField(line, "openedAt");
            if (openedAt !== undefined && ((cursor && openedAt > cursor.openedAt) || openedAt < top.floor())) return true;
            if (needle && !line.includes(needle)) return true;
          }
          const entry = parseEntry(line);
          if (!entry || live.has(entry.id)) return true;
          if (entry.amend) amendments.set(entry.id, [...entry.pos, ...(amendments.get(entry.id) ?? [])]);
          else if (matches(entry, q) && afterCursor(entry, cursor)) top.offer(entry);
          return true;
        });
        if (!more) break;
      }
    }
    return pageOf(this.fold(top.sorted(), amendments), limit);
  }

  /** Index entries on a page, folded from the segments; live incidents as they are. */
  private fold(items: (Incident | IndexEntry)[], amendments: Map<string, number[]>): Incident[] {
    let files: SegmentFiles | undefined;
    try {
      return items.map((i) => {
        if (!("pos" in i)) return i;
        const more = amendments.get(i.id);
        const key = `${i.id}:${i.pos.length + (more?.length ?? 0)}`;
        let incident = this.folded.get(key);
        if (incident) this.folded.delete(key);
        else incident = foldEntry((files ??= new SegmentFiles(this.dir)), i, more);
        this.folded.set(key, incident);
        if (this.folded.size > FOLDED_KEPT) this.folded.delete(this.folded.keys().next().value!);
        return incident;
      });
    } finally {
      files?.close();
    }
  }

  // Incidents suppressed under a root opened after it: the scan for them stops there.
  private async openedAt(root: string): Promise<number | undefined> {
    return (await this.find(root)).found?.openedAt;
  }
}
