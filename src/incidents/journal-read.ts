import { readSync } from "node:fs";
import type { JournalRecord } from "./types.js";

/** The journal's file name inside the state directory. */
export const JOURNAL_FILE = "journal.jsonl";

/**
 * A line longer than this is not a record (a real one is well under 100 KB): it is skipped without
 * ever being held whole, so junk in the journal (a hole of NULs after a crash, a stray binary) costs
 * reading time, never memory.
 */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** How much of the journal is read at a time. */
const CHUNK_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;

/** What a scan of a journal found besides its records. */
export interface JournalScan {
  /** Bytes up to the end of the last whole line: what follows is a line cut short by a crash. */
  validBytes: number;
  /** Whole lines that are not records (not JSON, or no incident and type), the oversized ones included. */
  skipped: number;
  /** Of those, lines longer than the record cap, never parsed. */
  oversized: number;
}

/** Reads `length` bytes at `position` into `buffer` at `offset`; returns how many it read (0 at the end). */
export type ReadAt = (buffer: Buffer, offset: number, length: number, position: number) => number;

/** Told of each record with where its line starts in the file, its length in bytes (without the "\n"), and the line. */
export type OnRecord = (record: JournalRecord, offset: number, length: number, line: Buffer) => void;

/**
 * Streams a journal's lines to `onRecord`, oldest first, with a fixed buffer: no string ever holds
 * more than one line, so no journal size stops medic from reading it. Lines are split on the byte
 * "\n" (never inside a UTF-8 character) and counted in bytes. A trailing partial line is left out.
 * `from`: the offset of a line start to begin at (the bytes before it are not read).
 */
export function scanJournal(
  read: ReadAt,
  onRecord: OnRecord,
  opts: { maxRecordBytes?: number; chunkBytes?: number; from?: number } = {},
): JournalScan {
  const maxRecordBytes = opts.maxRecordBytes ?? MAX_RECORD_BYTES;
  const buffer = Buffer.allocUnsafe(opts.chunkBytes ?? CHUNK_BYTES);
  const scan: JournalScan = { validBytes: opts.from ?? 0, skipped: 0, oversized: 0 };
  // The start of the current line, held until its "\n" arrives; dropped once it outgrows the cap.
  let head: Buffer[] = [];
  let headBytes = 0;
  let tooLong = false;
  let position = opts.from ?? 0;
  for (;;) {
    const n = read(buffer, 0, buffer.length, position);
    if (n <= 0) break;
    const view = n < buffer.length ? buffer.subarray(0, n) : buffer;
    let from = 0;
    for (let nl = view.indexOf(NEWLINE); nl !== -1; nl = view.indexOf(NEWLINE, from)) {
      if (tooLong || headBytes + nl - from > maxRecordBytes) {
        scan.skipped++;
        scan.oversized++;
      } else {
        const line = headBytes === 0 ? view.subarray(from, nl) : Buffer.concat([...head, view.subarray(from, nl)]);
        if (!parseLine(line, scan.validBytes, onRecord)) scan.skipped++;
      }
      head = [];
      headBytes = 0;
      tooLong = false;
      from = nl + 1;
      scan.validBytes = position + from;
    }
    if (!tooLong && from < n) {
      headBytes += n - from;
      if (headBytes > maxRecordBytes) {
        tooLong = true;
        head = [];
      } else head.push(Buffer.from(view.subarray(from)));
    }
    position += n;
  }
  return scan;
}

// One line's record, if it is one; blank lines (a hand-edited journal) are neither records nor junk.
// A line whose record cannot be folded (a hand-edited one missing a field) counts as junk too.
function parseLine(line: Buffer, offset: number, onRecord: OnRecord): boolean {
  if (line.length === 0) return true;
  try {
    const record = JSON.parse(line.toString("utf8")) as JournalRecord;
    if (typeof record?.incident !== "string" || typeof record.type !== "string") return false;
    onRecord(record, offset, line.length, line);
    return true;
  } catch {
    return false;
  }
}

/** Reads an open journal file from its start with `scanJournal`. */
export function scanJournalFile(fd: number, onRecord: OnRecord, from = 0): JournalScan {
  return scanJournal((buffer, offset, length, position) => readSync(fd, buffer, offset, length, position), onRecord, { from });
}

/** Records of a journal's text (tests and small inputs); a trailing partial line is left out. */
export function parseJournal(text: string): { records: JournalRecord[] } & JournalScan {
  const bytes = Buffer.from(text, "utf8");
  const records: JournalRecord[] = [];
  const read: ReadAt = (buffer, offset, length, position) =>
    bytes.copy(buffer, offset, position, Math.min(bytes.length, position + length));
  const scan = scanJournal(read, (r) => records.push(r));
  return { records, ...scan };
}

/** The log message for lines of a journal that are not records. */
export const SKIPPED_LINES = "journal lines that are not records were skipped; the records around them were read";

/** One sentence on the lines of a journal that were not records, for a person at a terminal. */
export function describeSkipped(file: string, scan: JournalScan): string {
  const cap = `${MAX_RECORD_BYTES / 1024 / 1024} MiB`;
  const big = scan.oversized > 0 ? ` (${scan.oversized} of them longer than ${cap}, never held in memory)` : "";
  return `${file}: skipped ${scan.skipped} lines that are not journal records${big}; the records around them were read`;
}
