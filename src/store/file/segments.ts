import { closeSync, fsyncSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { describeError } from "../../lib/errors.js";
import { AppendFile } from "./append-file.js";
import { segmentName } from "./layout.js";

/** A record on its way to a segment. */
export interface Line {
  seq: number;
  incident: string;
  at: number;
  bytes: Buffer;
}

/** Where a record's line is: segment number, byte offset, length without the "\n". */
export type Place = [segment: number, offset: number, length: number];

/** When a segment is full: past this size, or when its first record is this old. */
export interface SegmentLimits {
  maxBytes: number;
  maxAgeMs: number;
}

/** In a bulk import, lines are written this many at a time, and made durable this many at a time. */
const BULK_BATCH_LINES = 1000;
const BULK_SYNC_LINES = 20_000;

/** The defaults: 64 MiB or a day, whichever comes first. */
export const SEGMENT_LIMITS: SegmentLimits = { maxBytes: 64 * 1024 * 1024, maxAgeMs: 24 * 3600_000 };

/** The segment being written: which, and when its first record was. */
export interface OpenSegment {
  n: number;
  file: AppendFile;
  firstAt: number | undefined;
}

/** What the writer tells the store. */
export interface SegmentEvents {
  /** A line is in a segment now (again, at a new place, if a failed sync made it write the line twice). */
  written(line: Line, place: Place): void;
  /** A new segment was started (the index follows it). */
  rolled(n: number): void;
  /**
   * The folder was deleted and a new segment started in a new one: the lines to write into it
   * before anything waiting (the store's live records, which were in the deleted files).
   */
  reopened(n: number): Line[];
}

/**
 * Writes records to the current segment, starting a new one when it is full. A write(2) happens in
 * `append`; fdatasync is batched (one in flight at a time, covering every line written before it
 * started) and runs in libuv's pool. Lines the disk refuses (full, read-only, the folder deleted),
 * and lines whose sync failed, wait in memory in order and are written before any newer one.
 */
export class SegmentWriter {
  /** Written to the current segment, not yet known durable, oldest first, each with its write number. */
  private unsynced: { line: Line; no: number }[] = [];
  private writes = 0;
  /** Bytes of the current segment known durable. */
  private syncedSize: number;
  /** Not written yet, oldest first. */
  private pending: Line[] = [];
  private dropped = 0;
  private lastError: string | undefined;
  private syncing = false;
  private readonly waiters: { no: number; resolve: () => void }[] = [];
  /**
   * An import of many records at once (a migration, at start, before anything else runs): lines are
   * written BULK_BATCH_LINES at a time (call `retry` to write what is left), the check that the
   * folder was not deleted (an fstat per write) is left out, and lines are made durable every
   * BULK_SYNC_LINES, so they are not all held until the end.
   */
  bulk = false;

  constructor(
    private readonly dir: string,
    private current: OpenSegment,
    private readonly limits: SegmentLimits,
    private readonly events: SegmentEvents,
    private readonly maxWaiting: number,
  ) {
    this.syncedSize = current.file.size;
  }

  /** Where the next line will go: the segment and its size (a snapshot's starting point for the tail). */
  position(): { segment: number; offset: number } {
    return { segment: this.current.n, offset: this.current.file.size };
  }

  /** Writes a record now if the disk takes it (in a bulk import, with the next ones); else it waits in memory. */
  append(line: Line): void {
    this.pending.push(line);
    if (this.bulk && this.pending.length < BULK_BATCH_LINES) return;
    this.retry();
    if (this.pending.length > this.maxWaiting) {
      const over = this.pending.length - this.maxWaiting;
      this.pending.splice(0, over);
      this.dropped += over;
    }
  }

  /** Writes what waits, oldest first, stopping at the first refusal; the folder is made again if it was deleted. */
  retry(): void {
    if (this.pending.length === 0) return;
    try {
      if (!this.bulk && this.current.file.unlinked()) this.reopen();
    } catch (err) {
      this.lastError = describeError(err);
      return;
    }
    while (this.pending.length > 0) {
      try {
        this.rollIfFull(this.pending[0]!.at);
      } catch (err) {
        this.lastError = describeError(err);
        return;
      }
      const count = this.bulk ? this.batch() : 1;
      const lines = this.pending.slice(0, count);
      let offset = this.current.file.size;
      const failed = this.current.file.write(count === 1 ? lines[0]!.bytes : Buffer.concat(lines.map((l) => l.bytes)));
      if (failed !== undefined) {
        this.lastError = failed;
        return;
      }
      this.pending.splice(0, count);
      for (const line of lines) {
        this.current.firstAt ??= line.at;
        this.unsynced.push({ line, no: ++this.writes });
        this.events.written(line, [this.current.n, offset, line.bytes.length - 1]);
        offset += line.bytes.length;
      }
    }
    this.lastError = undefined;
    this.dropped = 0;
    if (this.bulk && this.unsynced.length >= BULK_SYNC_LINES) this.syncNow();
    else this.kick();
  }

  // How many waiting lines go into the current segment in one write (a bulk import): up to the segment's limits.
  private batch(): number {
    const firstAt = this.current.firstAt ?? this.pending[0]!.at;
    let bytes = this.current.file.size;
    let n = 0;
    for (const line of this.pending) {
      if (n > 0 && (n >= BULK_BATCH_LINES || bytes + line.bytes.length > this.limits.maxBytes || line.at - firstAt >= this.limits.maxAgeMs))
        break;
      bytes += line.bytes.length;
      n++;
    }
    return n;
  }

  /** Resolves once every line appended so far is durable, or waits in memory because the disk refused it. */
  flushed(): Promise<void> {
    if (this.unsynced.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ no: this.writes, resolve });
      this.kick();
    });
  }

  /** Records waiting in memory, how many older ones were dropped past the bound, and why they wait. */
  waiting(): { count: number; dropped: number; error: string | undefined } {
    return { count: this.pending.length, dropped: this.dropped, error: this.lastError };
  }

  /** The segment being written was unlinked (its folder deleted): the next write makes the folder again. */
  deleted(): boolean {
    try {
      return this.current.file.unlinked();
    } catch {
      return true;
    }
  }

  /** Opens the journal again in its folder, made anew, when the segment being written was deleted. */
  reopenNow(): void {
    try {
      if (this.current.file.unlinked()) this.reopen();
    } catch (err) {
      this.lastError = describeError(err);
    }
  }

  /** Makes everything written durable now, on this thread (a snapshot, a close). */
  syncNow(): void {
    if (this.unsynced.length === 0) return;
    this.current.file.syncNow();
    this.synced(this.current.file, this.current.file.size, this.writes);
  }

  close(): void {
    this.current.file.close();
  }

  // One fdatasync at a time; the next one covers everything written while this one ran.
  private kick(): void {
    if (this.syncing || this.unsynced.length === 0) return;
    this.syncing = true;
    const file = this.current.file;
    const size = file.size;
    const upTo = this.writes;
    file.sync().then(
      () => {
        this.syncing = false;
        this.synced(file, size, upTo);
      },
      (err: unknown) => {
        this.syncing = false;
        this.syncFailed(file, err);
      },
    );
  }

  private synced(file: AppendFile, size: number, upTo: number): void {
    if (file === this.current.file) {
      this.syncedSize = Math.max(this.syncedSize, size);
      let n = 0;
      while (n < this.unsynced.length && this.unsynced[n]!.no <= upTo) n++;
      this.unsynced.splice(0, n);
    }
    this.settle();
    this.kick();
  }

  // What the failed sync covered may not be on disk: cut it off and write it again, before anything newer.
  private syncFailed(file: AppendFile, err: unknown): void {
    if (file !== this.current.file) return;
    this.lastError = describeError(err);
    file.cutBack(this.syncedSize);
    this.pending = [...this.unsynced.map((u) => u.line), ...this.pending];
    this.unsynced = [];
    this.settle();
  }

  // Waiters whose lines are all durable now, or back in memory, are told.
  private settle(): void {
    const first = this.unsynced[0]?.no ?? Infinity;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.no >= first) continue;
      this.waiters.splice(i, 1);
      w.resolve();
    }
  }

  private rollIfFull(at: number): void {
    const { file, firstAt } = this.current;
    const full = file.size >= this.limits.maxBytes || (firstAt !== undefined && at - firstAt >= this.limits.maxAgeMs);
    if (!full || file.size === 0) return;
    // The old segment is durable before the new one exists, so a crash never leaves a gap.
    file.syncNow();
    this.synced(file, file.size, this.writes);
    this.open(this.current.n + 1);
    file.close();
    this.events.rolled(this.current.n);
  }

  // The folder was deleted: start again in a new one, numbering on; the store's live records go first.
  private reopen(): void {
    const old = this.current.file;
    this.open(this.current.n + 1);
    old.close();
    this.unsynced = [];
    this.settle();
    this.pending = [...this.events.reopened(this.current.n), ...this.pending];
  }

  private open(n: number): void {
    mkdirSync(this.dir, { recursive: true });
    const file = AppendFile.open(join(this.dir, segmentName(n)));
    syncDir(this.dir);
    this.current = { n, file, firstAt: undefined };
    this.syncedSize = file.size;
  }
}

/** fsync of a folder: a file created or renamed in it survives a crash. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
