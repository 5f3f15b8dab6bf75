import { closeSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { JOURNAL_FILE, scanJournalFile, type JournalScan } from "../../incidents/journal-read.js";
import type { Incident } from "../../incidents/types.js";
import type { AppendOutcome, Found, HistoryPage, HistoryQuery, IncidentStore } from "../types.js";
import { FileHistory } from "./history.js";
import { journalDir } from "./layout.js";
import { LiveState } from "./live-state.js";
import { readSnapshot } from "./snapshot.js";
import { loadSnapshot, rebuild } from "./startup.js";
import { openExisting } from "../../lib/open-existing.js";

/** A store opened read-only: the CLI's history and a dry run's starting point. */
export interface ReadOnlyStore extends IncidentStore {
  /** Lines of the journal that were not records (the caller says so once). */
  skipped: JournalScan & { journal: string };
}

/**
 * Opens a state dir's journal without writing anything and without a lock, while a daemon may be
 * writing it: the snapshot and the tail after it (a line still being written is left out, not an
 * error), the index for history. A single-file journal not migrated yet (an older medic, or one
 * that has not started since the upgrade) is read whole into memory, as that medic did.
 */
export function openReadOnly(stateDir: string, opts: { recentMs?: number } = {}): ReadOnlyStore {
  const dir = journalDir(stateDir);
  // Nothing leaves memory here that the writer has not put in the index already.
  const state = new LiveState({ recentMs: opts.recentMs ?? Infinity, maxResolved: Infinity });
  const snap = readSnapshot(dir);
  const skipped: JournalScan & { journal: string } = { journal: dir, validBytes: 0, skipped: 0, oversized: 0 };
  let seq: number;
  if (snap.ok) {
    const loaded = loadSnapshot(dir, snap.header, snap.lines, state, snap.header.migrated?.importing !== true);
    Object.assign(skipped, loaded.skipped);
    seq = loaded.seq;
  } else {
    // No snapshot: every segment, incidents past the window dropped as the records' time passes (the index has them).
    const window = new LiveState({ recentMs: opts.recentMs ?? 3600_000 });
    const loaded = rebuildInMemory(dir, window);
    for (const line of window.lines()) state.restore(line);
    Object.assign(skipped, loaded.skipped);
    seq = loaded.seq;
  }
  const legacy = join(stateDir, JOURNAL_FILE);
  const migrated = snap.ok ? snap.header.migrated : undefined;
  if (!(migrated && !migrated.importing && migrated.from === basename(legacy) && migrated.bytes === sizeOf(legacy))) {
    const scan = foldLegacy(legacy, state);
    if (scan && scan.skipped > 0) Object.assign(skipped, { ...scan, journal: legacy });
  }
  return readOnlyStore(state, new FileHistory(dir, () => state.set.incidents), seq, skipped);
}

function readOnlyStore(state: LiveState, reader: FileHistory, seq: number, skipped: ReadOnlyStore["skipped"]): ReadOnlyStore {
  return {
    skipped,
    append: (): AppendOutcome => ({ ok: false, reason: "conflict", detail: "the store is open read-only" }),
    flushed: () => Promise.resolve(),
    seq: () => seq,
    live: (): ReadonlyMap<string, Incident> => state.set.incidents,
    find: (id: string): Promise<Found> => reader.find(id),
    history: (q: HistoryQuery): Promise<HistoryPage> => reader.history(q),
    problem: () => undefined,
    close: () => Promise.resolve(),
  };
}

function rebuildInMemory(dir: string, state: LiveState) {
  // rebuild() removes index files; a reader must not: replay the segments without touching them.
  return rebuild(
    dir,
    state,
    () => {},
    (at) => state.sweep(at),
    { keepIndex: true },
  );
}

// The whole single-file journal, streamed into memory (the format before segments).
function foldLegacy(file: string, state: LiveState): JournalScan | undefined {
  const fd = openExisting(file);
  if (fd === undefined) return undefined;
  try {
    return scanJournalFile(fd, (record) => void state.fold(record));
  } finally {
    closeSync(fd);
  }
}

function sizeOf(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch {
    return undefined;
  }
}
