import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Controls } from "../src/safety/types.js";
import { cleanup, medic, tempDir } from "./harness.js";

afterEach(cleanup);

const MIN = 60_000;

/** A config with three targets and a nightly window on api*; returns the args that select it. */
function setup(extra = ""): { dir: string; state: string; args: string[] } {
  const dir = tempDir("medic-pause-");
  writeFileSync(
    join(dir, "medic.yaml"),
    `stateDir: ./state
playbooks: []
maintenance:
  - { name: nightly, cron: "0 2 * * *", duration: 30m, timezone: Europe/Berlin, targets: ["api*"], reason: backups }
${extra}targets:
  - { name: api, probe: { http: { url: "http://127.0.0.1:1/health" } } }
  - { name: api-2, probe: { http: { url: "http://127.0.0.1:1/health" } } }
  - { name: db, probe: { tcp: { host: 127.0.0.1, port: 1 } } }
`,
  );
  return { dir, state: join(dir, "state"), args: ["--config", join(dir, "medic.yaml")] };
}
const controls = (state: string) => JSON.parse(readFileSync(join(state, "controls.json"), "utf8")) as Controls;
interface PausesJson {
  pauses: (Controls["pauses"][number] & { leftMs: number })[];
  windows: { name: string; targets: string[]; open: boolean; openUntil: number | null; next: number | null; reason: string }[];
}

