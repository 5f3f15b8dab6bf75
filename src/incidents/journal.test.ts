import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Logger } from "../lib/log.js";
import { scanJournal, type ReadAt } from "./journal-read.js";
import { JOURNAL_FILE, JournalStore, readJournal } from "./journal.js";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "medic-journal-"));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("JournalStore", () => {
  it("persists appends and folds them again on reopen", () => {
    const dir = join(tempDir(), "state");
    const a = new JournalStore(dir);
    a.append("i1", { type: "opened", target: "web", kind: "server_down", severity: "P1", evidence: "refused" }, 1);
    a.append("i1", { type: "escalated", reason: "no playbook" }, 2);
    a.close();
    const b = new JournalStore(dir);
    expect(b.incidents().get("i1")).toMatchObject({ state: "escalated", evidence: "refused" });
    b.close();
    expect(readJournal(dir).get("i1")?.state).toBe("escalated");
  });

  it("drops a line cut short by a crash and appends cleanly after it", () => {
    const dir = tempDir();
    const a = new JournalStore(dir);
    a.append("i1", { type: "opened", target: "web", kind: "server_down", severity: "P1", evidence: "x" }, 1);
    a.close();
    appendFileSync(join(dir, JOURNAL_FILE), '{"at":2,"incident":"i1","type":"escal');
    const b = new JournalStore(dir);
    expect(b.incidents().get("i1")?.state).toBe("open");
    b.append("i1", { type: "resolved", reason: "ok" }, 3);
    b.close();
    const lines = readFileSync(join(dir, JOURNAL_FILE), "utf8").trim().split("\n");
    expect(lines.map((l) => JSON.parse(l).type)).toEqual(["opened", "resolved"]);
  });

  it("reads a missing journal as no incidents", () => {
    expect(readJournal(join(tempDir(), "none")).size).toBe(0);
  });
});

describe("scanJournal", () => {
  const rec = (incident: string, evidence: string) =>
    JSON.stringify({ at: 1, incident, type: "opened", target: "web", kind: "server_down", severity: "P1", evidence });
  const fromBytes =
    (bytes: Buffer): ReadAt =>
    (buffer, offset, length, position) =>
      bytes.copy(buffer, offset, position, Math.min(bytes.length, position + length));

  it("splits lines at the byte level across chunk edges, multi-byte characters included, and counts bytes", () => {
    const text = `${rec("i1", "caf\u00e9 \u2014 \u{1F525}")}\n\n${rec("i2", "\u00fc".repeat(40))}\n${rec("i3", "cut")}`.slice(0, -5);
    const bytes = Buffer.from(text);
    for (const chunkBytes of [1, 2, 3, 7, 64, 4096]) {
      const seen: string[] = [];
      const scan = scanJournal(fromBytes(bytes), (r) => seen.push(`${r.incident}:${(r as { evidence: string }).evidence}`), { chunkBytes });
      expect(seen).toEqual(["i1:caf\u00e9 \u2014 \u{1F525}", `i2:${"\u00fc".repeat(40)}`]);
      // The partial third line is left out, measured in bytes (the text has multi-byte characters before it).
      expect(scan.validBytes).toBe(bytes.lastIndexOf(0x0a) + 1);
      expect(scan.validBytes).toBeGreaterThan(text.lastIndexOf("\n") + 1);
      expect(scan).toMatchObject({ skipped: 0, oversized: 0 });
    }
  });

  it("skips a line over the cap without holding it, and reads the records after it", () => {
    const junk = Buffer.alloc(10_000); // NULs, like a hole in a sparse file
    const bytes = Buffer.concat([Buffer.from(`${rec("i1", "a")}\n`), junk, Buffer.from(`\nnot json\n${rec("i2", "b")}\n`)]);
    const seen: string[] = [];
    const scan = scanJournal(fromBytes(bytes), (r) => seen.push(r.incident), { chunkBytes: 256, maxRecordBytes: 1000 });
    expect(seen).toEqual(["i1", "i2"]);
    expect(scan).toEqual({ validBytes: bytes.length, skipped: 2, oversized: 1 });
  });

  it("JournalStore opens past junk, warns once, and cuts a partial last line in bytes", () => {
    const dir = tempDir();
    const head = `${rec("i1", "\u00e9\u00e9")}\n`;
    appendFileSync(join(dir, JOURNAL_FILE), head + "garbage\n" + rec("i2", "x").slice(0, 20));
    const warnings: unknown[] = [];
    const log = { warn: (o: unknown) => warnings.push(o), error: () => {}, info: () => {}, debug: () => {} } as unknown as Logger;
    const store = new JournalStore(dir, { log });
    expect([...store.incidents().keys()]).toEqual(["i1"]);
    expect(warnings).toEqual([expect.objectContaining({ skipped: 1, oversized: 0 })]);
    store.close();
    expect(readFileSync(join(dir, JOURNAL_FILE), "utf8")).toBe(head + "garbage\n");
  });
});
