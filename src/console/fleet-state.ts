import { clock } from "./format.js";
import type { IncidentSummary, Target } from "./types.js";

/** What a target is doing, as the fleet view shows it: a word, a line of why, and where it sorts. */
export interface TargetState {
  key: "suppressed" | "held" | "approval" | "incident" | "paused" | "failing" | "healthy" | "unknown";
  label: string;
  detail: string;
  /** The incident to open from the row, when there is one. */
  incident?: string;
  /** Lower sorts first: what needs a person comes first. */
  rank: number;
}

const RANK: Record<TargetState["key"], number> = {
  approval: 0,
  incident: 1,
  held: 2,
  failing: 3,
  suppressed: 4,
  paused: 5,
  unknown: 6,
  healthy: 7,
};

/**
 * A target's state from its latest round, its open incidents and its pause: waiting for an
 * approval, in an incident, held by a guard, suppressed under a dependency's incident, paused,
 * failing (not yet an incident), healthy, or not probed yet.
 */
export function targetState(t: Target, incidents: ReadonlyMap<string, IncidentSummary>, now: number): TargetState {
  const open = t.open.map((id) => incidents.get(id)).filter((i): i is IncidentSummary => i !== undefined && i.state !== "resolved");
  const pick = (state: string) => open.find((i) => i.state === state);
  const state = (key: TargetState["key"], label: string, detail: string, incident?: string): TargetState => ({
    key,
    label,
    detail,
    rank: RANK[key],
    ...(incident !== undefined && { incident }),
  });
  const waiting = pick("awaiting_approval");
  if (waiting)
    return state("approval", "awaiting approval", `${waiting.kind} ${waiting.severity}: a step waits for a person's yes`, waiting.id);
  const active = open.find((i) => !["suppressed", "held"].includes(i.state));
  if (active)
    return state("incident", "in an incident", `${active.kind} ${active.severity}, ${active.state.replace(/_/g, " ")}`, active.id);
  const held = pick("held");
  if (held) return state("held", "held", held.hold ? `by ${held.hold.by.replace(/_/g, " ")}: ${held.hold.reason}` : held.kind, held.id);
  const suppressed = pick("suppressed");
  if (suppressed) {
    const root = suppressed.root ? incidents.get(suppressed.root) : undefined;
    const under = root ? `${root.target} (${root.kind})` : suppressed.root ? `incident ${suppressed.root}` : "a dependency's incident";
    return state("suppressed", "suppressed", `under ${under}`, suppressed.id);
  }
  // An open incident the stream has not described yet still counts.
  if (t.open.length > 0 && open.length === 0 && t.open.some((id) => !incidents.has(id))) {
    return state("incident", "in an incident", t.finding?.kind ?? "", t.open[0]);
  }
  if (t.paused && t.paused.until > now) {
    const what = t.paused.source === "window" ? `maintenance window ${t.paused.name}` : "paused";
    return state("paused", "paused", `${what} until ${clock(t.paused.until)}: ${t.paused.reason}`);
  }
  if (t.up === false) return state("failing", "failing", t.finding ? t.finding.kind : "probe failing");
  if (t.up === true) return state("healthy", "healthy", "");
  return state("unknown", "not probed yet", "");
}
