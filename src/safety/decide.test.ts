import { describe, expect, it } from "vitest";
import { foldRecords } from "../incidents/fold.js";
import type { Incident, IncidentEvent, JournalRecord } from "../incidents/types.js";
import { blastRadius } from "./blast-radius.js";
import { decideSafety, type SafetyInput } from "./decide.js";
import { distance, findRoot } from "./dependencies.js";
import type { SafetyConfig } from "./types.js";

const MIN = 60_000;
const safety: SafetyConfig = {
  flapGuard: { maxRuns: 3, windowMs: 60 * MIN, backoff: { initialMs: 10_000, maxMs: 5 * MIN }, resetAfterMs: 10 * MIN },
  blastRadius: { concurrent: 2, maxRuns: 10, windowMs: 10 * MIN },
};

function fold(script: [number, string, IncidentEvent][]): Map<string, Incident> {
  return foldRecords(script.map(([at, incident, event]) => ({ ...event, at, incident }) as JournalRecord));
}
const opened = (target: string, extra: Partial<Extract<IncidentEvent, { type: "opened" }>> = {}): IncidentEvent => ({
  type: "opened",
  target,
  kind: "server_down",
  severity: "P1",
  evidence: "refused",
  ...extra,
});
const started = (runId: string): IncidentEvent => ({ type: "playbook_started", runId, playbook: "restart", steps: [] });
const resolved: IncidentEvent = { type: "resolved", reason: "verified" };

describe("blastRadius", () => {
  it("holds once `concurrent` playbooks are running, and waits for one to finish", () => {
    const incidents = fold([
      [0, "a", opened("a")],
      [1, "a", started("a1")],
      [0, "b", opened("b")],
      [1, "b", started("b1")],
    ]);
    const v = blastRadius(incidents.values(), safety.blastRadius, 1000);
    expect(v).toEqual({ ok: false, reason: "blast radius: 2 playbooks already running (limit 2 at once); waits for one to finish" });
    expect(blastRadius(incidents.values(), { ...safety.blastRadius, concurrent: 3 }, 1000)).toMatchObject({
      ok: true,
      summary: "blast radius: 3 of 3 running, run 3 of 10 in 10m",
    });
  });

  it("holds once maxRuns started in the window, until the oldest leaves it", () => {
    const script: [number, string, IncidentEvent][] = [];
    for (let i = 0; i < 10; i++)
      script.push([i * 1000, `i${i}`, opened(`t${i}`)], [i * 1000, `i${i}`, started(`r${i}`)], [i * 1000 + 500, `i${i}`, resolved]);
    const incidents = fold(script);
    expect(blastRadius(incidents.values(), safety.blastRadius, 20_000)).toMatchObject({ ok: false, until: 10 * MIN });
    expect(blastRadius(incidents.values(), safety.blastRadius, 10 * MIN + 1)).toMatchObject({ ok: true });
  });

  it("does not count dry-run incidents", () => {
    const incidents = fold([
      [0, "a", opened("a", { dryRun: true })],
      [1, "a", started("a1")],
      [0, "b", opened("b", { dryRun: true })],
      [1, "b", started("b1")],
    ]);
    expect(blastRadius(incidents.values(), safety.blastRadius, 1000).ok).toBe(true);
  });
});

describe("findRoot", () => {
  // web -> api -> db, and web -> cache
  const deps: Record<string, string[]> = { web: ["api", "cache"], api: ["db"], db: [], cache: [] };
  const view = (incidents: Map<string, Incident>) => ({
    dependsOn: (t: string) => deps[t] ?? [],
    openIncidents: (t: string) => [...incidents.values()].filter((i) => i.target === t && i.state !== "resolved"),
    incident: (id: string) => incidents.get(id),
  });

  it.each([
    { name: "no dependency broken", script: [], target: "web", root: undefined },
    { name: "a direct dependency", script: [[0, "c1", opened("cache")]], target: "web", root: "c1" },
    {
      name: "the deepest broken dependency wins",
      script: [
        [0, "a1", opened("api")],
        [0, "d1", opened("db")],
      ],
      target: "web",
      root: "d1",
    },
    {
      name: "a suppressed dependency leads to its root",
      script: [
        [0, "d1", opened("db")],
        [1, "a1", opened("api", { root: "d1" })],
      ],
      target: "web",
      root: "d1",
    },
    {
      name: "a resolved dependency incident is no root",
      script: [
        [0, "d1", opened("db")],
        [1, "d1", resolved],
      ],
      target: "api",
      root: undefined,
    },
    { name: "the target's own incidents are not its root", script: [[0, "w1", opened("web")]], target: "web", root: undefined },
  ] as { name: string; script: [number, string, IncidentEvent][]; target: string; root?: string }[])(
    "$name",
    ({ script, target, root }) => {
      expect(findRoot(target, view(fold(script)))?.id).toBe(root);
    },
  );

  it("survives a cycle (config rejects them, but the graph walk must not loop)", () => {
    const cyclic = { dependsOn: (t: string) => (t === "a" ? ["b"] : ["a"]), openIncidents: () => [], incident: () => undefined };
    expect(findRoot("a", cyclic)).toBeUndefined();
  });

  it("distance counts dependsOn hops, nearest dependents first", () => {
    const dependsOn = (t: string) => deps[t] ?? [];
    expect(distance("api", "db", dependsOn)).toBe(1);
    expect(distance("web", "db", dependsOn)).toBe(2);
    expect(distance("db", "web", dependsOn)).toBe(Infinity);
  });
});

describe("decideSafety", () => {
  const base = (over: Partial<SafetyInput> = {}): SafetyInput => ({
    incident: { target: "web", kind: "server_down" },
    incidents: [],
    safety,
    now: 0,
    ...over,
  });
  const root = fold([[0, "d1", opened("db")]]).get("d1")!;
  const pause = { source: "pause" as const, name: "ab12cd34", reason: "deploying", until: 30 * MIN };

  it("acts when every check allows, saying what each found", () => {
    const { decision, lines } = decideSafety(base());
    expect(decision).toEqual({ action: "act", guards: "flap guard: run 1 of 3 in 1h; blast radius: 1 of 2 running, run 1 of 10 in 10m" });
    expect(lines).toEqual([
      "dependencies: no dependency has an open incident",
      "maintenance: none now",
      "flap guard: run 1 of 3 in 1h",
      "blast radius: 1 of 2 running, run 1 of 10 in 10m",
    ]);
  });

  it("checks in order: dependency, maintenance, flap guard, blast radius", () => {
    const loop: [number, string, IncidentEvent][] = [0, 1, 2].flatMap(
      (i) =>
        [
          [i * 1000, `w${i}`, opened("web")],
          [i * 1000, `w${i}`, started(`r${i}`)],
          [i * 1000 + 10, `w${i}`, resolved],
        ] as [number, string, IncidentEvent][],
    );
    const tripped = [...fold(loop).values()];
    expect(decideSafety(base({ root, pause, incidents: tripped })).decision).toMatchObject({ action: "suppress", root: "d1" });
    expect(decideSafety(base({ pause, incidents: tripped })).decision).toMatchObject({
      action: "hold",
      by: "maintenance",
      until: 30 * MIN,
    });
    expect(decideSafety(base({ incidents: tripped, now: 5000 })).decision).toMatchObject({ action: "trip" });
    const busy = [
      ...fold([
        [0, "a", opened("a")],
        [0, "a", started("a1")],
        [0, "b", opened("b")],
        [0, "b", started("b1")],
      ]).values(),
    ];
    expect(decideSafety(base({ incidents: busy })).decision).toMatchObject({ action: "hold", by: "blast_radius" });
  });
});