describe("medic pause, pauses, resume", () => {
  it("round trip: pause a target and all, list them (table and JSON), resume them", async () => {
    const { state, args } = setup();
    const before = Date.now();
    const paused = await medic(["pause", "api", "--for", "30m", "--reason", "deploying 2.4", ...args]);
    expect(paused.stderr).toBe("");
    expect(paused.code).toBe(0);
    const [, untilIso, id] = /^paused api until (\S+) \(([0-9a-f]{8})\): deploying 2\.4\n$/.exec(paused.stdout) ?? [];
    expect(id).toBeDefined();
    const until = Date.parse(untilIso!);
    expect(until).toBeGreaterThanOrEqual(before + 30 * MIN);
    expect(until).toBeLessThan(Date.now() + 30 * MIN + 1);

    const [stored] = controls(state).pauses;
    expect(stored).toEqual({ id, target: "api", from: until - 30 * MIN, until, reason: "deploying 2.4", by: userInfo().username });

    const all = await medic(["pause", "--all", "--for", "2h", "--reason", "datacenter move", ...args]);
    expect(all.code).toBe(0);
    const allId = /^paused all targets until \S+ \(([0-9a-f]{8})\): datacenter move\n$/.exec(all.stdout)?.[1];
    expect(allId).toBeDefined();
    expect(controls(state).pauses.map((p) => p.target)).toEqual(["api", "*"]);

    const table = await medic(["pauses", ...args]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      new RegExp(`^${id}\\s+api\\s+${untilIso!.replace(/\./g, "\\.")}\\s+\\d+m\\d*s?\\s+\\S+\\s+deploying 2\\.4$`, "m"),
    );
    expect(table.stdout).toMatch(new RegExp(`^${allId}\\s+\\(all\\)\\s+\\S+\\s+1h59m`, "m"));

    const json = JSON.parse((await medic(["pauses", "--json", ...args])).stdout) as PausesJson;
    expect(json.pauses.map((p) => [p.id, p.target, p.reason])).toEqual([
      [id, "api", "deploying 2.4"],
      [allId, "*", "datacenter move"],
    ]);
    expect(json.pauses[0]!.leftMs).toBeGreaterThan(25 * MIN);
    expect(json.pauses[0]!.leftMs).toBeLessThanOrEqual(30 * MIN);

    const resumed = await medic(["resume", "api", ...args]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toBe(`resumed api (${id}): deploying 2.4\n`);
    // Nothing left on api itself, but the pause on all targets still holds it: say how to end that.
    const again = await medic(["resume", "api", ...args]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      `no active pause on api (hint: api is held by a pause on all targets (${allId}): medic resume --id ${allId})`,
    );

    const wrongId = await medic(["resume", "--id", "deadbeef", ...args]);
    expect([wrongId.code, wrongId.stderr]).toEqual([1, "no active pause with id deadbeef (hint: medic pauses lists them)\n"]);
    expect((await medic(["resume", "--id", allId!, ...args])).stdout).toBe(`resumed all targets (${allId}): datacenter move\n`);
    expect(controls(state).pauses).toEqual([]);
    expect((await medic(["pauses", ...args])).stdout).toMatch(/^no active pauses\n/);
  });

  it("a pause expires by itself, and the next write drops it from the file", async () => {
    const { state, args } = setup();
    expect((await medic(["pause", "db", "--for", "1s", "--reason", "blink", ...args])).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1200));
    expect((await medic(["pauses", ...args])).stdout).toMatch(/^no active pauses\n/);
    const resume = await medic(["resume", "--all", ...args]);
    expect(resume.code).toBe(1);
    expect(resume.stderr).toContain("no active pause at all");
    expect(controls(state).pauses).toEqual([]);
  });

  it.each([
    ["an unknown target", ["pause", "nope", "--for", "30m", "--reason", "x"], 'unknown target "nope" (hint: one of api, api-2, db)'],
    [
      "no --for",
      ["pause", "api", "--reason", "x"],
      "--for must be a duration above 0 and at most 7d (it is missing) (hint: a pause always expires",
    ],
    ["--for 30d", ["pause", "api", "--for", "30d", "--reason", "x"], '--for must be a duration above 0 and at most 7d (got "30d")'],
    ["--for 0s", ["pause", "api", "--for", "0s", "--reason", "x"], '(got "0s")'],
    ["--for without a unit", ["pause", "api", "--for", "30", "--reason", "x"], '(got "30")'],
    ["a target and --all", ["pause", "api", "--all", "--for", "30m", "--reason", "x"], "give a target or --all, not both (hint:"],
    ["neither a target nor --all", ["pause", "--for", "30m", "--reason", "x"], "name a target, or --all (hint:"],
    ["no --reason", ["pause", "api", "--for", "30m"], "--reason must be one line of 1-500 characters"],
    ["a blank reason", ["pause", "api", "--for", "30m", "--reason", "  "], "--reason must be one line"],
    ["a two-line reason", ["pause", "api", "--for", "30m", "--reason", "a\nb"], "--reason must be one line"],
    ["a reason of 501 chars", ["pause", "api", "--for", "30m", "--reason", "x".repeat(501)], "--reason must be one line of 1-500"],
    ["resume without a target", ["resume"], "say which pauses to end: a target, --all or --id"],
    ["guard reset of an unknown target", ["guard", "reset", "nope"], 'unknown target "nope" (hint: one of api, api-2, db)'],
  ])("refuses %s: exit 2, a hint, nothing written", async (_what, argv, message) => {
    const { state, args } = setup();
    const r = await medic([...argv, ...args]);
    expect(r.stderr).toContain(message);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(existsSync(state)).toBe(false);
  });

  it("with discovery, accepts a name not in the config (saying so) but not one that is no name", async () => {
    const { state, args } = setup("discovery: { docker: { label: medic.enable } }\n");
    const r = await medic(["pause", "web-7", "--for", "10m", "--reason", "x", ...args]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('note: "web-7" is not in the config');
    expect(controls(state).pauses.map((p) => p.target)).toEqual(["web-7"]);
    const bad = await medic(["guard", "reset", "__proto__", ...args]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"__proto__" is not a target name');
  });

  it("keeps a malformed controls file as it is and says which file is wrong, exit 1", async () => {
    const { state, args } = setup();
    expect((await medic(["guard", "reset", "db", ...args])).code).toBe(0);
    writeFileSync(join(state, "controls.json"), "{ not json");
    for (const argv of [["pauses"], ["pause", "api", "--for", "1m", "--reason", "x"]]) {
      const r = await medic([...argv, ...args]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${join(state, "controls.json")} is not valid JSON`);
      expect(r.stderr).toContain("hint:");
    }
    expect(readFileSync(join(state, "controls.json"), "utf8")).toBe("{ not json");
  });

  it("--state-dir overrides the config's stateDir", async () => {
    const { dir, state, args } = setup();
    const other = join(dir, "elsewhere");
    expect((await medic(["pause", "api", "--for", "5m", "--reason", "x", "--state-dir", other, ...args])).code).toBe(0);
    expect(controls(other).pauses).toHaveLength(1);
    expect(existsSync(state)).toBe(false);
  });
});

describe("medic guard reset", () => {
  it("records the reset time for the target in the state dir", async () => {
    const { state, args } = setup();
    const before = Date.now();
    const r = await medic(["guard", "reset", "db", ...args]);
    expect(r.code).toBe(0);
    const at = controls(state).guardResets.db!;
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
    expect(r.stdout).toBe(`flap guard on db reset: runs before ${new Date(at).toISOString()} no longer count\n`);
    // A second target keeps the first; a pause in between is kept too.
    await medic(["pause", "api", "--for", "5m", "--reason", "x", ...args]);
    await medic(["guard", "reset", "api-2", ...args]);
    const c = controls(state);
    expect(Object.keys(c.guardResets).sort()).toEqual(["api-2", "db"]);
    expect(c.pauses).toHaveLength(1);
  });
});

describe("medic pauses with maintenance windows", () => {
  it("shows each window from the config with its next start, read in its time zone", async () => {
    const { args } = setup();
    const r = await medic(["pauses", ...args]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^nightly\s+api\*\s+0 2 \* \* \* Europe\/Berlin, 30m\s+(next|open until) \S+Z\s+backups$/m);
    const json = JSON.parse((await medic(["pauses", "--json", ...args])).stdout) as PausesJson;
    const [w] = json.windows;
    expect([w!.name, w!.targets, w!.reason]).toEqual(["nightly", ["api*"], "backups"]);
    // The next start is 02:00 in Berlin, within a day.
    const berlin = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Berlin", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    expect(berlin.format(w!.next!)).toBe("02:00");
    expect(w!.next! - Date.now()).toBeGreaterThan(0);
    expect(w!.next! - Date.now()).toBeLessThanOrEqual(25 * 3_600_000);
  });

  it("shows a window that is open now with when it closes", async () => {
    const { args } = setup(`  - { name: always, cron: "* * * * *", duration: 5m, targets: [db], reason: "rolling upgrade" }\n`);
    const json = JSON.parse((await medic(["pauses", "--json", ...args])).stdout) as PausesJson;
    const always = json.windows.find((w) => w.name === "always")!;
    expect(always.open).toBe(true);
    expect(always.openUntil! - Date.now()).toBeGreaterThan(4 * MIN - 5_000);
    expect(always.openUntil! - Date.now()).toBeLessThanOrEqual(5 * MIN);
    const table = await medic(["pauses", ...args]);
    expect(table.stdout).toMatch(/^always\s+db\s+\* \* \* \* \* UTC, 5m\s+open until \S+Z\s+rolling upgrade$/m);
  });
});
