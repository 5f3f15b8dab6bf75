import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseJournal } from "../../incidents/journal-read.js";
import { AppendFile } from "./append-file.js";
import { journalDir, listJournal, segmentName, SNAPSHOT_FILE } from "./layout.js";
import { manualClock, memoryLog, opened, openStore, removeTempDirs, resolved, tempStateDir } from "./test-kit.js";

afterEach(() => {
  vi.restoreAllMocks();
  removeTempDirs();
});

const HOUR = 3600_000;
const segmentText = (stateDir: string, n = 1) => readFileSync(join(journalDir(stateDir), segmentName(n)), "utf8");

// A "crash" here is a store left without close(): nothing more reaches its files, as when medic is killed.

describe("FileStore after a crash", () => {
  it("drops a line cut short in the last segment, keeps every record before it, and appends whole lines after it", async () => {
    const stateDir = tempStateDir();
    const clock = manualClock();
    const a = await openStore(stateDir, { clock });
    a.append("i1", opened("web"), clock.now());
    a.append("i2", opened("db"), clock.now() + 1);
    await a.flushed();
    const before = segmentText(stateDir);
    appendFileSync(join(journalDir(stateDir), segmentName(1)), '{"type":"resolved","reason":"ok","at":3,"incid');
    const { log, lines } = memoryLog();
    const b = await openStore(stateDir, { clock, log });
    expect([...b.live().values()].map((i) => [i.id, i.state])).toEqual([
      ["i1", "open"],
      ["i2", "open"],
    ]);
    expect(b.append("i1", resolved, clock.now() + 5)).toMatchObject({ ok: true, record: { seq: 3 } });
    await b.close();
    const after = segmentText(stateDir);
    expect(after.startsWith(before)).toBe(true);
    expect(parseJournal(after)).toMatchObject({ skipped: 0, validBytes: Buffer.byteLength(after) });
    expect(parseJournal(after).records.map((r) => `${r.incident}:${r.type}`)).toEqual(["i1:opened", "i2:opened", "i1:resolved"]);
    expect(lines.filter((l) => l.level !== "info")).toEqual([]);
  });

  it("replays the records after an old snapshot: what left memory since stays out, what came since is in", async () => {
    const stateDir = tempStateDir();
    const clock = manualClock();
    const t0 = clock.now();
    const a = await openStore(stateDir, { clock });
    a.append("gone", opened("web"), t0);
    a.append("gone", resolved, t0 + 1000);
    a.append("held", opened("db"), t0 + 2000);
    await a.snapshot();
    // After the snapshot: one incident leaves memory, one opens, one resolves.
    clock.set(t0 + HOUR + 5000);
    a.maintain();
    expect(a.live().has("gone")).toBe(false);
    a.append("new", opened("api"), clock.now());
    a.append("held", resolved, clock.now() + 1);
    await a.flushed();
    const crashed = new Map([...a.live()].map(([id, i]) => [id, structuredClone(i)]));
    const b = await openStore(stateDir, { clock });
    expect(new Map([...b.live()].map(([id, i]) => [id, i]))).toEqual(crashed);
    expect(b.seq()).toBe(a.seq());
    expect((await b.find("gone")).found?.timeline.map((r) => r.type)).toEqual(["opened", "resolved"]);
    expect((await b.history({ limit: 10 })).incidents.map((i) => i.id)).toEqual(["new", "held", "gone"]);
    await b.close();
  });

  it("rebuilds from the segments when the snapshot is cut short, and ignores a temporary one left half-written", async () => {
    const stateDir = tempStateDir();
    const clock = manualClock();
    const t0 = clock.now();
    const a = await openStore(stateDir, { clock, segment: { maxBytes: 1500 } });
    for (let n = 0; n < 12; n++) {
      a.append(`i${n}`, opened(`t${n}`), t0 + n * 60_000);
      if (n < 8) a.append(`i${n}`, resolved, t0 + n * 60_000 + 1000);
    }
    clock.set(t0 + 8 * 60_000 + HOUR);
    a.maintain();
    await a.close();
    expect(listJournal(journalDir(stateDir)).segments.length).toBeGreaterThan(1);
    const snapshot = join(journalDir(stateDir), SNAPSHOT_FILE);
    const text = readFileSync(snapshot, "utf8");
    writeFileSync(snapshot, text.slice(0, text.lastIndexOf('{"end"')));
    writeFileSync(`${snapshot}.tmp`, '{"v":1,"seq":99');
    const { log, lines } = memoryLog();
    const b = await openStore(stateDir, { clock, log });
    expect(lines.find((l) => l.level === "warn")).toMatchObject({ fields: { why: "it is cut short (no end line)" } });
    expect([...b.live().keys()].sort()).toEqual(["i10", "i11", "i8", "i9"]);
    expect(b.seq()).toBe(20);
    const all = await b.history({ limit: 100 });
    expect(all.incidents.map((i) => i.id)).toEqual(Array.from({ length: 12 }, (_, n) => `i${11 - n}`));
    expect(all.incidents.every((i) => i.timeline[0]?.type === "opened")).toBe(true);
    await b.close();
    // The rebuild wrote a good snapshot: the next start reads it and no tail.
    const { log: log2, lines: lines2 } = memoryLog();
    const c = await openStore(stateDir, { clock, log: log2 });
    expect(lines2.find((l) => l.msg === "journal opened")?.fields).toMatchObject({ replayed: 0, live: 4 });
    await c.close();
  });
});

describe("FileStore group commit", () => {
  it("makes a burst of appends durable with far fewer fdatasyncs than records, and flushed() waits for them", async () => {
    const store = await openStore(tempStateDir());
    const sync = vi.spyOn(AppendFile.prototype, "sync");
    for (let n = 0; n < 200; n++) store.append(`i${n}`, opened(`t${n}`), n);
    // Written at once: the lines are in the file before any fdatasync finished.
    const flushed = store.flushed();
    let done = false;
    void flushed.then(() => (done = true));
    expect(done).toBe(false);
    await flushed;
    expect(sync.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(sync.mock.calls.length).toBeLessThanOrEqual(3);
    // Nothing new since: flushed() has nothing to wait for.
    const calls = sync.mock.calls.length;
    await store.flushed();
    expect(sync.mock.calls.length).toBe(calls);
    await store.close();
  });
});
