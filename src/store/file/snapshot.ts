import { closeSync, fdatasyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Incident } from "../../incidents/types.js";
import { SNAPSHOT_FILE } from "./layout.js";
import { yieldToLoop } from "./reverse-lines.js";
import { syncDir } from "./segments.js";

/**
 * What start-up needs besides the live incidents: where the tail to replay begins, where the index
 * was, and the counters. Taken when the snapshot starts; the incident lines are written after it,
 * a chunk at a time, while records keep coming: each line holds its incident as it was when
 * written, and its last record's seq says which records of the tail it holds already.
 */
export interface SnapshotHeader {
  v: 1;
  /** The newest record's seq when the snapshot began. */
  seq: number;
  /** The tail to replay: from this offset of this segment on. */
  tail: { segment: number; offset: number };
  /** Index lines after this one were written after the snapshot began: their incidents left memory. */
  index: { index: number; offset: number };
  /** The newest index line's `ev`. */
  ev: number;
  epoch: number;
  writtenAt: number;
  /** Per index file, the oldest segment its incidents have records in (retention keeps those). */
  firstSegment: Record<string, number>;
  /** A single-file journal migrated (`bytes` long), or being migrated (`importing`): the tail is that import. */
  migrated?: { from: string; bytes: number; importing?: true };
}

/** A live incident in a snapshot, with the places of its records: quads of seq, segment, offset, length. */
export interface SnapshotLine {
  incident: Incident;
  places: number[];
}

/** A snapshot read back: its header and live incidents, or why it cannot be used. */
export type ReadSnapshot = { ok: true; header: SnapshotHeader; lines: SnapshotLine[] } | { ok: false; why: string };

const TMP = `${SNAPSHOT_FILE}.tmp`;
const CHUNK_CHARS = 1024 * 1024;

/**
 * Writes a snapshot atomically: a temporary file, fdatasync, rename over the old one, fsync of the
 * folder. A crash at any point leaves the old snapshot or the new one, never half of one. Yields to
 * the event loop between chunks, so a large live set does not stall probes.
 */
export async function writeSnapshot(dir: string, header: SnapshotHeader, lines: () => Iterable<SnapshotLine>): Promise<void> {
  const tmp = join(dir, TMP);
  const fd = openSync(tmp, "w");
  let count = 0;
  try {
    let chunk = JSON.stringify(header) + "\n";
    for (const line of lines()) {
      chunk += JSON.stringify(line) + "\n";
      count++;
      if (chunk.length < CHUNK_CHARS) continue;
      writeAll(fd, chunk);
      chunk = "";
      await yieldToLoop();
    }
    writeAll(fd, chunk + JSON.stringify({ end: count }) + "\n");
    fdatasyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, join(dir, SNAPSHOT_FILE));
  syncDir(dir);
}

/** Reads the snapshot; one that is missing, cut short or not ours says why and is not used. */
export function readSnapshot(dir: string): ReadSnapshot {
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(dir, SNAPSHOT_FILE));
  } catch (err) {
    return { ok: false, why: (err as NodeJS.ErrnoException).code === "ENOENT" ? "none" : (err as Error).message };
  }
  const lines: SnapshotLine[] = [];
  let header: SnapshotHeader | undefined;
  let end: number | undefined;
  try {
    for (let from = 0; from < bytes.length;) {
      const nl = bytes.indexOf(0x0a, from);
      if (nl === -1) return { ok: false, why: "its last line is cut short" };
      const value = JSON.parse(bytes.toString("utf8", from, nl)) as SnapshotHeader & SnapshotLine & { end?: number };
      from = nl + 1;
      if (!header) {
        if (value.v !== 1) return { ok: false, why: `unknown snapshot version ${String(value.v)}` };
        header = value;
      } else if (value.end !== undefined) end = value.end;
      else lines.push({ incident: value.incident, places: value.places });
    }
  } catch (err) {
    return { ok: false, why: `not JSON: ${(err as Error).message}` };
  }
  if (!header || end !== lines.length) return { ok: false, why: "it is cut short (no end line)" };
  return { ok: true, header, lines };
}

/** Removes a temporary snapshot a crash left behind. */
export function removeStraySnapshot(dir: string): void {
  rmSync(join(dir, TMP), { force: true });
}

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let done = 0; done < buf.length;) done += writeSync(fd, buf, done, buf.length - done);
}
