import { closeSync, fstatSync, mkdirSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import type { Incident } from "../../incidents/types.js";
import { AppendFile } from "./append-file.js";
import { indexName } from "./layout.js";

/**
 * One line of the index: an incident that left memory, as a list shows it, and where its records
 * are in the segments (flat triplets: segment, offset, length), so that showing it reads only its
 * own lines. `ev` (when it left) never decreases along the index, and an incident leaves only
 * after it resolved, so a scan from the end can stop once `ev` is older than what it looks for.
 * An amendment (`amend`) adds the places of records that came after the incident left.
 */
export interface IndexEntry extends Pick<
  Incident,
  "id" | "target" | "kind" | "severity" | "state" | "openedAt" | "updatedAt" | "resolvedAt" | "root" | "source" | "evidence" | "occurrences"
> {
  ev: number;
  dryRun?: true;
  runs: number;
  /** Notifications by status: what `medic incidents` prints without reading the segments. */
  notified: Partial<Record<"sent" | "queued" | "superseded" | "failed", number>>;
  pos: number[];
  amend?: true;
}

/** The index line of an incident leaving memory at `ev`, its records at `pos`. */
export function entryOf(i: Incident, ev: number, pos: number[]): IndexEntry {
  const notified: IndexEntry["notified"] = {};
  for (const n of i.notifications) notified[n.status] = (notified[n.status] ?? 0) + 1;
  return {
    id: i.id,
    ev,
    target: i.target,
    kind: i.kind,
    severity: i.severity,
    state: i.state,
    openedAt: i.openedAt,
    updatedAt: i.updatedAt,
    ...(i.resolvedAt !== undefined && { resolvedAt: i.resolvedAt }),
    ...(i.root && { root: i.root }),
    ...(i.source && { source: i.source }),
    ...(i.dryRun && { dryRun: true as const }),
    evidence: i.evidence,
    occurrences: i.occurrences,
    runs: i.runs.length,
    notified,
    pos,
  };
}

/** An index line's entry, or undefined when the line is not one (junk is skipped, never fatal). */
export function parseEntry(line: Buffer): IndexEntry | undefined {
  try {
    const e = JSON.parse(line.toString("utf8")) as IndexEntry;
    return typeof e?.id === "string" && typeof e.ev === "number" && Array.isArray(e.pos) ? e : undefined;
  } catch {
    return undefined;
  }
}

const ID_AT = Buffer.byteLength('{"id":"');

/** Whether an index line's id starts with `prefix`, read from its bytes without parsing it. */
export function lineIdStartsWith(line: Buffer, prefix: Buffer): boolean {
  return line.length > ID_AT + prefix.length && line.compare(prefix, 0, prefix.length, ID_AT, ID_AT + prefix.length) === 0;
}

/** A whole-number field of an index line (`ev`, `openedAt`), read from its bytes without parsing the line. */
export function numberField(line: Buffer, name: "ev" | "openedAt"): number | undefined {
  const key = name === "ev" ? EV : OPENED_AT;
  const at = line.indexOf(key);
  if (at === -1) return undefined;
  let n = 0;
  let i = at + key.length;
  for (; i < line.length; i++) {
    const c = line[i]!;
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + (c - 0x30);
  }
  return i === at + key.length ? undefined : n;
}

const EV = Buffer.from('"ev":');
const OPENED_AT = Buffer.from('"openedAt":');

/** An index line's `ev` (it follows the id). */
export function evOf(line: Buffer): number | undefined {
  return numberField(line, "ev");
}

/** The `ev` of a closed index file's last whole line (retention's test), or undefined when it has none. */
export function lastEvOf(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const tail = Buffer.allocUnsafe(Math.min(size, 64 * 1024));
    const n = readSync(fd, tail, 0, tail.length, size - tail.length);
    const end = tail.lastIndexOf(0x0a, n - 1);
    if (end <= 0) return undefined;
    const start = tail.lastIndexOf(0x0a, end - 1) + 1;
    return evOf(tail.subarray(start, end));
  } finally {
    closeSync(fd);
  }
}

/**
 * Appends index lines to the file of the current segment, starting the next one when the segment
 * rolls, and opening it again in a new folder if the folder was deleted.
 */
export class IndexWriter {
  private file: AppendFile | undefined;
  private n: number;
  private last = 0;

  /** `n`: the current segment; `validBytes`: its index file's whole lines, when it exists already. */
  constructor(
    private readonly dir: string,
    n: number,
    validBytes?: number,
    lastEv = 0,
  ) {
    this.n = n;
    this.last = lastEv;
    if (validBytes !== undefined) this.file = AppendFile.open(join(dir, indexName(n)), validBytes);
  }

  /** The segment number the index follows now. */
  follow(n: number): void {
    if (n === this.n) return;
    this.file?.close();
    this.file = undefined;
    this.n = n;
  }

  /** When the newest line says its incident left: a later one never says earlier. */
  lastEv(): number {
    return this.last;
  }

  /** Where the next line goes: the index file's number and size. */
  position(): { index: number; offset: number } {
    return { index: this.n, offset: this.file?.size ?? 0 };
  }

  /** Writes one entry, its `ev` raised to the last one's if the clock went back; false when the disk refused it. */
  write(entry: IndexEntry): boolean {
    entry.ev = Math.max(entry.ev, this.last);
    try {
      if (this.file?.unlinked()) {
        this.file.close();
        this.file = undefined;
      }
      if (!this.file) {
        mkdirSync(this.dir, { recursive: true });
        this.file = AppendFile.open(join(this.dir, indexName(this.n)));
      }
    } catch {
      return false;
    }
    if (this.file.write(Buffer.from(JSON.stringify(entry) + "\n")) !== undefined) return false;
    this.last = entry.ev;
    return true;
  }

  /** fdatasync now (before a snapshot that no longer holds the incidents written here). */
  syncNow(): void {
    this.file?.syncNow();
  }

  close(): void {
    this.file?.close();
  }
}
