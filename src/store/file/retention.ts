import { rmSync } from "node:fs";
import { join } from "node:path";
import { lastEvOf, parseEntry } from "./index-file.js";
import { indexName, listJournal, segmentName } from "./layout.js";
import { scanLines } from "./lines.js";

/** What retention needs to know besides the files. */
export interface Retention {
  /** Incidents that left memory before this are pruned (with the index file they are in). */
  cutoff: number;
  /** Segments from this one on are kept whatever: the live incidents', the snapshot's tail, the one being written. */
  keepFrom: number;
  /** The index file being written: never pruned. */
  currentIndex: number;
  /** Per index file, the oldest segment its incidents have records in (filled in here when missing). */
  firstSegment: Map<number, number>;
  /** Per closed index file, its last line's `ev` (a closed file never changes, so it is read once). */
  lastEv: Map<number, number | undefined>;
}

/**
 * Prunes resolved history older than the cutoff: index files whose newest line left memory before
 * it, then the segments no remaining index line, live incident or snapshot needs. Whole files only,
 * so nothing is rewritten. Returns the files removed.
 */
export function prune(dir: string, r: Retention): { indexes: number[]; segments: number[] } {
  const { segments, indexes } = listJournal(dir);
  const removed = { indexes: [] as number[], segments: [] as number[] };
  let pin = r.keepFrom;
  for (const n of indexes) {
    if (n < r.currentIndex) {
      if (!r.lastEv.has(n)) r.lastEv.set(n, lastEvOf(join(dir, indexName(n))));
      const ev = r.lastEv.get(n);
      if (ev === undefined || ev < r.cutoff) {
        rmSync(join(dir, indexName(n)), { force: true });
        r.firstSegment.delete(n);
        r.lastEv.delete(n);
        removed.indexes.push(n);
        continue;
      }
    }
    if (!r.firstSegment.has(n)) r.firstSegment.set(n, firstSegmentOf(join(dir, indexName(n)), n));
    pin = Math.min(pin, r.firstSegment.get(n)!);
  }
  for (const n of segments) {
    if (n >= pin) break;
    rmSync(join(dir, segmentName(n)), { force: true });
    removed.segments.push(n);
  }
  return removed;
}

// The oldest segment an index file's incidents have records in (an incident opened before the file began).
function firstSegmentOf(path: string, n: number): number {
  let first = n;
  scanLines(path, 0, (line) => {
    const pos = parseEntry(line)?.pos ?? [];
    for (let i = 0; i < pos.length; i += 3) first = Math.min(first, pos[i]!);
  });
  return first;
}
