import { appendFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { journalDir, listJournal, segmentName } from "./layout.js";
import { writeLegacyJournal } from "./legacy-kit.js";
import { MemoryStore } from "../memory.js";
import { openReadOnly } from "./read-only.js";
import { manualClock, opened, openStore, removeTempDirs, resolved, tempStateDir } from "./test-kit.js";

afterEach(removeTempDirs);

const HOUR = 3600_000;

/** Every file under a dir with its size and mtime: what a read-only opening must leave as it was. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => {
      const s = statSync(join(dir, f));
      return `${f} ${s.size} ${s.mtimeMs}`;
    })
    .sort();
}

describe("openReadOnly", () => {
  it("sees what a running store wrote, live and history, with a line still being written, and writes nothing", async () => {
    const stateDir = tempStateDir();
    const clock = manualClock();
    const t0 = clock.now();
    const writer = await openStore(stateDir, { clock });
    writer.append("old", opened("web"), t0);
    writer.append("old", resolved, t0 + 1);
    clock.advance(2 * HOUR);
    writer.maintain();
    writer.append("now", opened("db"), clock.now());
    await writer.flushed();
    // The writer is half-way through a line.
    const last = listJournal(journalDir(stateDir)).segments.at(-1)!;
    appendFileSync(join(journalDir(stateDir), segmentName(last)), '{"type":"resolved","reason":"ok","at":');
    const before = files(stateDir);
    const view = openReadOnly(stateDir);
    expect([...view.live().keys()]).toEqual(["now"]);
    expect(view.skipped.skipped).toBe(0);
    expect((await view.history({ limit: 10 })).incidents.map((i) => [i.id, i.state])).toEqual([
      ["now", "open"],
      ["old", "resolved"],
    ]);
    expect((await view.find("old")).found?.timeline).toHaveLength(2);
    expect(view.append("now", resolved, clock.now())).toMatchObject({ ok: false });
    await view.close();
    expect(files(stateDir)).toEqual(before);
  });

  it("reads a single-file journal an older medic wrote (not migrated yet) as that medic did", async () => {
    const stateDir = tempStateDir();
    writeLegacyJournal(stateDir, { incidents: 20, startAt: 1_000, everyMs: 60_000, open: 2 });
    const before = files(stateDir);
    const view = openReadOnly(stateDir);
    expect(view.live().size).toBe(20);
    const page = await view.history({ limit: 5, state: "resolved" });
    expect(page.incidents.map((i) => i.id)).toEqual(["00000011", "00000010", "0000000f", "0000000e", "0000000d"]);
    expect(files(stateDir)).toEqual(before);
  });

  it("has nothing for a state dir that does not exist, and makes none", () => {
    const stateDir = tempStateDir();
    const view = openReadOnly(stateDir);
    expect(view.live().size).toBe(0);
    expect(() => statSync(stateDir)).toThrow(/ENOENT/);
  });

  it("is a dry run's starting point: an overlay keeps its own records in memory, sees the history, and nothing is written", async () => {
    const stateDir = tempStateDir();
    const clock = manualClock();
    const t0 = clock.now();
    const writer = await openStore(stateDir, { clock });
    writer.append("old", opened("web"), t0);
    writer.append("old", resolved, t0 + 1);
    writer.append("open", opened("db"), t0 + 2);
    clock.advance(2 * HOUR);
    writer.maintain();
    await writer.close();
    const before = files(stateDir);
    const dry = new MemoryStore({ base: openReadOnly(stateDir), recentMs: HOUR, clock });
    expect(dry.seq()).toBe(3);
    expect(dry.append("open", { type: "would_run", plan: ["restart db"], guards: "ok" }, clock.now())).toMatchObject({
      ok: true,
      record: { seq: 4 },
    });
    dry.append("dry1", opened("api", { dryRun: true }), clock.now());
    expect((await dry.history({ limit: 10 })).incidents.map((i) => i.id)).toEqual(["dry1", "open", "old"]);
    expect((await dry.find("old")).found?.state).toBe("resolved");
    await dry.close();
    expect(files(stateDir)).toEqual(before);
    // The real store never saw the dry run's records.
    const real = openReadOnly(stateDir);
    expect(
      real
        .live()
        .get("open")
        ?.timeline.map((r) => r.type),
    ).toEqual(["opened"]);
  });
});
