import { describe, expect, it } from "vitest";
import { matches, mergeIncidents } from "./incident-list.js";
import type { IncidentSummary } from "./types.js";

const i = (id: string, state: string, openedAt: string, extra: Partial<IncidentSummary> = {}): IncidentSummary => ({
  id,
  target: "web",
  kind: "server_down",
  severity: "P1",
  state,
  openedAt,
  updatedAt: openedAt,
  evidence: "",
  occurrences: 1,
  runs: 0,
  ...extra,
});
const any = { state: "", target: "", severity: "" };

describe("the incident list", () => {
  it("filters by state (unresolved: all but resolved), target and severity", () => {
    const x = i("a", "held", "2025-01-01T00:00:00Z", { severity: "P2", target: "db" });
    expect(matches(x, any)).toBe(true);
    expect(matches(x, { ...any, state: "unresolved" })).toBe(true);
    expect(matches(x, { ...any, state: "resolved" })).toBe(false);
    expect(matches(x, { ...any, severity: "P1" })).toBe(false);
    expect(matches(x, { ...any, target: "db", severity: "P2", state: "held" })).toBe(true);
  });

  it("merges the page with the live stream, newest first: a newer word on an incident wins, a new one appears if it matches", () => {
    const page = [i("old", "open", "2025-01-01T00:00:00Z"), i("older", "resolved", "2024-12-31T00:00:00Z")];
    const live = [
      { ...i("old", "resolved", "2025-01-01T00:00:00Z"), updatedAt: "2025-01-01T00:05:00Z" },
      i("new", "open", "2025-01-02T00:00:00Z"),
      i("other", "open", "2025-01-03T00:00:00Z", { target: "db" }),
    ];
    expect(mergeIncidents(page, live, { ...any, target: "web" }).map((x) => `${x.id}:${x.state}`)).toEqual([
      "new:open",
      "old:resolved",
      "older:resolved",
    ]);
    expect(mergeIncidents(page, live, { ...any, state: "open", target: "web" }).map((x) => x.id)).toEqual(["new"]);
  });
});
