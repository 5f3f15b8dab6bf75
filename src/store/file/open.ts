import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { JOURNAL_FILE, SKIPPED_LINES } from "../../incidents/journal-read.js";
import { MedicError } from "../../lib/errors.js";
import { FileStore } from "./file-store.js";
import { IndexWriter } from "./index-file.js";
import { journalDir, segmentName } from "./layout.js";
import { LiveState } from "./live-state.js";
import { migrate } from "./migrate.js";
import { FILE_STORE_DEFAULTS, type FileStoreOptions } from "./options.js";
import { AppendFile } from "./append-file.js";
import { SEGMENT_LIMITS, SegmentWriter } from "./segments.js";
import { cutTail, loadSnapshot, rebuild, type Loaded } from "./startup.js";
import { readSnapshot, removeStraySnapshot } from "./snapshot.js";

/**
 * Opens the file store of a state dir for writing; the daemon calls it once it holds the state
 * dir's lock. Start-up reads the snapshot and the records after it (or, without a usable snapshot,
 * every segment), cuts a line left short by a crash, migrates a single-file journal of an older
 * medic, lets incidents past the window leave memory, and writes a new snapshot if it read a tail.
 */
export async function openFileStore(opts: FileStoreOptions): Promise<FileStore> {
  const dir = journalDir(opts.stateDir);
  try {
    mkdirSync(dir, { recursive: true });
    removeStraySnapshot(dir);
  } catch (cause) {
    throw new MedicError("STATE_DIR", `cannot open the journal in ${opts.stateDir}`, {
      cause,
      hint: "create the state directory and make it writable by medic's user, or set stateDir",
    });
  }
  const t0 = performance.now();
  const state = new LiveState(opts);
  const snap = readSnapshot(dir);
  let index: IndexWriter | undefined;
  let loaded: Loaded;
  if (snap.ok) {
    const cutShort = snap.header.migrated?.importing === true;
    if (cutShort) cutTail(dir, snap.header);
    loaded = loadSnapshot(dir, snap.header, snap.lines, state, !cutShort);
  } else {
    if (snap.why !== "none") opts.log?.warn({ dir, why: snap.why }, "the journal's snapshot cannot be used; reading every segment instead");
    index = new IndexWriter(dir, 1);
    state.attach(index);
    const follow = (n: number) => index!.follow(n);
    loaded = rebuild(dir, state, follow, (at) => state.sweep(at));
  }
  if (loaded.skipped.skipped > 0) opts.log?.warn({ journal: dir, ...loaded.skipped }, SKIPPED_LINES);

  const last = loaded.last ?? { segment: 1, validBytes: 0, firstAt: undefined };
  const file = AppendFile.open(join(dir, segmentName(last.segment)), last.validBytes);
  const firstAt = last.firstAt ?? (file.size > 0 ? firstRecordAt(join(dir, segmentName(last.segment))) : undefined);
  if (!index) {
    index = new IndexWriter(dir, last.segment, loaded.indexValidBytes, loaded.ev);
    state.attach(index);
  } else index.follow(last.segment);
  const store = new FileStore(opts, {
    dir,
    state,
    index,
    writer: (events) =>
      new SegmentWriter(
        dir,
        { n: last.segment, file, firstAt },
        { ...SEGMENT_LIMITS, ...opts.segment },
        events,
        opts.maxWaiting ?? FILE_STORE_DEFAULTS.maxWaiting,
      ),
    seq: loaded.seq,
    epoch: loaded.epoch,
    ...(snap.ok && snap.header.migrated && !snap.header.migrated.importing && { migrated: snap.header.migrated }),
    snapshotTail: snap.ok ? snap.header.tail.segment : last.segment,
  });
  const legacy = join(opts.stateDir, JOURNAL_FILE);
  if (existsSync(legacy)) await migrate(store, legacy, opts);
  store.maintain();
  if (loaded.replayed > 0 || !snap.ok) await store.snapshot();
  opts.log?.info(
    { dir, live: store.live().size, seq: store.seq(), replayed: loaded.replayed, ms: Math.round(performance.now() - t0) },
    "journal opened",
  );
  return store;
}

/** The time of a segment's first record (a segment rolls a day after it), or undefined. */
function firstRecordAt(path: string): number | undefined {
  const fd = openSync(path, "r");
  try {
    const head = Buffer.allocUnsafe(Math.min(statSync(path).size, 64 * 1024));
    const n = readSync(fd, head, 0, head.length, 0);
    const nl = head.subarray(0, n).indexOf(0x0a);
    return nl === -1 ? undefined : (JSON.parse(head.toString("utf8", 0, nl)) as { at?: number }).at;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
