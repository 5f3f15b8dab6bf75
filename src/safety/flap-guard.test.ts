import { describe, expect, it } from "vitest";
import { foldRecords } from "../incidents/fold.js";
import type { Incident, IncidentEvent, JournalRecord } from "../incidents/types.js";
import { flapGuard, streakStart } from "./flap-guard.js";
import type { FlapGuardConfig } from "./types.js";

const MIN = 60_000;
const config: FlapGuardConfig = { maxRuns: 3, windowMs: 60 * MIN, backoff: { initialMs: 10_000, maxMs: 5 * MIN }, resetAfterMs: 10 * MIN };

/** Incidents on `web` from a compact script: [at, incident, event]. */
function history(script: [number, string, IncidentEvent][]): Incident[] {
  const records = script.map(([at, incident, event]) => ({ ...event, at, incident }) as JournalRecord);
  return [...foldRecords(records).values()];
}
const opened = (kind = "server_down"): IncidentEvent => ({ type: "opened", target: "web", kind, severity: "P1", evidence: "refused" });
const run = (runId: string): IncidentEvent => ({ type: "playbook_started", runId, playbook: "restart", steps: [] });
const resolved: IncidentEvent = { type: "resolved", reason: "verified" };

/** A crash loop: an incident per minute from t=0, each restarted and "verified", then broken again. */
function crashLoop(runs: number, everyMs = MIN, kind = "server_down"): [number, string, IncidentEvent][] {
  return Array.from(
    { length: runs },
    (_, i) =>
      [
        [i * everyMs, `i${i}`, opened(kind)],
        [i * everyMs + 1000, `i${i}`, run(`r${i}`)],
        [i * everyMs + 5000, `i${i}`, resolved],
      ] as [number, string, IncidentEvent][],
  ).flat();
}

describe("flapGuard", () => {
  it.each([
    { name: "no history: first run goes", script: [], now: 0, expect: { ok: true } },
    { name: "one run ended 5 s ago: backoff 10 s", script: crashLoop(1), now: 10_000, expect: { ok: false, by: "backoff", until: 15_000 } },
    { name: "one run ended 10 s ago: second run goes", script: crashLoop(1), now: 15_000, expect: { ok: true } },
    {
      name: "two runs: backoff doubles to 20 s",
      script: crashLoop(2),
      now: MIN + 10_000,
      expect: { ok: false, by: "backoff", until: MIN + 25_000 },
    },
    {
      name: "three runs in the window: trips until the oldest leaves it",
      script: crashLoop(3),
      now: 3 * MIN,
      expect: { ok: false, by: "flap_guard", until: 1000 + 60 * MIN },
    },
    {
      name: "three runs, oldest out of the window: goes",
      script: crashLoop(3, 30 * MIN).map(([at, i, e]) => [at, i, e] as [number, string, IncidentEvent]),
      now: 61 * MIN + 2000,
      expect: { ok: true },
    },
  ])("$name", ({ script, now, expect: want }) => {
    expect(
      flapGuard({ target: "web", kind: "server_down", incidents: history(script as [number, string, IncidentEvent][]), config, now }),
    ).toMatchObject(want);
  });

  it("backoff is capped at backoff.max", () => {
    const capped = { ...config, maxRuns: 20, backoff: { initialMs: 10_000, maxMs: 30_000 } };
    const verdict = flapGuard({
      target: "web",
      kind: "server_down",
      incidents: history(crashLoop(6)),
      config: capped,
      now: 5 * MIN + 6000,
    });
    expect(verdict).toMatchObject({ ok: false, by: "backoff", until: 5 * MIN + 5000 + 30_000 });
  });

  it("says why it tripped, with the count, the span and how to reset", () => {
    const v = flapGuard({ target: "web", kind: "server_down", incidents: history(crashLoop(3)), config, now: 2 * MIN + 41_000 });
    expect(v.ok).toBe(false);
    expect(!v.ok && v.reason).toMatch(
      /^flap guard: 3 server_down playbook runs on web in 2m40s did not hold \(limit 3 per 1h\); .*`medic guard reset web`/,
    );
  });

  it("resets after the target was healthy for resetAfter: runs before that gap no longer count", () => {
    const script = crashLoop(3);
    // Healthy from 2m05s until 15m: more than 10 minutes.
    script.push([15 * MIN, "later", opened()]);
    expect(flapGuard({ target: "web", kind: "server_down", incidents: history(script), config, now: 15 * MIN })).toEqual({
      ok: true,
      summary: "flap guard: run 1 of 3 in 1h",
    });
    // 9 minutes of health is not enough.
    const short = crashLoop(3);
    short.push([11 * MIN, "later", opened()]);
    expect(flapGuard({ target: "web", kind: "server_down", incidents: history(short), config, now: 11 * MIN })).toMatchObject({
      ok: false,
      by: "flap_guard",
    });
  });

  it("an operator's reset makes earlier runs not count", () => {
    expect(
      flapGuard({ target: "web", kind: "server_down", incidents: history(crashLoop(3)), config, now: 3 * MIN, resetAt: 3 * MIN - 1 }),
    ).toMatchObject({ ok: true });
  });

  it("counts per target and kind", () => {
    const incidents = history(crashLoop(3, MIN, "memory_pressure"));
    expect(flapGuard({ target: "web", kind: "server_down", incidents, config, now: 3 * MIN })).toMatchObject({ ok: true });
    expect(flapGuard({ target: "api", kind: "memory_pressure", incidents, config, now: 3 * MIN })).toMatchObject({ ok: true });
    expect(flapGuard({ target: "web", kind: "memory_pressure", incidents, config, now: 3 * MIN })).toMatchObject({
      ok: false,
      by: "flap_guard",
    });
  });

  it("maxRuns 0 turns automatic action off", () => {
    expect(flapGuard({ target: "web", kind: "server_down", incidents: [], config: { ...config, maxRuns: 0 }, now: 0 })).toMatchObject({
      ok: false,
      by: "flap_guard",
      reason: expect.stringMatching(/automatic action is off/),
    });
  });

  it("a run cut off by a crash (no end) backs off from its start", () => {
    const incidents = history([
      [0, "a", opened()],
      [1000, "a", run("r1")],
    ]);
    expect(flapGuard({ target: "web", kind: "server_down", incidents, config, now: 5000 })).toMatchObject({
      ok: false,
      by: "backoff",
      until: 11_000,
    });
  });
});

describe("streakStart", () => {
  it("is the first opening after the last healthy gap of resetAfter", () => {
    const incidents = history([
      [0, "a", opened()],
      [MIN, "a", resolved],
      [20 * MIN, "b", opened()],
      [21 * MIN, "b", resolved],
      [25 * MIN, "c", opened()],
    ]);
    expect(streakStart(incidents, "web", 10 * MIN, 26 * MIN)).toBe(20 * MIN);
    expect(streakStart(incidents, "web", 3 * MIN, 26 * MIN)).toBe(25 * MIN);
    expect(streakStart([], "web", 10 * MIN, 26 * MIN)).toBe(26 * MIN);
  });
});
