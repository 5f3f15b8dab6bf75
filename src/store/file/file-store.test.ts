import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseJournal } from "../../incidents/journal-read.js";
import { journalDir, segmentName } from "./layout.js";
import { SegmentFiles } from "./read-records.js";
import { manualClock, opened, openStore, removeTempDirs, resolved, tempStateDir } from "./test-kit.js";

afterEach(removeTempDirs);

const HOUR = 3600_000;

describe("FileStore", () => {
  it("numbers records, folds them into the live view at once, and has them back after a reopen", async () => {
    const stateDir = tempStateDir();
    const clock = manualClock();
    const a = await openStore(stateDir, { clock });
    const first = a.append("i1", opened("web"), clock.now());
    expect(first).toMatchObject({ ok: true, record: { seq: 1, incident: "i1", type: "opened" } });
    expect(a.live().get("i1")?.state).toBe("open");
    a.append("i1", { type: "escalated", reason: "no playbook" }, clock.now() + 1);
    await a.flushed();
    expect(a.seq()).toBe(2);
    await a.close();
    const b = await openStore(stateDir, { clock });
    expect(b.seq()).toBe(2);
    expect(b.live().get("i1")).toMatchObject({ state: "escalated", evidence: "web refused" });
    expect(b.append("i1", resolved, clock.now() + 2)).toMatchObject({ ok: true, record: { seq: 3 } });
    await b.close();
    const lines = parseJournal(readFileSync(join(journalDir(stateDir), segmentName(1)), "utf8")).records;
    expect(lines.map((r) => [r.seq, r.type])).toEqual([
      [1, "opened"],
      [2, "escalated"],
      [3, "resolved"],
    ]);
  });

  it("refuses an append whose expected seq is not the store's, and takes it when it is", async () => {
    const store = await openStore(tempStateDir());
    store.append("i1", opened("web"), 1);
    expect(store.append("i1", resolved, 2, { seq: 0 })).toMatchObject({ ok: false, reason: "conflict" });
    expect(store.live().get("i1")?.state).toBe("open");
    expect(store.append("i1", resolved, 2, { seq: 1 })).toMatchObject({ ok: true, record: { seq: 2 } });
    expect(store.append("i1", { type: "note", message: "x" }, 3, { epoch: 4 })).toMatchObject({ ok: true });
    expect(store.append("i1", { type: "note", message: "y" }, 4, { epoch: 3 })).toMatchObject({ ok: false, reason: "conflict" });
    await store.close();
  });

  it("keeps resolved incidents in memory for the window only, then finds them in history", async () => {
    const stateDir = tempStateDir();
    const clock = manualClock();
    const store = await openStore(stateDir, { clock });
    const t0 = clock.now();
    store.append("old1", opened("web"), t0);
    store.append("old1", resolved, t0 + 1000);
    store.append("open1", opened("db"), t0 + 2000);
    clock.set(t0 + HOUR + 1000);
    store.maintain();
    expect([...store.live().keys()]).toEqual(["open1"]);
    const found = await store.find("old1");
    expect(found.found).toMatchObject({ id: "old1", state: "resolved", resolvedAt: t0 + 1000 });
    expect(found.found?.timeline.map((r) => r.type)).toEqual(["opened", "resolved"]);
    const page = await store.history({ limit: 10 });
    expect(page.incidents.map((i) => i.id)).toEqual(["open1", "old1"]);
    await store.close();
    // After a restart the one that left memory stays out of it, and is still in history.
    const again = await openStore(stateDir, { clock });
    expect([...again.live().keys()]).toEqual(["open1"]);
    expect((await again.history({ limit: 10, state: "resolved" })).incidents.map((i) => i.id)).toEqual(["old1"]);
    await again.close();
  });

  it("folds a page from the segments once for clients asking again, and a record that came later is on the next answer", async () => {
    const stateDir = tempStateDir();
    const clock = manualClock();
    const store = await openStore(stateDir, { clock });
    const t0 = clock.now();
    for (let n = 0; n < 5; n++) {
      store.append(`old${n}`, opened("web"), t0 + n);
      store.append(`old${n}`, resolved, t0 + 10 + n);
    }
    clock.set(t0 + HOUR + 1000);
    store.maintain();
    expect(store.live().size).toBe(0);
    const reads = vi.spyOn(SegmentFiles.prototype, "records");
    const first = await store.history({ limit: 3 });
    expect(reads).toHaveBeenCalledTimes(3);
    const again = await store.history({ limit: 3 });
    expect(reads).toHaveBeenCalledTimes(3);
    expect(again.incidents).toEqual(first.incidents);
    // And then a record of one that left memory (a late note): the next answer has it.
    store.append("old4", { type: "note", message: "postmortem written" }, clock.now());
    clock.advance(HOUR + 1000);
    store.maintain();
    const after = await store.history({ limit: 3 });
    expect(after.incidents.find((i) => i.id === "old4")?.timeline.map((r) => r.type)).toEqual(["opened", "resolved", "note"]);
    reads.mockRestore();
    await store.close();
  });

  it("keeps a resolved incident whose notification is still queued, however old", async () => {
    const clock = manualClock();
    const store = await openStore(tempStateDir(), { clock });
    const t0 = clock.now();
    store.append("i1", opened("web"), t0);
    store.append("i1", resolved, t0 + 1);
    const notification = {
      id: "n1",
      incident: "i1",
      channel: "slack",
      event: "resolve",
      severity: "P1",
      target: "web",
      kind: "server_down",
      reason: "r",
    };
    store.append("i1", { type: "notification_queued", notification } as never, t0 + 2);
    clock.set(t0 + 10 * HOUR);
    store.maintain();
    expect(store.live().has("i1")).toBe(true);
    store.append("i1", { type: "notification_sent", id: "n1", channel: "slack" }, clock.now());
    store.maintain();
    expect(store.live().has("i1")).toBe(false);
    expect((await store.find("i1")).found?.notifications[0]?.status).toBe("sent");
    await store.close();
  });
});

