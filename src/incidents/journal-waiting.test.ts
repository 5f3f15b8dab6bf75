import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { JOURNAL_FILE, JournalStore, parseJournal } from "./journal.js";

// A full disk for real: a small tmpfs of its own (mounting needs root).
const rootOnly = it.skipIf(process.getuid?.() !== 0);
const cleanups: (() => void)[] = [];
afterEach(() =>
  cleanups
    .splice(0)
    .reverse()
    .forEach((c) => c()),
);

function smallDisk(): string {
  const dir = mkdtempSync(join(tmpdir(), "medic-journal-full-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", dir]);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => execFileSync("umount", ["-l", dir]));
  return dir;
}

/** Takes every byte left on the disk. */
function fill(dir: string): string {
  const file = join(dir, "filler");
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

// Larger than a page, so that the slack at the end of the journal's last page cannot take it.
const evidence = (n: number) => `${n} `.padEnd(5000, "x");
const opened = (n: number) => ({ type: "opened", target: `t${n}`, kind: "server_down", severity: "P1", evidence: evidence(n) }) as const;

function onDisk(dir: string): string[] {
  return parseJournal(readFileSync(join(dir, JOURNAL_FILE), "utf8")).records.map((r) => `${r.incident}:${r.type}`);
}

describe("JournalStore on a full disk", () => {
  rootOnly("keeps records the disk refused, in order, and writes them before the next one once there is room", () => {
    const disk = smallDisk();
    const store = new JournalStore(disk);
    store.append("i1", opened(1), 1);
    const filler = fill(disk);
    const before = readFileSync(join(disk, JOURNAL_FILE), "utf8");

    store.append("i2", opened(2), 2);
    store.append("i1", { type: "resolved", reason: "ok" }, 3);
    store.append("i2", { type: "escalated", reason: "no playbook" }, 4);
    expect(store.waiting()).toBe(3);
    // The fold has them: the daemon keeps acting on what it decided.
    expect(store.incidents().get("i1")?.state).toBe("resolved");
    expect(store.incidents().get("i2")?.state).toBe("escalated");
    expect(readFileSync(join(disk, JOURNAL_FILE), "utf8")).toBe(before);
    expect(store.problem()).toMatch(/3 journal records waiting.*ENOSPC|3 journal records waiting.*space/i);

    rmSync(filler);
    store.append("i3", opened(3), 5);
    expect(store.waiting()).toBe(0);
    expect(onDisk(disk)).toEqual(["i1:opened", "i2:opened", "i1:resolved", "i2:escalated", "i3:opened"]);
    expect(store.problem()).toBeUndefined();
    store.close();
  });

  rootOnly("writes what waits on the periodic check too, without a new record", () => {
    const disk = smallDisk();
    const store = new JournalStore(disk);
    store.append("i1", opened(1), 1);
    const filler = fill(disk);
    store.append("i1", { type: "resolved", reason: evidence(2) }, 2);
    expect(store.waiting()).toBe(1);
    rmSync(filler);
    expect(store.problem()).toBeUndefined();
    expect(onDisk(disk)).toEqual(["i1:opened", "i1:resolved"]);
    store.close();
  });

  rootOnly("beyond its bound drops the oldest waiting records and says how many", () => {
    const disk = smallDisk();
    const store = new JournalStore(disk, { maxWaiting: 2 });
    store.append("i1", opened(1), 1);
    const filler = fill(disk);
    for (let n = 2; n <= 5; n++) store.append(`i${n}`, opened(n), n);
    expect(store.waiting()).toBe(2);
    expect(store.problem()).toMatch(/2 journal records waiting in memory to be written \(2 older ones dropped\)/);
    rmSync(filler);
    expect(store.problem()).toBeUndefined();
    expect(onDisk(disk)).toEqual(["i1:opened", "i4:opened", "i5:opened"]);
    store.close();
  });
});
