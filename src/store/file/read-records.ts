import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { foldRecords } from "../../incidents/fold.js";
import type { Incident, JournalRecord } from "../../incidents/types.js";
import type { IndexEntry } from "./index-file.js";
import { segmentName } from "./layout.js";

/** Lines closer than this are read in one go. */
const GAP_BYTES = 16 * 1024;

/**
 * Open segment files, shared by the reads of one query and closed at its end. A segment that is
 * gone (pruned, or deleted by hand) has no records.
 */
export class SegmentFiles {
  private readonly fds = new Map<number, number | undefined>();

  constructor(private readonly dir: string) {}

  /** The records at `pos` (flat triplets: segment, offset, length), in that order; ones that cannot be read are left out. */
  records(pos: number[]): JournalRecord[] {
    const wanted: { seg: number; off: number; len: number; i: number }[] = [];
    for (let k = 0; k + 2 < pos.length; k += 3) wanted.push({ seg: pos[k]!, off: pos[k + 1]!, len: pos[k + 2]!, i: k / 3 });
    const sorted = [...wanted].sort((a, b) => a.seg - b.seg || a.off - b.off);
    const found: (JournalRecord | undefined)[] = [];
    for (let a = 0; a < sorted.length;) {
      // A run of lines in one segment, close together: one read.
      let b = a + 1;
      while (b < sorted.length && sorted[b]!.seg === sorted[a]!.seg && sorted[b]!.off - end(sorted[b - 1]!) < GAP_BYTES) b++;
      const first = sorted[a]!;
      const span = Math.max(...sorted.slice(a, b).map(end)) - first.off;
      const bytes = this.read(first.seg, first.off, span);
      for (const w of sorted.slice(a, b)) found[w.i] = bytes && parse(bytes.subarray(w.off - first.off, w.off - first.off + w.len));
      a = b;
    }
    return found.filter((r): r is JournalRecord => r !== undefined);
  }

  close(): void {
    for (const fd of this.fds.values()) if (fd !== undefined) closeSync(fd);
    this.fds.clear();
  }

  private read(seg: number, offset: number, length: number): Buffer | undefined {
    if (!this.fds.has(seg)) {
      try {
        this.fds.set(seg, openSync(join(this.dir, segmentName(seg)), "r"));
      } catch {
        this.fds.set(seg, undefined);
      }
    }
    const fd = this.fds.get(seg);
    if (fd === undefined) return undefined;
    const buf = Buffer.allocUnsafe(length);
    const n = readSync(fd, buf, 0, length, offset);
    return n === length ? buf : undefined;
  }
}

/**
 * An incident that left memory, folded again from its records in the segments (and those that
 * amended it). When its records are gone (segments deleted by hand) it is what the index says,
 * with an empty timeline, rather than nothing.
 */
export function foldEntry(files: SegmentFiles, entry: IndexEntry, amendments: number[] = []): Incident {
  const records = files.records([...entry.pos, ...amendments]);
  const folded = foldRecords(records).get(entry.id);
  if (folded) return folded;
  return {
    id: entry.id,
    target: entry.target,
    kind: entry.kind,
    severity: entry.severity,
    state: entry.state,
    openedAt: entry.openedAt,
    updatedAt: entry.updatedAt,
    ...(entry.resolvedAt !== undefined && { resolvedAt: entry.resolvedAt }),
    evidence: entry.evidence,
    occurrences: entry.occurrences,
    runs: [],
    timeline: [],
    notifications: [],
    dryRun: entry.dryRun === true,
    ...(entry.root && { root: entry.root }),
    ...(entry.source && { source: entry.source }),
  };
}

function end(w: { off: number; len: number }): number {
  return w.off + w.len;
}

function parse(bytes: Buffer): JournalRecord | undefined {
  try {
    const r = JSON.parse(bytes.toString("utf8")) as JournalRecord;
    return typeof r?.incident === "string" && typeof r.type === "string" ? r : undefined;
  } catch {
    return undefined;
  }
}
