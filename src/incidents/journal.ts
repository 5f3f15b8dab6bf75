import { closeSync, existsSync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { MedicError } from "../lib/errors.js";
import { applyRecord } from "./fold.js";
import { FoldingStore } from "./store.js";
import type { Incident, JournalRecord } from "./types.js";

/** The journal's file name inside the state directory. */
export const JOURNAL_FILE = "journal.jsonl";

/**
 * An append-only JSON-lines journal in the state directory. Every append is written and
 * fdatasync'ed before it returns, so a record announcing an action is on disk before the action.
 * A line cut short by a crash was never acknowledged: it is dropped when the journal is opened.
 */
export class JournalStore extends FoldingStore {
  private fd: number;
  /** Bytes of whole records in the file: a failed append is cut back to this. */
  private size: number;

  constructor(private readonly stateDir: string) {
    super();
    this.fd = openJournal(stateDir);
    const { records, validBytes } = parseJournal(readFileSync(this.fd, "utf8"));
    if (validBytes < fstatSync(this.fd).size) ftruncateSync(this.fd, validBytes);
    this.size = validBytes;
    for (const record of records) applyRecord(this.folded, record);
  }

  protected persist(record: JournalRecord): void {
    // The state dir was deleted under us: appending to the unlinked file would lose every record.
    if (fstatSync(this.fd).nlink === 0) this.reopen();
    const line = Buffer.from(JSON.stringify(record) + "\n");
    try {
      // A full disk may take part of a line: finish it, or cut it back so the next record is not glued to half a line.
      for (let done = 0; done < line.length; ) done += writeSync(this.fd, line, done, line.length - done);
      fdatasyncSync(this.fd);
      this.size += line.length;
    } catch (cause) {
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        // Nothing more to do: opening the journal drops a partial last line anyway.
      }
      throw new MedicError("JOURNAL_WRITE", `cannot append to the journal in ${this.stateDir}`, { cause, retryable: true, hint: "free space in the state directory or make it writable" });
    }
  }

  /** A problem with the journal file itself (deleted under medic), or undefined; once the state dir is back, the journal is reopened there. */
  problem(): string | undefined {
    try {
      if (fstatSync(this.fd).nlink > 0) return undefined;
      if (!existsSync(this.stateDir)) return `${this.stateDir} was deleted; the next record recreates it`;
      this.reopen();
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  private reopen(): void {
    const fd = openJournal(this.stateDir);
    closeSync(this.fd);
    this.fd = fd;
    this.size = fstatSync(fd).size;
  }

  override close(): void {
    closeSync(this.fd);
  }
}

/** Records of a journal's text; a trailing partial line (a crash mid-write) is left out. */
export function parseJournal(text: string): { records: JournalRecord[]; validBytes: number; skipped: number } {
  const records: JournalRecord[] = [];
  const end = text.lastIndexOf("\n") + 1;
  let skipped = 0;
  for (const line of text.slice(0, end).split("\n")) {
    if (!line) continue;
    try {
      const record = JSON.parse(line) as JournalRecord;
      if (typeof record.incident === "string" && typeof record.type === "string") records.push(record);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  return { records, validBytes: Buffer.byteLength(text.slice(0, end)), skipped };
}

/** Incidents from a journal on disk, read-only (for `medic incidents` while a daemon runs). */
export function readJournal(stateDir: string): Map<string, Incident> {
  let text = "";
  try {
    text = readFileSync(join(stateDir, JOURNAL_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const incidents = new Map<string, Incident>();
  for (const record of parseJournal(text).records) applyRecord(incidents, record);
  return incidents;
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
