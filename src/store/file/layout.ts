import { readdirSync } from "node:fs";
import { join } from "node:path";

// The file store's layout under the state dir:
//
//   journal/00000001.jsonl        segments: every record, one JSON line each, numbered by `seq`
//   journal/00000001.index.jsonl  the index: one line per incident that left memory while that segment was current
//   journal/snapshot.json         the checkpoint start-up reads (header, one line per live incident, end line)
//   journal.jsonl.migrated-DATE   a journal of the single-file format, kept after it was migrated

/** The folder of segments, index files and the snapshot, inside the state dir. */
export const JOURNAL_DIR = "journal";
/** The checkpoint start-up reads. */
export const SNAPSHOT_FILE = "snapshot.json";

/** Where a state dir keeps its journal folder. */
export function journalDir(stateDir: string): string {
  return join(stateDir, JOURNAL_DIR);
}

/** A segment's file name: its number, zero-padded so names sort in order. */
export function segmentName(n: number): string {
  return `${String(n).padStart(8, "0")}.jsonl`;
}

/** The index file written while segment `n` was current. */
export function indexName(n: number): string {
  return `${String(n).padStart(8, "0")}.index.jsonl`;
}

/** Segment and index file numbers in a journal folder, oldest first (none when it does not exist). */
export function listJournal(dir: string): { segments: number[]; indexes: number[] } {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { segments: [], indexes: [] };
    throw err;
  }
  const segments: number[] = [];
  const indexes: number[] = [];
  for (const name of names) {
    const m = /^(\d{8})\.(index\.)?jsonl$/.exec(name);
    if (m) (m[2] ? indexes : segments).push(Number(m[1]));
  }
  return { segments: segments.sort((a, b) => a - b), indexes: indexes.sort((a, b) => a - b) };
}

/** The name a migrated single-file journal is kept under: journal.jsonl.migrated-2026-01-31T12-00-00Z. */
export function migratedName(file: string, now: number): string {
  return `${file}.migrated-${new Date(now)
    .toISOString()
    .replace(/\.\d+Z$/, "Z")
    .replace(/:/g, "-")}`;
}
