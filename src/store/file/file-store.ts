import { existsSync } from "node:fs";
import type { Incident, IncidentEvent, JournalRecord } from "../../incidents/types.js";
import type { Clock } from "../../lib/clock.js";
import { describeError } from "../../lib/errors.js";
import type { Logger } from "../../lib/log.js";
import { redactor } from "../../lib/redact.js";
import { checkPrecondition } from "../precondition.js";
import type { AppendOutcome, Found, HistoryPage, HistoryQuery, IncidentStore, Precondition } from "../types.js";
import { FileHistory } from "./history.js";
import type { IndexWriter } from "./index-file.js";
import type { LiveState } from "./live-state.js";
import { FILE_STORE_DEFAULTS, type FileStoreOptions } from "./options.js";
import { prune } from "./retention.js";
import type { Line, SegmentWriter } from "./segments.js";
import { writeSnapshot, type SnapshotHeader } from "./snapshot.js";

/** The parts a file store is made of, as start-up (`openFileStore`) leaves them. */
export interface FileStoreParts {
  dir: string;
  state: LiveState;
  index: IndexWriter;
  /** Made by the store, since the writer tells it where each line went. */
  writer: (events: FileStore) => SegmentWriter;
  seq: number;
  epoch: number;
  migrated?: SnapshotHeader["migrated"];
  /** The segment the snapshot on disk replays from (kept until a newer snapshot moves on). */
  snapshotTail: number;
}

/**
 * The embedded store: records in segment files, a snapshot of what start-up needs, an index of the
 * incidents that left memory, and retention. Memory holds the live view only. See
 * src/store/file/README.md for the layout and the start-up path.
 */
