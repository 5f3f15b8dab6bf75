import { afterEach, describe, expect, it } from "vitest";
import { journalDir, listJournal } from "./layout.js";
import { manualClock, memoryLog, opened, openStore, removeTempDirs, resolved, tempStateDir } from "./test-kit.js";

afterEach(removeTempDirs);

const DAY = 24 * 3600_000;

describe("FileStore retention", () => {
  it("prunes resolved history older than the retention, whole files, and never an open incident", async () => {
    const stateDir = tempStateDir();
    const clock = manualClock(Date.UTC(2026, 0, 1));
    const t0 = clock.now();
    const first = memoryLog();
    const store = await openStore(stateDir, { clock, retentionMs: 10 * DAY, log: first.log });
    // An incident that opens on day 0 and stays open; one a day that resolves within the minute.
    store.append("longopen", opened("db"), t0);
    for (let day = 0; day < 30; day++) {
      clock.set(t0 + day * DAY + 1000);
      store.append(`d${day}`, opened("web"), clock.now());
      store.append(`d${day}`, resolved, clock.now() + 60_000);
      store.maintain();
    }
    // Checked as it runs: the day files past the retention went, a few at a time.
    const pruned = (lines: typeof first.lines) => lines.filter((l) => l.msg === "pruned resolved history older than the retention");
    expect(pruned(first.lines).length).toBeGreaterThan(5);
    expect(pruned(first.lines)[0]?.fields).toMatchObject({ retentionMs: 10 * DAY });
    await store.close();
    // And at start: three days later, three more days are past it.
    clock.advance(3 * DAY);
    const { log, lines } = memoryLog();
    const again = await openStore(stateDir, { clock, retentionMs: 10 * DAY, log });
    expect(pruned(lines)).toHaveLength(1);
    const kept = await again.history({ limit: 100 });
    // Days 0..21 left memory (an hour after they resolved) more than 10 days ago: pruned with their index files.
    const days = kept.incidents.filter((i) => i.id !== "longopen").map((i) => Number(i.id.slice(1)));
    expect(Math.min(...days)).toBeGreaterThanOrEqual(21);
    expect(Math.min(...days)).toBeLessThanOrEqual(22);
    expect(days.every((d, n) => n === 0 || days[n - 1] === d + 1)).toBe(true);
    // The open one is whole: its opening is in the first segment, which is kept for it.
    const open = await again.find("longopen");
    expect(open.found?.timeline.map((r) => r.type)).toEqual(["opened"]);
    expect(listJournal(journalDir(stateDir)).segments[0]).toBe(1);
    // Once it resolves and that too is past the retention, its segments go.
    again.append("longopen", resolved, clock.now());
    clock.advance(2 * 3600_000);
    again.maintain();
    expect(again.live().has("longopen")).toBe(false);
    expect(listJournal(journalDir(stateDir)).segments[0]).toBe(1);
    for (let day = 0; day < 12; day++) {
      clock.advance(DAY);
      again.append(`e${day}`, opened("web"), clock.now());
      again.append(`e${day}`, resolved, clock.now() + 1);
      again.maintain();
    }
    await again.snapshot();
    const left = listJournal(journalDir(stateDir));
    expect(left.segments[0]).toBeGreaterThan(1);
    expect((await again.find("longopen")).found).toBeUndefined();
    await again.close();
  });
});
