import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IncidentEvent } from "../src/incidents/types.js";
import { openFileStore } from "../src/store/file/open.js";
import { cleanup, medic, tempDir } from "./harness.js";

// `medic incidents` and `show` on a state dir in the segmented layout, read by the built CLI while
// the history is mostly out of memory (in the index and the segments).

// The state dir is made once for every test here.
afterAll(cleanup);

const HOUR = 3600_000;
const opened = (target: string, root?: string): IncidentEvent => ({
  type: "opened",
  target,
  kind: "server_down",
  severity: "P1",
  evidence: `${target} refused`,
  ...(root && { root }),
});
const resolved: IncidentEvent = { type: "resolved", reason: "healthy for 2 rounds" };

let stateDir: string;
const id = (n: number) => `a${String(n).padStart(7, "0")}`;

beforeAll(async () => {
  stateDir = join(tempDir("medic-cli-history-"), "state");
  const now = Date.now();
  let t = now - 3 * 24 * HOUR;
  const clock = { now: () => t };
  const store = await openFileStore({ stateDir, recentMs: HOUR, clock, maintainEveryMs: 0 });
  // Two days ago: a database outage with three dependents suppressed under it.
  store.append("dbroot01", opened("db"), t);
  for (const dep of ["api", "web", "worker"]) store.append(`dep-${dep}`, opened(dep, "dbroot01"), t + 1000);
  for (const dep of ["api", "web", "worker"]) store.append(`dep-${dep}`, resolved, t + 60_000);
  store.append("dbroot01", resolved, t + 120_000);
  // The last day: 150 incidents that resolved, one every 9 minutes, and 3 still open.
  for (let n = 0; n < 153; n++) {
    t = now - 23 * HOUR + n * 9 * 60_000;
    store.append(id(n), opened(`svc-${n % 7}`), t);
    if (n < 150) store.append(id(n), resolved, t + 30_000);
    store.maintain(t);
  }
  t = now;
  store.maintain(now);
  await store.close();
}, 60_000);

const run = (...args: string[]) => medic(["incidents", ...args, "--state-dir", stateDir]);

describe("medic incidents on the segmented journal", () => {
  it("lists the newest 100 by default, says there are more, and takes --limit", async () => {
    const r = await run();
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^ID\s+TARGET\s+KIND/);
    expect(lines).toHaveLength(101);
    expect(lines[1]).toMatch(new RegExp(`^${id(152)}\\s+svc-`));
    expect(r.stderr).toBe("note: the 100 newest are shown; --limit N or --all for more\n");
    const five = await run("--limit", "5", "--json");
    expect((JSON.parse(five.stdout) as { id: string }[]).map((i) => i.id)).toEqual([152, 151, 150, 149, 148].map(id));
  });

  it("--since 24h has the last day's incidents only, --all pages through every one", async () => {
    const day = await run("--since", "24h", "--all", "--json");
    expect(day.code).toBe(0);
    const list = JSON.parse(day.stdout) as { id: string; timeline: unknown[] }[];
    expect(list).toHaveLength(153);
    expect(list.every((i) => i.timeline.length > 0)).toBe(true);
    const all = await run("--all");
    expect(all.stdout.trim().split("\n")).toHaveLength(1 + 157);
    expect(all.stderr).toBe("");
    const open = await run("--state", "unresolved", "--json");
    expect((JSON.parse(open.stdout) as { id: string }[]).map((i) => i.id)).toEqual([152, 151, 150].map(id));
  });

  it("show finds an incident out of memory by a prefix, and its postmortem lists the incidents suppressed under it", async () => {
    const show = await run("show", "dbro");
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^incident dbroot01: server_down P1 on db, resolved/);
    const md = await run("show", "dbroot01", "--format", "markdown");
    expect(md.stdout).toContain("## Related incidents");
    for (const dep of ["api", "web", "worker"]) expect(md.stdout).toContain(`dep-${dep}`);
    const ambiguous = await run("show", "a000");
    expect(ambiguous).toMatchObject({ code: 1, stderr: "153 incidents start with a000 (hint: give more of the id)\n" });
  });

  it("refuses a bad --since, --limit or --state, saying what would do", async () => {
    expect(await run("--since", "yesterday")).toMatchObject({
      code: 2,
      stderr: '--since must be a duration like 24h or 7d (got "yesterday")\n',
    });
    expect((await run("--limit", "0")).code).toBe(2);
    expect((await run("--state", "closed")).stderr).toMatch(/unknown state "closed" \(hint: one of open, .*unresolved\)/);
  });
});
