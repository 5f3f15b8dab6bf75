import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MedicError } from "../lib/errors.js";
import { CONTROLS_FILE, ControlsFile, mergeControls, readControls, updateControls } from "./controls.js";
import type { Pause } from "./types.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "medic-controls-"));
  dirs.push(dir);
  return dir;
}

const NOW = Date.parse("2025-06-10T12:00:00Z");
const pause = (over: Partial<Pause> = {}): Pause => ({
  id: "a1b2c3d4",
  target: "api",
  from: NOW,
  until: NOW + 60_000,
  reason: "deploy",
  by: "ops",
  ...over,
});
const write = (dir: string, data: unknown) =>
  writeFileSync(join(dir, CONTROLS_FILE), typeof data === "string" ? data : JSON.stringify(data));
function thrown(fn: () => unknown): MedicError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MedicError) return err;
    throw err;
  }
  throw new Error("did not throw");
}

describe("readControls", () => {
  it("is empty when the file or the whole state dir is missing", () => {
    const dir = stateDir();
    expect(readControls(dir)).toEqual({ pauses: [], guardResets: {}, answers: [] });
    expect(readControls(join(dir, "nope"))).toEqual({ pauses: [], guardResets: {}, answers: [] });
  });

  it("refuses malformed JSON, naming the file, with a hint", () => {
    const dir = stateDir();
    write(dir, '{"pauses": [');
    const err = thrown(() => readControls(dir));
    expect(err.code).toBe("CONTROLS_INVALID");
    expect(err.message).toContain(join(dir, CONTROLS_FILE));
    expect(err.message).toContain("not valid JSON");
    expect(err.hint).toMatch(/delete it/);
  });

  it.each([
    ["a pause without until", { pauses: [{ ...pause(), until: undefined }] }, /pauses\.0\.until/],
    ["a reason over 500 chars", { pauses: [pause({ reason: "x".repeat(501) })] }, /pauses\.0\.reason/],
    ["a two-line reason", { pauses: [pause({ reason: "a\nb" })] }, /one line/],
    ["a target that is no name", { pauses: [pause({ target: "-rf" })] }, /pauses\.0\.target/],
    ["a string time", { guardResets: { api: "yesterday" } }, /guardResets\.api/],
    ["a list at the top", [], /top level/],
  ])("refuses the wrong shape: %s", (_what, data, message) => {
    const dir = stateDir();
    write(dir, data);
    const err = thrown(() => readControls(dir));
    expect(err.code).toBe("CONTROLS_INVALID");
    expect(err.message).toMatch(message);
    expect(err.message).toContain("is malformed");
  });

  it("refuses __proto__ and constructor keys, and pollutes nothing", () => {
    const dir = stateDir();
    write(dir, '{"guardResets": {"__proto__": {"polluted": 1}}}');
    expect(thrown(() => readControls(dir)).message).toMatch(/reserved name/);
    write(dir, '{"guardResets": {"constructor": 1}}');
    expect(thrown(() => readControls(dir)).message).toMatch(/reserved name/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Lookups by a target name never find Object's own properties.
    write(dir, { guardResets: { api: 5 } });
    const { guardResets } = readControls(dir);
    expect([guardResets.api, guardResets.constructor, guardResets.toString]).toEqual([5, undefined, undefined]);
  });

  it("drops unknown keys, so an older medic reads a newer file", () => {
    const dir = stateDir();
    write(dir, { pauses: [{ ...pause(), scope: "x" }], guardResets: {}, future: true });
    expect(readControls(dir)).toEqual({ pauses: [pause()], guardResets: {}, answers: [] });
  });
});

describe("updateControls", () => {
  it("creates the state dir (0750) and writes atomically: no temp or lock file remains", () => {
    const dir = join(stateDir(), "state");
    const written = updateControls(dir, (c) => void c.pauses.push(pause()), NOW);
    expect(written.pauses).toEqual([pause()]);
    expect(statSync(dir).mode & 0o777).toBe(0o750);
    expect(readdirSync(dir)).toEqual([CONTROLS_FILE]);
    expect(JSON.parse(readFileSync(join(dir, CONTROLS_FILE), "utf8"))).toEqual({ pauses: [pause()], guardResets: {}, answers: [] });
  });

  it("drops expired pauses and keeps the rest and the guard resets", () => {
    const dir = stateDir();
    write(dir, { pauses: [pause({ id: "old", until: NOW }), pause({ id: "live", until: NOW + 1 })], guardResets: { db: 1 } });
    const written = updateControls(dir, (c) => void (c.guardResets.api = NOW), NOW);
    expect(written.pauses.map((p) => p.id)).toEqual(["live"]);
    expect(readControls(dir).guardResets).toEqual({ db: 1, api: NOW });
  });

  it("writes a new file each time (a new inode), so a reader never sees half of one", () => {
    const dir = stateDir();
    updateControls(dir, () => undefined, NOW);
    const before = statSync(join(dir, CONTROLS_FILE)).ino;
    updateControls(dir, () => undefined, NOW);
    expect(statSync(join(dir, CONTROLS_FILE)).ino).not.toBe(before);
  });

  it("leaves a malformed file alone and refuses to write what it could not read back", () => {
    const dir = stateDir();
    write(dir, "not json");
    expect(thrown(() => updateControls(dir, () => undefined, NOW)).code).toBe("CONTROLS_INVALID");
    expect(readFileSync(join(dir, CONTROLS_FILE), "utf8")).toBe("not json");
    rmSync(join(dir, CONTROLS_FILE));
    const err = thrown(() => updateControls(dir, (c) => void c.pauses.push(pause({ reason: "a\nb" })), NOW));
    expect(err.message).toMatch(/refusing to write/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("refuses to write past a live lock, and takes over one a crash left (older than 30 s)", () => {
    const dir = stateDir();
    const lockFile = join(dir, `${CONTROLS_FILE}.lock`);
    writeFileSync(lockFile, "");
    const err = thrown(() => updateControls(dir, (c) => void c.pauses.push(pause()), NOW));
    expect([err.code, err.retryable]).toEqual(["CONTROLS_BUSY", true]);
    expect(readdirSync(dir)).toEqual([`${CONTROLS_FILE}.lock`]);
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockFile, old, old);
    updateControls(dir, (c) => void c.pauses.push(pause()), NOW);
    expect(readdirSync(dir)).toEqual([CONTROLS_FILE]);
    expect(readControls(dir).pauses).toHaveLength(1);
  });
});

describe("ControlsFile", () => {
  it("re-reads only on change, keeps the last good version on a bad one and says so once", () => {
    const dir = stateDir();
    const file = new ControlsFile(dir);
    expect(file.current()).toEqual({ pauses: [], guardResets: {}, answers: [] });
    expect(file.refresh()).toEqual({ changed: false });

    updateControls(dir, (c) => void c.pauses.push(pause()), NOW);
    expect(file.refresh()).toEqual({ changed: true });
    expect(file.current().pauses).toEqual([pause()]);
    expect(file.refresh()).toEqual({ changed: false });

    write(dir, '{"pauses": 3}');
    const bad = file.refresh();
    expect(bad.changed).toBe(false);
    expect(bad.error).toMatch(/controls\.json is malformed: pauses/);
    expect(file.current().pauses).toEqual([pause()]);
    expect(file.refresh()).toEqual({ changed: false });

    write(dir, { pauses: [], guardResets: { api: NOW } });
    expect(file.refresh()).toEqual({ changed: true });
    expect(file.current()).toEqual({ pauses: [], guardResets: { api: NOW }, answers: [] });
  });

  it("treats a removed file as no controls", () => {
    const dir = stateDir();
    updateControls(dir, (c) => void c.pauses.push(pause()), NOW);
    const file = new ControlsFile(dir);
    expect(file.current().pauses).toHaveLength(1);
    rmSync(join(dir, CONTROLS_FILE));
    expect(file.refresh()).toEqual({ changed: true });
    expect(file.current()).toEqual({ pauses: [], guardResets: {}, answers: [] });
    expect(file.refresh()).toEqual({ changed: false });
  });

  it("reports a file that is bad at start on the first refresh, then carries on", () => {
    const dir = stateDir();
    write(dir, "{");
    const file = new ControlsFile(dir);
    expect(file.current()).toEqual({ pauses: [], guardResets: {}, answers: [] });
    expect(file.refresh().error).toMatch(/not valid JSON/);
    expect(file.refresh()).toEqual({ changed: false });
    write(dir, { pauses: [pause()] });
    expect(file.refresh()).toEqual({ changed: true });
    expect(file.current().pauses).toEqual([pause()]);
  });
});

describe("mergeControls", () => {
  it("keeps every pause once by id and the latest reset of each guard", () => {
    const pause = (id: string, target: string) => ({ id, target, from: 1, until: 2, reason: "r", by: "b" });
    const answer = (id: string, at: number) =>
      ({ id, incident: "i1", runId: "i1-1", index: 0, decision: "approved", by: "ann", at }) as const;
    const a = {
      pauses: [pause("p1", "api"), pause("p2", "*")],
      guardResets: { api: 5, db: 9 },
      answers: [answer("a2", 20), answer("a1", 10)],
    };
    const b = { pauses: [pause("p2", "*"), pause("p3", "db")], guardResets: { api: 7 }, answers: [answer("a1", 10), answer("a3", 5)] };
    const merged = mergeControls([a, b]);
    expect(merged.pauses.map((p) => p.id)).toEqual(["p1", "p2", "p3"]);
    // Every answer once, oldest first: the first answer to a question is the one that counts.
    expect(merged.answers.map((x) => x.id)).toEqual(["a3", "a1", "a2"]);
    expect({ ...merged.guardResets }).toEqual({ api: 7, db: 9 });
    // A target named like Object's own keys finds nothing it did not get.
    expect(merged.guardResets["constructor"]).toBeUndefined();
  });
});
