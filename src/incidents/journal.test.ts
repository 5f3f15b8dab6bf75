import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
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
