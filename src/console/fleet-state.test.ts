import { describe, expect, it } from "vitest";
import { targetState } from "./fleet-state.js";
import type { IncidentSummary, Target } from "./types.js";

const NOW = Date.UTC(2025, 0, 2, 12, 0, 0);
const target = (extra: Partial<Target> = {}): Target => ({ name: "web", labels: {}, probe: "http", up: true, open: [], ...extra });
const incident = (id: string, state: string, extra: Partial<IncidentSummary> = {}): IncidentSummary => ({
  id,
  target: "web",
  kind: "server_down",
  severity: "P1",
  state,
  openedAt: "2025-01-02T11:59:00.000Z",
  updatedAt: "2025-01-02T11:59:00.000Z",
  evidence: "refused",
  occurrences: 1,
  runs: 0,
  ...extra,
});

describe("targetState", () => {
  const db = incident("root1", "escalated", { target: "db", kind: "db_disconnect" });
  it.each([
    ["healthy", target(), [], "healthy", ""],
    ["not probed yet", target({ up: null }), [], "unknown", ""],
    [
      "failing before an incident",
      target({ up: false, finding: { kind: "high_latency", evidence: "slow" } }),
      [],
      "failing",
      "high_latency",
    ],
    ["in an incident", target({ up: false, open: ["i1"] }), [incident("i1", "remediating")], "incident", "server_down P1, remediating"],
    [
      "held by a guard",
      target({ up: false, open: ["i1"] }),
      [incident("i1", "held", { hold: { by: "blast_radius", reason: "2 of 2 running" } })],
      "held",
      "by blast radius: 2 of 2 running",
    ],
    [
      "suppressed under a root",
      target({ up: false, open: ["i1"] }),
      [incident("i1", "suppressed", { root: "root1" }), db],
      "suppressed",
      "under db (db_disconnect)",
    ],
    [
      "awaiting approval",
      target({ up: false, open: ["i1"] }),
      [incident("i1", "awaiting_approval")],
      "approval",
      "server_down P1: a step waits for a person's yes",
    ],
    [
      "paused",
      target({ paused: { source: "pause", name: "p1", reason: "deploying", until: NOW + 60_000 } }),
      [],
      "paused",
      expect.stringMatching(/^paused until \d\d:\d\d:\d\d: deploying$/),
    ],
    ["a pause that ended", target({ paused: { source: "pause", name: "p1", reason: "deploying", until: NOW - 1 } }), [], "healthy", ""],
    ["an incident the stream has not described yet", target({ up: false, open: ["new1"] }), [], "incident", ""],
  ])("%s", (_what, t, incidents, key, detail) => {
    const s = targetState(t, new Map(incidents.map((i) => [i.id, i])), NOW);
    expect([s.key, s.detail]).toEqual([key, detail]);
  });

  it("sorts what needs a person first", () => {
    const rank = (t: Target, i: IncidentSummary[] = []) => targetState(t, new Map(i.map((x) => [x.id, x])), NOW).rank;
    expect(rank(target({ open: ["i1"] }), [incident("i1", "awaiting_approval")])).toBeLessThan(
      rank(target({ open: ["i1"] }), [incident("i1", "open")]),
    );
    expect(rank(target({ open: ["i1"] }), [incident("i1", "open")])).toBeLessThan(rank(target({ up: false })));
    expect(rank(target({ up: false }))).toBeLessThan(rank(target()));
  });
});
