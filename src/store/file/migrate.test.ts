import { appendFileSync, copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { applyRecord } from "../../incidents/fold.js";
import { parseJournal } from "../../incidents/journal-read.js";
import type { Incident } from "../../incidents/types.js";
import type { IncidentStore } from "../types.js";
import { journalDir, listJournal, segmentName, SNAPSHOT_FILE } from "./layout.js";
import { legacyId, writeLegacyJournal } from "./legacy-kit.js";
import { manualClock, memoryLog, openStore, removeTempDirs, tempStateDir } from "./test-kit.js";

afterEach(removeTempDirs);

const MIN = 60_000;
const DAY = 24 * 3600_000;

/** Every incident in the store, by paging through its history. */
async function everything(store: IncidentStore): Promise<Map<string, Incident>> {
  const all = new Map<string, Incident>();
  let cursor: string | undefined;
  do {
    const page = await store.history({ limit: 500, ...(cursor && { cursor }) });
    for (const i of page.incidents) all.set(i.id, i);
    cursor = page.next;
  } while (cursor);
  return all;
}

/** An incident with its records' seqs taken out, to compare with the old format's fold. */
function withoutSeq(i: Incident): Incident {
  return { ...i, timeline: i.timeline.map(({ seq: _seq, ...r }) => r) } as Incident;
}

/** Records in the segments, in order. */
function segmentLines(stateDir: string): string[] {
  const dir = journalDir(stateDir);
  return listJournal(dir).segments.flatMap((n) =>
    readFileSync(join(dir, segmentName(n)), "utf8")
      .split("\n")
      .filter(Boolean),
  );
}

describe("migrating a single-file journal", () => {
  it("moves every record into day segments, keeps only the live view in memory, and keeps the old file renamed", async () => {
    const stateDir = tempStateDir();
    // 3,000 incidents (30,000 records), one every 2 minutes over about four days; the last 5 still open.
    const start = Date.UTC(2026, 0, 1);
    const records = writeLegacyJournal(stateDir, { incidents: 3000, startAt: start, everyMs: 2 * MIN, open: 5 });
    // The old format's fold of it, as the medic before segments made it.
    const before = new Map<string, Incident>();
    for (const r of parseJournal(readFileSync(join(stateDir, "journal.jsonl"), "utf8")).records) applyRecord(before, r);
    const clock = manualClock(start + 3000 * 2 * MIN);
    const { log, lines } = memoryLog();
    const store = await openStore(stateDir, { clock, log });
    // In memory: the open ones, and those resolved within the hour.
    expect(store.live().size).toBeLessThan(40);
    expect([...store.live().values()].filter((i) => i.state !== "resolved")).toHaveLength(5);
    // Every record is in the segments, each numbered, and a segment holds at most a day.
    expect(segmentLines(stateDir)).toHaveLength(records);
    expect(store.seq()).toBe(records);
    expect(listJournal(journalDir(stateDir)).segments.length).toBeGreaterThanOrEqual(4);
    // Every incident reads back the same as the old format's fold of it.
    const after = await everything(store);
    expect(after.size).toBe(before.size);
    for (const [id, old] of before) expect(withoutSeq(after.get(id)!), id).toEqual(old);
    // The old file is kept, renamed, and the log says so.
    const kept = readdirSync(stateDir).filter((n) => n.startsWith("journal.jsonl.migrated-"));
    expect(kept).toHaveLength(1);
    expect(existsSync(join(stateDir, "journal.jsonl"))).toBe(false);
    expect(lines.find((l) => l.msg.startsWith("the single-file journal is migrated"))?.fields).toMatchObject({
      journal: join(stateDir, "journal.jsonl"),
      keptAs: join(stateDir, kept[0]!),
    });
    await store.close();
    // A second start migrates nothing again.
    const again = await openStore(stateDir, { clock });
    expect(again.seq()).toBe(records);
    expect(segmentLines(stateDir)).toHaveLength(records);
    await again.close();
  });

  it("skips junk lines of the old file and says so, and drops its line cut short", async () => {
    const stateDir = tempStateDir();
    writeLegacyJournal(stateDir, { incidents: 3, startAt: 1_000, everyMs: MIN, open: 1 });
    appendFileSync(join(stateDir, "journal.jsonl"), 'garbage\n{"at":5,"incident":"00000002","type":"resol');
    const { log, lines } = memoryLog();
    const store = await openStore(stateDir, { clock: manualClock(10 * MIN), log });
    expect(lines.find((l) => l.level === "warn")?.fields).toMatchObject({ skipped: 1, oversized: 0 });
    expect(store.live().get(legacyId(2))?.state).toBe("verifying");
    await store.close();
  });

  it("a migration cut short by a crash is done again from the start, with no record twice", async () => {
    const stateDir = tempStateDir();
    const start = Date.UTC(2026, 0, 1);
    const records = writeLegacyJournal(stateDir, { incidents: 500, startAt: start, everyMs: 10 * MIN, open: 2 });
    const copy = join(stateDir, "..", "journal.copy");
    copyFileSync(join(stateDir, "journal.jsonl"), copy);
    const snapshot = join(journalDir(stateDir), SNAPSHOT_FILE);
    // The first start writes its "importing" snapshot before it imports: keep that one.
    const clock = manualClock(start + 500 * 10 * MIN);
    const first = await openStore(stateDir, { clock });
    await first.close();
    expect(segmentLines(stateDir)).toHaveLength(records);
    // Now make it as if medic died at the end of the import: the marking snapshot, every segment written, the old file there.
    const marking = {
      v: 1,
      seq: 0,
      tail: { segment: 1, offset: 0 },
      index: { index: 1, offset: 0 },
      ev: 0,
      epoch: 0,
      writtenAt: start,
      firstSegment: {},
      migrated: { from: "journal.jsonl", bytes: readFileSync(copy).length, importing: true },
    };
    writeFileSync(snapshot, `${JSON.stringify(marking)}\n{"end":0}\n`);
    copyFileSync(copy, join(stateDir, "journal.jsonl"));
    const second = await openStore(stateDir, { clock });
    expect(segmentLines(stateDir)).toHaveLength(records);
    expect(second.seq()).toBe(records);
    expect((await everything(second)).size).toBe(500);
    await second.close();
  });

  it("a crash after the import but before the old file was renamed: the next start only renames it", async () => {
    const stateDir = tempStateDir();
    const records = writeLegacyJournal(stateDir, { incidents: 50, startAt: 1_000, everyMs: MIN });
    const clock = manualClock(DAY);
    await (await openStore(stateDir, { clock })).close();
    const [kept] = readdirSync(stateDir).filter((n) => n.startsWith("journal.jsonl.migrated-"));
    copyFileSync(join(stateDir, kept!), join(stateDir, "journal.jsonl"));
    const { log, lines } = memoryLog();
    const store = await openStore(stateDir, { clock, log });
    expect(segmentLines(stateDir)).toHaveLength(records);
    expect(lines.some((l) => l.msg.startsWith("migrating"))).toBe(false);
    expect(existsSync(join(stateDir, "journal.jsonl"))).toBe(false);
    await store.close();
  });
});

describe("migrating a journal with a secret in it", () => {
  it("redacts a secret configured now in the records it moves, and moves the others as they were", async () => {
    const { redactor } = await import("../../lib/redact.js");
    const stateDir = tempStateDir();
    writeLegacyJournal(stateDir, { incidents: 2, startAt: 1_000, everyMs: MIN, open: 2 });
    appendFileSync(
      join(stateDir, "journal.jsonl"),
      `{"type":"note","message":"token hunter2-s3cret leaked","at":9000,"incident":"00000001"}\n`,
    );
    redactor.add(["hunter2-s3cret"]);
    const store = await openStore(stateDir, { clock: manualClock(10 * MIN) });
    await store.close();
    const text = segmentLines(stateDir).join("\n");
    expect(text).not.toContain("hunter2-s3cret");
    expect(text).toContain('"message":"token [secret] leaked"');
    expect(segmentLines(stateDir)[0]).toMatch(/^\{"type":"opened",.*"incident":"00000000","seq":1\}$/);
  });
});
