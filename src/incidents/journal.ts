import { closeSync, existsSync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describeError, MedicError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";
import { applyRecord } from "./fold.js";
import { JOURNAL_FILE, scanJournalFile, SKIPPED_LINES } from "./journal-read.js";
import { FoldingStore } from "./store.js";
import type { JournalRecord } from "./types.js";

export { JOURNAL_FILE, parseJournal, readJournal } from "./journal-read.js";

/** Records kept in memory while the journal cannot take them; beyond this the oldest are dropped (and counted). */
export const MAX_WAITING_RECORDS = 10_000;

/** What the journal tells its owner about records it could not write. */
export interface JournalOptions {
  log?: Logger;
  /** Records kept in memory at most (default MAX_WAITING_RECORDS). */
  maxWaiting?: number;
}

/**
 * An append-only JSON-lines journal in the state directory. Every append is written and
 * fdatasync'ed before it returns (when the disk takes it), so a record announcing an action is
 * on disk before the action.
 * A line cut short by a crash was never acknowledged: it is dropped when the journal is opened.
 * While the journal cannot take a write (full disk, read-only, deleted dir) records wait in
 * memory, in order, and are written before any newer record once it can: the decision is kept.
 */
export class JournalStore extends FoldingStore {
  private fd: number;
  /** Bytes of whole records in the file: a failed append is cut back to this. */
  private size: number;
  /** Lines not yet on disk, oldest first. */
  private readonly pending: Buffer[] = [];
  /** Records dropped from `pending` since the journal last took a write. */
  private dropped = 0;
  /** Why the last write failed, while records wait. */
  private lastError: string | undefined;
  private readonly log: Logger | undefined;
  private readonly maxWaiting: number;

  constructor(
    private readonly stateDir: string,
    opts: JournalOptions = {},
  ) {
    super();
    this.log = opts.log;
    this.maxWaiting = opts.maxWaiting ?? MAX_WAITING_RECORDS;
    this.fd = openJournal(stateDir);
    // Streamed: a journal of any size opens (one read buffer, one line at a time).
    const scan = scanJournalFile(this.fd, (record) => applyRecord(this.folded, record));
    if (scan.skipped > 0) {
      this.log?.warn({ journal: join(stateDir, JOURNAL_FILE), skipped: scan.skipped, oversized: scan.oversized }, SKIPPED_LINES);
    }
    if (scan.validBytes < fstatSync(this.fd).size) ftruncateSync(this.fd, scan.validBytes);
    this.size = scan.validBytes;
  }

  // Never throws: a record the disk refuses waits in memory, so the daemon still acts on it.
  protected persist(record: JournalRecord): void {
    this.pending.push(Buffer.from(JSON.stringify(record) + "\n"));
    const before = this.pending.length;
    this.flush();
    if (this.pending.length === 0) return;
    if (before === 1) {
      this.log?.error(
        { stateDir: this.stateDir, err: this.lastError },
        "cannot append to the journal; keeping records in memory until the state dir takes writes again (free space or make it writable)",
      );
    }
    if (this.pending.length > this.maxWaiting) {
      const over = this.pending.length - this.maxWaiting;
      this.pending.splice(0, over);
      if (this.dropped === 0)
        this.log?.error(
          { stateDir: this.stateDir, kept: this.maxWaiting },
          "journal records lost: too many waiting in memory, dropping the oldest",
        );
      this.dropped += over;
    }
  }

  /** Records waiting in memory for the journal to take writes. */
  waiting(): number {
    return this.pending.length;
  }

  /**
   * A problem with the journal file itself (deleted under medic, records waiting), or undefined.
   * Once the state dir is back the journal is reopened there and what waits is written.
   */
  problem(): string | undefined {
    try {
      if (fstatSync(this.fd).nlink === 0) {
        if (!existsSync(this.stateDir)) return `${this.stateDir} was deleted; the next record recreates it`;
        this.reopen();
      }
    } catch (err) {
      return (err as Error).message;
    }
    this.flush();
    if (this.pending.length === 0) return undefined;
    return `${this.pending.length} journal records waiting in memory to be written${this.dropped > 0 ? ` (${this.dropped} older ones dropped)` : ""}: ${this.lastError ?? "not written yet"}`;
  }

  // Writes what waits, oldest first, stopping at the first refusal so the order on disk stays.
  private flush(): void {
    if (this.pending.length === 0) return;
    const recovering = this.lastError !== undefined;
    const was = this.pending.length;
    try {
      // The state dir was deleted under us: appending to the unlinked file would lose every record.
      if (fstatSync(this.fd).nlink === 0) this.reopen();
    } catch (err) {
      this.lastError = describeError(err);
      return;
    }
    while (this.pending.length > 0) {
      if (!this.write(this.pending[0]!)) return;
      this.pending.shift();
    }
    if (recovering)
      this.log?.warn(
        { stateDir: this.stateDir, written: was, dropped: this.dropped },
        "the journal takes writes again; the records kept in memory are written",
      );
    this.dropped = 0;
    this.lastError = undefined;
  }

  private write(line: Buffer): boolean {
    try {
      // A full disk may take part of a line: finish it, or cut it back so the next record is not glued to half a line.
      for (let done = 0; done < line.length;) done += writeSync(this.fd, line, done, line.length - done);
      fdatasyncSync(this.fd);
      this.size += line.length;
      return true;
    } catch (err) {
      this.lastError = describeError(err);
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        // Nothing more to do: opening the journal drops a partial last line anyway.
      }
      return false;
    }
  }

  private reopen(): void {
    const fd = openJournal(this.stateDir);
    closeSync(this.fd);
    this.fd = fd;
    this.size = fstatSync(fd).size;
  }

  override close(): void {
    this.flush();
    if (this.pending.length > 0)
      this.log?.error(
        { stateDir: this.stateDir, lost: this.pending.length + this.dropped },
        "medic stops with journal records never written",
      );
    closeSync(this.fd);
  }
}

function openJournal(stateDir: string): number {
  try {
    mkdirSync(stateDir, { recursive: true });
    return openSync(join(stateDir, JOURNAL_FILE), "a+");
  } catch (cause) {
    throw new MedicError("STATE_DIR", `cannot open the journal in ${stateDir}`, {
      cause,
      hint: "create the state directory and make it writable by medic's user, or set stateDir",
    });
  }
}
