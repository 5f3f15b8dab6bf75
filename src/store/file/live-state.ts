import type { JournalRecord } from "../../incidents/types.js";
import { LiveSet, type LiveWindow } from "../live.js";
import { entryOf, type IndexEntry, type IndexWriter } from "./index-file.js";
import type { Line, Place } from "./segments.js";
import type { SnapshotLine } from "./snapshot.js";

/**
 * The file store's memory: the live incidents, where each of their records is in the segments, and
 * the index that takes an incident when it leaves. Used alike by the running store, by start-up
 * (replaying the tail) and by a migration (replaying an old journal at its records' own times).
 */
export class LiveState {
  readonly set: LiveSet;
  /** Per live incident: quads of seq, segment, offset, length, in the order written. */
  private readonly places = new Map<string, number[]>();
  /** Per index file: the oldest segment its incidents have records in. */
  readonly firstSegment = new Map<number, number>();

  /** Where incidents leaving memory go; none while start-up replays, and none for a read-only view (they just leave). */
  private index: IndexWriter | undefined;

  constructor(window: LiveWindow) {
    this.set = new LiveSet(window);
  }

  /** Sends incidents that leave memory, and amendments, to this index from now on. */
  attach(index: IndexWriter): void {
    this.index = index;
  }

  /** Folds a record in; false when its incident is not in memory (it left already, or its opening was lost). */
  fold(record: JournalRecord): boolean {
    return this.set.apply(record);
  }

  /**
   * Notes where a record's line is. A line written again (after a failed sync, or into a new folder)
   * moves; a record of an incident no longer in memory amends its index entry.
   */
  placed(line: Pick<Line, "seq" | "incident">, [segment, offset, length]: Place, ev: number): void {
    if (!this.set.incidents.has(line.incident)) {
      this.amend(line.incident, [segment, offset, length], ev);
      return;
    }
    let quads = this.places.get(line.incident);
    if (!quads) this.places.set(line.incident, (quads = []));
    for (let i = quads.length - 4; i >= 0; i -= 4) {
      if (quads[i] !== line.seq) continue;
      quads[i + 1] = segment;
      quads[i + 2] = offset;
      quads[i + 3] = length;
      return;
    }
    quads.push(line.seq, segment, offset, length);
  }

  /** Lets incidents past the window leave memory into the index; returns how many left. */
  sweep(now: number): number {
    if (!this.index) return this.set.sweep(now, (i) => (this.places.delete(i.id), true));
    return this.set.sweep(now, (incident) => {
      const quads = this.places.get(incident.id) ?? [];
      const entry = entryOf(incident, now, triplets(quads));
      if (!this.index!.write(entry)) return false;
      this.noteFirstSegment(entry);
      this.places.delete(incident.id);
      return true;
    });
  }

  /** An index line written after the snapshot: its incident left memory then. */
  left(entry: IndexEntry, indexFile: number): void {
    this.noteFirstSegment(entry, indexFile);
    if (entry.amend) return;
    this.set.drop(entry.id);
    this.places.delete(entry.id);
  }

  /** Puts back an incident from a snapshot. */
  restore(line: SnapshotLine): void {
    this.set.restore(line.incident);
    this.places.set(line.incident.id, line.places);
  }

  /** The live incidents and their places, for a snapshot (read as it is written, a chunk at a time). */
  *lines(): Iterable<SnapshotLine> {
    for (const incident of this.set.incidents.values()) yield { incident, places: this.places.get(incident.id) ?? [] };
  }

  /**
   * The newest seq folded into an incident held here: start-up skips the tail's records a snapshot
   * line holds already (from its timeline: a record still waiting to be written is in it too).
   */
  lastSeq(id: string): number {
    return this.set.incidents.get(id)?.timeline.at(-1)?.seq ?? -1;
  }

  /**
   * Live records up to `writtenSeq` (newer ones still wait to be written), in seq order, as lines to
   * write again: the folder they were in was deleted.
   */
  rewrite(writtenSeq: number): Line[] {
    const lines: Line[] = [];
    for (const incident of this.set.incidents.values()) {
      this.places.set(incident.id, []);
      for (const r of incident.timeline)
        if (r.seq !== undefined && r.seq <= writtenSeq)
          lines.push({ seq: r.seq, incident: r.incident, at: r.at, bytes: Buffer.from(JSON.stringify(r) + "\n") });
    }
    return lines.sort((a, b) => a.seq - b.seq);
  }

  /** The oldest segment any live incident has records in. */
  oldestLiveSegment(): number {
    let oldest = Infinity;
    for (const quads of this.places.values()) for (let i = 1; i < quads.length; i += 4) oldest = Math.min(oldest, quads[i]!);
    return oldest;
  }

  private amend(id: string, place: Place, ev: number): void {
    if (!this.index) return;
    const entry = { id, ev, amend: true, pos: place } as unknown as IndexEntry;
    if (this.index.write(entry)) this.noteFirstSegment(entry);
  }

  private noteFirstSegment(entry: IndexEntry, indexFile = this.index?.position().index): void {
    if (indexFile === undefined) return;
    let first = Infinity;
    for (let i = 0; i < entry.pos.length; i += 3) first = Math.min(first, entry.pos[i]!);
    if (first === Infinity) return;
    this.firstSegment.set(indexFile, Math.min(this.firstSegment.get(indexFile) ?? Infinity, first));
  }
}

/** Quads (seq, segment, offset, length) as the index keeps them: triplets in seq order. */
export function triplets(quads: number[]): number[] {
  let sorted = true;
  for (let i = 4; i < quads.length && sorted; i += 4) sorted = quads[i]! > quads[i - 4]!;
  if (sorted) {
    const out: number[] = [];
    for (let i = 0; i < quads.length; i += 4) out.push(quads[i + 1]!, quads[i + 2]!, quads[i + 3]!);
    return out;
  }
  const order: number[] = [];
  for (let i = 0; i < quads.length; i += 4) order.push(i);
  order.sort((a, b) => quads[a]! - quads[b]!);
  return order.flatMap((i) => [quads[i + 1]!, quads[i + 2]!, quads[i + 3]!]);
}