export class FileStore implements IncidentStore {
  private readonly dir: string;
  private readonly state: LiveState;
  private readonly index: IndexWriter;
  private readonly writer: SegmentWriter;
  private readonly reader: FileHistory;
  private readonly log: Logger | undefined;
  private readonly clock: Pick<Clock, "now">;
  private lastSeq: number;
  private writtenSeq: number;
  private epoch: number;
  /** The single-file journal this store was migrated from (kept in every snapshot, so a crash mid-way is told apart). */
  migrated: SnapshotHeader["migrated"];
  /** A record's time instead of the clock's, while an old journal is imported at its records' own times. */
  private importing: number | undefined;
  private sinceSnapshot = 0;
  private lastSnapshot: { at: number; tailSegment: number };
  private snapshotting: Promise<void> | undefined;
  private needSnapshot = false;
  private lastRetention = -Infinity;
  private readonly retentionCache = new Map<number, number | undefined>();
  private wasWaiting = 0;
  private toldDropped = false;
  private snapshotTrouble: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly opts: FileStoreOptions,
    parts: FileStoreParts,
  ) {
    this.dir = parts.dir;
    this.state = parts.state;
    this.index = parts.index;
    this.log = opts.log;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.lastSeq = this.writtenSeq = parts.seq;
    this.epoch = parts.epoch;
    this.migrated = parts.migrated;
    this.writer = parts.writer(this);
    this.lastSnapshot = { at: this.clock.now(), tailSegment: parts.snapshotTail };
    this.reader = new FileHistory(this.dir, () => this.state.set.incidents);
    const every = opts.maintainEveryMs ?? FILE_STORE_DEFAULTS.maintainEveryMs;
    if (every > 0) {
      this.timer = setInterval(() => this.maintain(), every);
      this.timer.unref();
    }
  }

  append(incident: string, event: IncidentEvent, at: number, expect?: Precondition): AppendOutcome {
    if (this.closed) return { ok: false, reason: "conflict", detail: "the store is closed" };
    const refused = checkPrecondition(expect, this.lastSeq, this.epoch);
    if (refused) return refused;
    if (expect?.epoch !== undefined) this.epoch = Math.max(this.epoch, expect.epoch);
    // The journal is what the API, the CLI, postmortems and notifications are made from: no secret enters it.
    const record = redactor.value({ ...event, at, incident } as JournalRecord);
    return { ok: true, record: this.store(record) };
  }

  /**
   * Numbers, folds and writes one record (an append, or a record of an old journal being imported).
   * `line`: the record's JSON as it came (an import), taken as it is with its seq added.
   */
  store(redacted: JournalRecord, line?: Buffer): JournalRecord {
    const record = { ...redacted, seq: ++this.lastSeq };
    this.state.fold(record);
    const bytes = line ? withSeq(line, record.seq) : Buffer.from(JSON.stringify(record) + "\n");
    this.writer.append({ seq: record.seq, incident: record.incident, at: record.at, bytes });
    this.sinceSnapshot++;
    this.noteWaiting();
    return record;
  }

  flushed(): Promise<void> {
    return this.writer.flushed();
  }

  seq(): number {
    return this.lastSeq;
  }

  live(): ReadonlyMap<string, Incident> {
    return this.state.set.incidents;
  }

  find(id: string): Promise<Found> {
    return this.reader.find(id);
  }

  history(query: HistoryQuery): Promise<HistoryPage> {
    return this.reader.history(query);
  }

  /** Records waiting in memory for the disk to take them (the state dir watch reports it). */
  waiting(): number {
    return this.writer.waiting().count;
  }

  /**
   * Trouble with the journal: deleted under medic, records waiting in memory, a snapshot that cannot
   * be written; undefined when there is none. Once the state dir is back, the journal is opened
   * there again (the live records are written into it first) and what waits is written.
   */
  problem(): string | undefined {
    if (this.writer.deleted()) {
      if (!existsSync(this.opts.stateDir)) return `${this.opts.stateDir} was deleted; the next record recreates it`;
      this.writer.reopenNow();
    }
    this.writer.retry();
    this.noteWaiting();
    const w = this.writer.waiting();
    if (w.count > 0) {
      const dropped = w.dropped > 0 ? ` (${w.dropped} older ones dropped)` : "";
      return `${w.count} journal records waiting in memory to be written${dropped}: ${w.error ?? "not written yet"}`;
    }
    return this.snapshotTrouble;
  }

  /**
   * Looks after the store (on its timer, or by hand): writes what waits, lets incidents past the
   * window leave memory, writes a snapshot when one is due, prunes past the retention.
   */
  maintain(now = this.clock.now()): void {
    if (this.closed) return;
    this.writer.retry();
    this.noteWaiting();
    // Places of records still waiting are not known yet: nothing leaves memory until they are written.
    if (this.writer.waiting().count > 0) return;
    this.state.sweep(this.importing ?? now);
    if (this.importing !== undefined) return;
    const every = this.opts.snapshotEvery;
    const due =
      this.needSnapshot ||
      this.sinceSnapshot >= (every?.records ?? FILE_STORE_DEFAULTS.snapshotRecords) ||
      (this.sinceSnapshot > 0 && now - this.lastSnapshot.at >= (every?.ms ?? FILE_STORE_DEFAULTS.snapshotMs));
    if (due) void this.snapshot().catch(() => {});
    if (now - this.lastRetention >= FILE_STORE_DEFAULTS.retentionEveryMs) this.retain(now);
  }

  /** Writes a snapshot now (one at a time: a second caller waits for the one under way, then writes its own). */
  async snapshot(): Promise<void> {
    while (this.snapshotting) await this.snapshotting;
    this.snapshotting = this.writeSnapshot().finally(() => (this.snapshotting = undefined));
    return this.snapshotting;
  }

  /**
   * Lets incidents leave memory at a record's time, while an old journal is imported, its lines
   * written in bulk (undefined: the import is over). What waits is written first: an incident
   * leaves memory only with the places of all its records.
   */
  importAt(at: number | undefined): void {
    this.importing = at;
    this.writer.bulk = true;
    this.writer.retry();
    this.writer.bulk = at !== undefined;
    if (at !== undefined && this.writer.waiting().count === 0) this.state.sweep(at);
  }

  /** Why the disk refused the last write, while records wait; undefined when it takes them. */
  writeTrouble(): string | undefined {
    return this.writer.waiting().error;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    while (this.snapshotting) await this.snapshotting.catch(() => {});
    this.writer.retry();
    const lost = this.writer.waiting();
    try {
      this.writer.syncNow();
      if (lost.count === 0 && this.sinceSnapshot + (this.needSnapshot ? 1 : 0) > 0) await this.snapshot();
    } catch (err) {
      this.log?.warn(
        { dir: this.dir, err: describeError(err) },
        "could not write the journal's snapshot at stop; the next start replays more",
      );
    }
    this.closed = true;
    if (lost.count > 0)
      this.log?.error({ dir: this.dir, lost: lost.count + lost.dropped }, "medic stops with journal records never written");
    this.writer.close();
    this.index.close();
  }

  // --- told by the segment writer ---

  /** A line is in a segment: its incident's places say where. */
  written(line: Line, place: [number, number, number]): void {
    this.writtenSeq = Math.max(this.writtenSeq, line.seq);
    this.state.placed(line, place, this.importing ?? this.clock.now());
  }

  /** The segment rolled: the index follows. */
  rolled(n: number): void {
    this.index.follow(n);
  }

  /** The journal folder was deleted: the live records go into the new one first, and a snapshot soon after. */
  reopened(n: number): Line[] {
    this.index.follow(n);
    this.needSnapshot = true;
    this.log?.warn({ dir: this.dir }, "the journal folder was deleted; writing the live incidents' records into a new one");
    return this.state.rewrite(this.writtenSeq);
  }

  private async writeSnapshot(): Promise<void> {
    // Everything before the tail position, and every index line so far, is durable before a snapshot counts on it.
    this.writer.syncNow();
    this.index.syncNow();
    const counted = this.sinceSnapshot;
    const now = this.clock.now();
    const header: SnapshotHeader = {
      v: 1,
      seq: this.lastSeq,
      tail: this.writer.position(),
      index: this.index.position(),
      ev: this.index.lastEv(),
      epoch: this.epoch,
      writtenAt: now,
      firstSegment: Object.fromEntries(this.state.firstSegment),
      ...(this.migrated && { migrated: this.migrated }),
    };
    this.needSnapshot = false;
    try {
      await writeSnapshot(this.dir, header, () => this.state.lines());
    } catch (err) {
      this.needSnapshot = true;
      this.snapshotTrouble = `cannot write the journal's snapshot: ${describeError(err)}`;
      throw err;
    }
    this.snapshotTrouble = undefined;
    this.sinceSnapshot -= counted;
    this.lastSnapshot = { at: now, tailSegment: header.tail.segment };
  }

  private retain(now: number): void {
    this.lastRetention = now;
    const retentionMs = this.opts.retentionMs ?? FILE_STORE_DEFAULTS.retentionMs;
    try {
      const removed = prune(this.dir, {
        cutoff: now - retentionMs,
        keepFrom: Math.min(this.state.oldestLiveSegment(), this.lastSnapshot.tailSegment, this.writer.position().segment),
        currentIndex: this.index.position().index,
        firstSegment: this.state.firstSegment,
        lastEv: this.retentionCache,
      });
      if (removed.indexes.length + removed.segments.length === 0) return;
      this.needSnapshot = true;
      this.log?.info({ dir: this.dir, retentionMs, ...removed }, "pruned resolved history older than the retention");
    } catch (err) {
      this.log?.warn({ dir: this.dir, err: describeError(err) }, "could not prune the journal; trying again later");
    }
  }

  // Says once when records start waiting in memory, and once when the disk takes them again.
  private noteWaiting(): void {
    const w = this.writer.waiting();
    if (w.count > 0 && this.wasWaiting === 0)
      this.log?.error(
        { dir: this.dir, err: w.error },
        "cannot append to the journal; keeping records in memory until the state dir takes writes again (free space or make it writable)",
      );
    if (w.dropped > 0 && !this.toldDropped)
      this.log?.error({ dir: this.dir, kept: w.count }, "journal records lost: too many waiting in memory, dropping the oldest");
    this.toldDropped = w.dropped > 0;
    if (w.count === 0 && this.wasWaiting > 0)
      this.log?.warn({ dir: this.dir, written: this.wasWaiting }, "the journal takes writes again; the records kept in memory are written");
    this.wasWaiting = w.count;
  }
}

// A record's JSON line with `"seq":N` added before its closing brace (cheaper than writing it anew).
function withSeq(line: Buffer, seq: number): Buffer {
  const close = line.lastIndexOf(0x7d);
  return Buffer.concat([line.subarray(0, close), Buffer.from(`,"seq":${seq}}\n`)]);
}
