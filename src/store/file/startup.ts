import { closeSync, ftruncateSync, openSync, rmSync } from "node:fs";
import { join } from "node:path";
import { scanJournalFile, type JournalScan } from "../../incidents/journal-read.js";
import type { JournalRecord } from "../../incidents/types.js";
import { parseEntry } from "./index-file.js";
import { indexName, listJournal, segmentName } from "./layout.js";
import { scanLines } from "./lines.js";
import type { LiveState } from "./live-state.js";
import type { SnapshotHeader, SnapshotLine } from "./snapshot.js";

/** What start-up found: where writing goes on, and what it met on the way. */
export interface Loaded {
  seq: number;
  epoch: number;
  /** The newest index line's `ev`. */
  ev: number;
  /** The segment to go on writing, its whole lines' bytes and its first record's time; undefined: there is none. */
  last?: { segment: number; validBytes: number; firstAt: number | undefined };
  /** The whole lines' bytes of the index file of that segment, when it exists. */
  indexValidBytes?: number;
  /** Lines of the segments that are not records. */
  skipped: Pick<JournalScan, "skipped" | "oversized">;
  /** Records read after the snapshot (or all of them, on a rebuild). */
  replayed: number;
}

/**
 * The live state from a snapshot, then the tail of records after it, then the index lines after it
 * (incidents that left memory since). A record a snapshot line already holds (its seq is not newer
 * than the line's last) is not applied twice. `tail: false` skips the tail (an import cut short).
 */
export function loadSnapshot(dir: string, header: SnapshotHeader, lines: SnapshotLine[], state: LiveState, tail = true): Loaded {
  for (const line of lines) state.restore(line);
  state.set.reorder();
  for (const [n, first] of Object.entries(header.firstSegment)) state.firstSegment.set(Number(n), first);
  const loaded: Loaded = { seq: header.seq, epoch: header.epoch, ev: header.ev, skipped: { skipped: 0, oversized: 0 }, replayed: 0 };
  const { segments, indexes } = listJournal(dir);
  const from = tail ? segments.filter((n) => n >= header.tail.segment) : [];
  replaySegments(dir, from, header.tail, state, loaded, (r) => r.seq === undefined || r.seq > state.lastSeq(r.incident));
  if (!loaded.last && segments.length > 0) {
    const segment = segments[segments.length - 1]!;
    loaded.last = { segment, validBytes: segment === header.tail.segment ? header.tail.offset : 0, firstAt: undefined };
  }
  for (const n of indexes.filter((i) => i >= header.index.index)) {
    const valid = scanLines(join(dir, indexName(n)), n === header.index.index ? header.index.offset : 0, (bytes) => {
      const entry = parseEntry(bytes);
      if (!entry) return;
      state.left(entry, n);
      loaded.ev = Math.max(loaded.ev, entry.ev);
    });
    if (n === loaded.last?.segment) loaded.indexValidBytes = valid;
  }
  return loaded;
}

/**
 * Start-up without a usable snapshot: every segment replayed, incidents leaving memory into a new
 * index as the records' own times pass (the index is made from the segments, so the old one goes).
 * `sweep(at)` is called as time passes in the records. `keepIndex`: a reader's replay, which removes nothing.
 */
export function rebuild(
  dir: string,
  state: LiveState,
  follow: (segment: number) => void,
  sweep: (at: number) => void,
  opts: { keepIndex?: boolean } = {},
): Loaded {
  const { segments, indexes } = listJournal(dir);
  if (!opts.keepIndex) for (const n of indexes) rmSync(join(dir, indexName(n)), { force: true });
  const loaded: Loaded = { seq: 0, epoch: 0, ev: 0, skipped: { skipped: 0, oversized: 0 }, replayed: 0 };
  let swept = -Infinity;
  replaySegments(
    dir,
    segments,
    undefined,
    state,
    loaded,
    () => true,
    (segment, at) => {
      follow(segment);
      // Sweeping is a walk over the oldest resolved incidents: once a second of record time is plenty.
      if (at - swept < 1000) return;
      swept = at;
      sweep(at);
    },
  );
  return loaded;
}

/** Cuts away what was written after a snapshot (an import cut short by a crash, to be done again). */
export function cutTail(dir: string, header: SnapshotHeader): void {
  const { segments, indexes } = listJournal(dir);
  for (const n of segments) {
    if (n > header.tail.segment) rmSync(join(dir, segmentName(n)), { force: true });
    else if (n === header.tail.segment) truncate(join(dir, segmentName(n)), header.tail.offset);
  }
  for (const n of indexes) {
    if (n > header.index.index) rmSync(join(dir, indexName(n)), { force: true });
    else if (n === header.index.index) truncate(join(dir, indexName(n)), header.index.offset);
  }
}

function replaySegments(
  dir: string,
  segments: number[],
  start: { segment: number; offset: number } | undefined,
  state: LiveState,
  loaded: Loaded,
  wanted: (record: JournalRecord) => boolean,
  before?: (segment: number, at: number) => void,
): void {
  for (const segment of segments) {
    const fd = openSync(join(dir, segmentName(segment)), "r");
    let firstAt: number | undefined;
    try {
      const from = start && segment === start.segment ? start.offset : 0;
      const scan = scanJournalFile(
        fd,
        (record, offset, length) => {
          firstAt ??= record.at;
          before?.(segment, record.at);
          const seq = (record.seq ??= loaded.seq + 1);
          loaded.seq = Math.max(loaded.seq, seq);
          if (!wanted(record)) return;
          loaded.replayed++;
          state.fold(record);
          state.placed({ seq, incident: record.incident }, [segment, offset, length], record.at);
        },
        from,
      );
      loaded.skipped.skipped += scan.skipped;
      loaded.skipped.oversized += scan.oversized;
      loaded.last = { segment, validBytes: scan.validBytes, firstAt: from === 0 ? firstAt : undefined };
    } finally {
      closeSync(fd);
    }
  }
}

function truncate(path: string, bytes: number): void {
  const fd = openSync(path, "r+");
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}
