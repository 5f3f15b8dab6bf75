import { describe, expect, it } from "vitest";
import type { Incident } from "../incidents/types.js";
import { reviewIncidents, type ReviewInput } from "./review.js";

const incident = (id: string, state: Incident["state"], extra: Partial<Incident> = {}): Incident =>
  ({ id, target: "api", kind: "server_down", severity: "P1", state, dryRun: false, timeline: [], ...extra }) as Incident;
const input = (open: Incident[], extra: Partial<ReviewInput> = {}): ReviewInput => ({
  targets: [{ name: "api", failing: true, open }],
  reset: new Set(),
  incident: () => undefined,
  blast: undefined,
  dryRun: false,
  now: 10_000,
  ...extra,
});

describe("reviewIncidents", () => {
  it.each([
    [
      "a hold whose backoff is over",
      incident("h1", "held", { hold: { by: "backoff", reason: "", until: 9_000 } }),
      [{ type: "act", incident: "h1" }],
    ],
    ["a hold whose backoff still runs", incident("h1", "held", { hold: { by: "backoff", reason: "", until: 20_000 } }), []],
    [
      "a blast-radius hold (slots may be free)",
      incident("h1", "held", { hold: { by: "blast_radius", reason: "" } }),
      [{ type: "act", incident: "h1" }],
    ],
    [
      "a maintenance hold (the guards decide again)",
      incident("h1", "held", { hold: { by: "maintenance", reason: "" } }),
      [{ type: "act", incident: "h1" }],
    ],
    ["an escalated incident nobody reset", incident("e1", "escalated"), []],
  ])("%s", (_what, i, actions) => {
    expect(reviewIncidents(input([i]))).toEqual(actions);
  });

  it("a held incident of a target healthy again is left to its rounds", () => {
    const held = incident("h1", "held", { hold: { by: "maintenance", reason: "" } });
    expect(reviewIncidents(input([held], { targets: [{ name: "api", failing: false, open: [held] }] }))).toEqual([]);
  });

  it("an operator's reset lets a backoff end early and a tripped guard act again", () => {
    const held = incident("h1", "held", { hold: { by: "backoff", reason: "", until: 20_000 } });
    const tripped = incident("e1", "escalated", {
      timeline: [{ type: "escalated", reason: "flap guard", by: "flap_guard", at: 1, incident: "e1" }],
    });
    expect(reviewIncidents(input([held, tripped], { reset: new Set(["api"]) }))).toEqual([
      { type: "act", incident: "h1" },
      { type: "act", incident: "e1" },
    ]);
  });

  it("releases the dependents of a resolved root once, however many there are", () => {
    const root = incident("r1", "resolved");
    const deps = [incident("d1", "suppressed", { root: "r1" }), incident("d2", "suppressed", { root: "r1" })];
    expect(reviewIncidents(input(deps, { incident: (id) => (id === "r1" ? root : undefined) }))).toEqual([{ type: "release", root: "r1" }]);
    expect(reviewIncidents(input(deps, { incident: () => incident("r1", "remediating") }))).toEqual([]);
  });

  it("resolves medic's blast-radius incident once nothing is held by it, and ignores a dry run's incidents", () => {
    const blast = incident("b1", "escalated", { target: "medic" });
    expect(reviewIncidents(input([], { blast }))).toEqual([{ type: "resolve_blast", incident: "b1" }]);
    const held = incident("h1", "held", { hold: { by: "blast_radius", reason: "" } });
    expect(reviewIncidents(input([held], { blast }))).toEqual([{ type: "act", incident: "h1" }]);
    expect(reviewIncidents(input([{ ...held, dryRun: true }]))).toEqual([]);
  });
});
