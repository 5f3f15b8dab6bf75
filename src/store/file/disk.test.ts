import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseJournal } from "../../incidents/journal-read.js";
import { journalDir } from "./layout.js";
import { manualClock, memoryLog, opened, openStore, removeTempDirs, resolved, tempStateDir } from "./test-kit.js";

// A full disk for real: a small tmpfs of its own (mounting needs root).
const rootOnly = it.skipIf(process.getuid?.() !== 0);
const cleanups: (() => void)[] = [];
afterEach(() => {
  cleanups
    .splice(0)
    .reverse()
    .forEach((c) => c());
  removeTempDirs();
});

function smallDisk(): string {
  const dir = mkdtempSync(join(tmpdir(), "medic-store-full-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => execFileSync("umount", ["-l", dir]));
  return join(dir, "state");
}

/** Takes every byte left on the disk. */
function fill(stateDir: string): string {
  const file = join(stateDir, "..", "filler");
  for (let size = 64 * 1024; size >= 1; size = Math.floor(size / 2)) {
    for (;;) {
      try {
        writeFileSync(file, Buffer.alloc(size), { flag: "a" });
      } catch {
        break;
      }
    }
  }
  return file;
}

// Larger than a page, so that the slack at the end of the segment's last page cannot take it.
const big = (n: number) => opened(`t${n}`, { evidence: `${n} `.padEnd(5000, "x") });

/** The records in the segments, oldest first, as incident:type. */
function onDisk(stateDir: string): string[] {
  const dir = journalDir(stateDir);
  return readdirSync(dir)
    .filter((n) => /^\d{8}\.jsonl$/.test(n))
    .sort()
    .flatMap((n) => parseJournal(readFileSync(join(dir, n), "utf8")).records.map((r) => `${r.incident}:${r.type}`));
}

describe("FileStore on a full disk", () => {
  rootOnly("keeps records the disk refused, in order, acts on them, and writes them before the next one once there is room", async () => {
    const stateDir = smallDisk();
    const { log, lines } = memoryLog();
    const store = await openStore(stateDir, { log });
    store.append("i1", big(1), 1);
    await store.flushed();
    const filler = fill(stateDir);
    store.append("i2", big(2), 2);
    store.append("i1", resolved, 3);
    store.append("i2", { type: "escalated", reason: "no playbook" }, 4);
    expect(store.waiting()).toBe(3);
    // The fold has them, and flushed() does not hold the daemon up: they are kept in memory.
    expect(store.live().get("i1")?.state).toBe("resolved");
    expect(store.live().get("i2")?.state).toBe("escalated");
    await store.flushed();
    expect(onDisk(stateDir)).toEqual(["i1:opened"]);
    expect(store.problem()).toMatch(/3 journal records waiting in memory to be written: .*(ENOSPC|space)/i);
    expect(lines.filter((l) => l.level === "error").map((l) => l.msg)).toEqual([
      "cannot append to the journal; keeping records in memory until the state dir takes writes again (free space or make it writable)",
    ]);
    rmSync(filler);
    store.append("i3", big(3), 5);
    expect(store.waiting()).toBe(0);
    await store.flushed();
    expect(onDisk(stateDir)).toEqual(["i1:opened", "i2:opened", "i1:resolved", "i2:escalated", "i3:opened"]);
    expect(store.problem()).toBeUndefined();
    expect(lines.at(-1)?.msg).toBe("the journal takes writes again; the records kept in memory are written");
    await store.close();
    // And after a restart, every one is there, whole.
    // (The records' times are a few ms after the epoch: the clock is there too, so the resolved one is recent.)
    const again = await openStore(stateDir, { clock: manualClock(10) });
    expect([...again.live().values()].map((i) => `${i.id}:${i.state}`)).toEqual(["i1:resolved", "i2:escalated", "i3:open"]);
    await again.close();
  });

  rootOnly("writes what waits on the periodic check too, without a new record", async () => {
    const stateDir = smallDisk();
    const store = await openStore(stateDir);
    store.append("i1", big(1), 1);
    const filler = fill(stateDir);
    store.append("i1", { type: "resolved", reason: "x".repeat(5000) }, 2);
    expect(store.waiting()).toBe(1);
    rmSync(filler);
    expect(store.problem()).toBeUndefined();
    expect(onDisk(stateDir)).toEqual(["i1:opened", "i1:resolved"]);
    await store.close();
  });

  rootOnly("beyond its bound drops the oldest waiting records and says how many", async () => {
    const stateDir = smallDisk();
    const store = await openStore(stateDir, { maxWaiting: 2 });
    store.append("i1", big(1), 1);
    const filler = fill(stateDir);
    for (let n = 2; n <= 5; n++) store.append(`i${n}`, big(n), n);
    expect(store.waiting()).toBe(2);
    expect(store.problem()).toMatch(/2 journal records waiting in memory to be written \(2 older ones dropped\)/);
    rmSync(filler);
    expect(store.problem()).toBeUndefined();
    expect(onDisk(stateDir)).toEqual(["i1:opened", "i4:opened", "i5:opened"]);
    await store.close();
  });
});

describe("FileStore when the state dir is deleted", () => {
  it("says so, and once the dir is back writes the live incidents' records and what came meanwhile into it", async () => {
    const stateDir = tempStateDir();
    const store = await openStore(stateDir);
    store.append("open1", opened("web"), 1);
    store.append("open1", { type: "held", by: "maintenance", reason: "window" }, 2);
    store.append("done1", opened("db"), 3);
    store.append("done1", resolved, 4);
    await store.flushed();
    rmSync(stateDir, { recursive: true, force: true });
    expect(store.problem()).toBe(`${stateDir} was deleted; the next record recreates it`);
    mkdirSync(stateDir);
    expect(store.problem()).toBeUndefined();
    store.append("open1", { type: "escalated", reason: "no playbook" }, 5);
    await store.close();
    expect(onDisk(stateDir)).toEqual(["open1:opened", "open1:held", "done1:opened", "done1:resolved", "open1:escalated"]);
    const again = await openStore(stateDir, { clock: manualClock(10) });
    expect([...again.live().values()].map((i) => `${i.id}:${i.state}`)).toEqual(["open1:escalated", "done1:resolved"]);
    expect(again.seq()).toBe(5);
    await again.close();
  });

  it("made again by the next record when nobody makes it", async () => {
    const stateDir = tempStateDir();
    const store = await openStore(stateDir);
    store.append("open1", opened("web"), 1);
    await store.flushed();
    rmSync(stateDir, { recursive: true, force: true });
    store.append("open1", resolved, 2);
    expect(store.waiting()).toBe(0);
    await store.close();
    expect(onDisk(stateDir)).toEqual(["open1:opened", "open1:resolved"]);
  });
});