describe("FileStore history", () => {
  it("pages newest first with a cursor, filters by target, state, time and root, and finds by prefix", async () => {
    const clock = manualClock();
    const store = await openStore(tempStateDir(), { clock });
    const t0 = clock.now();
    for (let n = 0; n < 30; n++) {
      const id = `inc${String(n).padStart(5, "0")}`;
      store.append(id, opened(n % 3 === 0 ? "db" : "web", n > 0 && n % 3 !== 0 ? { root: "inc00000" } : {}), t0 + n * 60_000);
      if (n < 25) store.append(id, resolved, t0 + n * 60_000 + 30_000);
    }
    clock.set(t0 + 30 * 60_000 + 2 * HOUR);
    store.maintain();
    expect(store.live().size).toBe(5);
    const ids: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await store.history({ limit: 7, ...(cursor && { cursor }) });
      ids.push(...page.incidents.map((i) => i.id));
      if (!page.next) break;
      cursor = page.next;
    }
    expect(ids).toEqual(Array.from({ length: 30 }, (_, n) => `inc${String(29 - n).padStart(5, "0")}`));
    const db = await store.history({ limit: 100, target: "db" });
    expect(db.incidents.map((i) => i.id)).toEqual([
      "inc00027",
      "inc00024",
      "inc00021",
      "inc00018",
      "inc00015",
      "inc00012",
      "inc00009",
      "inc00006",
      "inc00003",
      "inc00000",
    ]);
    expect((await store.history({ limit: 100, state: "unresolved" })).incidents).toHaveLength(5);
    const window = await store.history({ limit: 100, since: t0 + 10 * 60_000, until: t0 + 12 * 60_000 });
    // Open at some time in [10 min, 12 min]: #9 resolved at 9.5 min is not; #10, #11, #12 are.
    expect(window.incidents.map((i) => i.id)).toEqual(["inc00012", "inc00011", "inc00010"]);
    const related = await store.history({ limit: 100, root: "inc00000" });
    expect(related.incidents).toHaveLength(20);
    expect(await store.find("inc0001")).toMatchObject({ found: undefined, ambiguous: 10 });
    expect((await store.find("inc00013")).found?.id).toBe("inc00013");
    expect((await store.find("inc00028")).found?.state).toBe("suppressed");
    expect(await store.find("nope")).toEqual({ found: undefined });
    await store.close();
  });
});

describe("FileStore segments", () => {
  it("starts a new segment past its size, and a day after its first record", async () => {
    const stateDir = tempStateDir();
    const clock = manualClock();
    const store = await openStore(stateDir, { clock, segment: { maxBytes: 2000 } });
    const t0 = clock.now();
    for (let n = 0; n < 20; n++) store.append(`i${n}`, opened("web"), t0 + n);
    store.append("i0", resolved, t0 + 25 * HOUR);
    store.append("i1", resolved, t0 + 25 * HOUR + 1);
    await store.close();
    const segments = readdirSync(journalDir(stateDir)).filter((n) => /^\d{8}\.jsonl$/.test(n));
    expect(segments.length).toBeGreaterThan(2);
    const last = parseJournal(readFileSync(join(journalDir(stateDir), segments.at(-1)!), "utf8")).records;
    expect(last.map((r) => r.type)).toEqual(["resolved", "resolved"]);
    const again = await openStore(stateDir, { clock });
    expect(again.live().size).toBe(20);
    expect(again.seq()).toBe(22);
    await again.close();
  });
});
