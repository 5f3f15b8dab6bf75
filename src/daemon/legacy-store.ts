import type { Config } from "../config/types.js";
import { JournalStore } from "../incidents/journal.js";
import { readJournal, SKIPPED_LINES, type JournalScan } from "../incidents/journal-read.js";
import { MemoryStore, type IncidentStore as OldStore } from "../incidents/store.js";
import type { Incident, IncidentEvent } from "../incidents/types.js";
import type { Logger } from "../lib/log.js";
import type { AppendOutcome, Found, HistoryPage, HistoryQuery, IncidentStore, Precondition } from "../store/types.js";

// A bridge from the single-file journal (every incident in memory, fsync per record) to the store
// interface, until the segmented file store replaces it. Numbering, preconditions and paging are
// done here, in memory, as that store did everything.

/** The old journal or memory store, seen through the store interface. */
export function legacyStore(old: OldStore & { problem?(): string | undefined }): IncidentStore {
  let seq = 0;
  for (const incident of old.incidents().values()) seq += incident.timeline.length;
  return {
    append(incident: string, event: IncidentEvent, at: number, expect?: Precondition): AppendOutcome {
      if (expect?.seq !== undefined && expect.seq !== seq)
        return { ok: false, reason: "conflict", detail: `expected seq ${expect.seq}, the store is at ${seq}` };
      seq++;
      return { ok: true, record: old.append(incident, event, at) };
    },
    flushed: () => Promise.resolve(),
    seq: () => seq,
    live: () => old.incidents(),
    async find(id: string): Promise<Found> {
      const exact = old.incidents().get(id);
      if (exact) return { found: exact };
      const matches = id.length >= 4 ? [...old.incidents().values()].filter((i) => i.id.startsWith(id)) : [];
      return matches.length === 1 ? { found: matches[0]! } : { found: undefined, ...(matches.length > 1 && { ambiguous: matches.length }) };
    },
    async history(q: HistoryQuery): Promise<HistoryPage> {
      const keep = (i: Incident) =>
        (q.state === undefined || (q.state === "unresolved" ? i.state !== "resolved" : i.state === q.state)) &&
        (q.target === undefined || i.target === q.target) &&
        (q.root === undefined || i.root === q.root) &&
        (q.until === undefined || i.openedAt <= q.until) &&
        (q.since === undefined || (i.resolvedAt ?? Infinity) >= q.since);
      const all = [...old.incidents().values()].filter(keep).sort((a, b) => b.openedAt - a.openedAt || (a.id < b.id ? 1 : -1));
      const from = q.cursor ? Number(q.cursor) : 0;
      const page = all.slice(from, from + q.limit);
      return { incidents: page, ...(from + q.limit < all.length && { next: String(from + q.limit) }) };
    },
    problem: () => old.problem?.(),
    async close() {
      old.close();
    },
  };
}

/** The journal in the state dir; a dry run starts from it (read only, so its guards decide on the real history) and writes nothing. */
export function openJournal(config: Config, log: Logger, dryRun: boolean): JournalStore | MemoryStore {
  if (!dryRun) return new JournalStore(config.stateDir, { log });
  const warnSkipped = (_: string, { journal, skipped, oversized }: JournalScan & { journal: string }) =>
    log.warn({ journal, skipped, oversized }, SKIPPED_LINES);
  return new MemoryStore(readJournal(config.stateDir, warnSkipped));
}
