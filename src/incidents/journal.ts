import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
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

  constructor(stateDir: string) {
    super();
    try {
      mkdirSync(stateDir, { recursive: true });
      this.fd = openSync(join(stateDir, JOURNAL_FILE), "a+");
    } catch (cause) {
      throw new MedicError("STATE_DIR", `cannot open the journal in ${stateDir}`, {
        cause,
        hint: "create the state directory and make it writable by medic's user, or set stateDir",
      });
    }
    const { records, validBytes } = parseJournal(readFileSync(this.fd, "utf8"));
    if (validBytes < fstatSync(this.fd).size) ftruncateSync(this.fd, validBytes);
    for (const record of records) applyRecord(this.folded, record);
  }

  protected persist(record: JournalRecord): void {
    writeSync(this.fd, JSON.stringify(record) + "\n");
    fdatasyncSync(this.fd);
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
