import type { Incident } from "../incidents/types.js";

/** What the supervisor's review says to do. */
export type SupervisorAction =
  /** Plan the incident's playbook again (a hold lifted, an operator reset the flap guard). */
  | { type: "act"; incident: string }
  /** A root incident is resolved (or gone): look again at what was suppressed under it. */
  | { type: "release"; root: string }
  /** Nothing is held back by the blast radius any more: medic's own incident resolves. */
  | { type: "resolve_blast"; incident: string };

/** What the review looks at: each watched target's unresolved incidents and whether it still fails. */
export interface ReviewInput {
  targets: readonly { name: string; failing: boolean; open: readonly Incident[] }[];
  /** Targets whose flap guard an operator reset since the last review. */
  reset: ReadonlySet<string>;
  /** An incident by id (a suppressed incident's root). */
  incident(id: string): Incident | undefined;
  /** medic's own open blast-radius incident, if any. */
  blast: Incident | undefined;
  dryRun: boolean;
  now: number;
}

/**
 * The supervisor's periodic look, as a pure function: held incidents whose hold is over (a backoff
 * ended, a slot freed, a window closed: the guards decide again), suppressed ones whose root is
 * resolved, escalated ones whose tripped flap guard an operator reset, and the blast-radius
 * incident once nothing is held by it.
 */
export function reviewIncidents(input: ReviewInput): SupervisorAction[] {
  const actions: SupervisorAction[] = [];
  const released = new Set<string>();
  let heldByBlast = 0;
  for (const target of input.targets) {
    for (const incident of target.open) {
      if (incident.dryRun !== input.dryRun) continue;
      if (incident.state === "held") {
        if (incident.hold?.by === "blast_radius") heldByBlast++;
        const waiting = incident.hold?.by === "backoff" && (incident.hold.until ?? 0) > input.now && !input.reset.has(target.name);
        if (target.failing && !waiting) actions.push({ type: "act", incident: incident.id });
      } else if (incident.state === "suppressed") {
        const root = incident.root ? input.incident(incident.root) : undefined;
        const key = incident.root ?? "";
        if ((!root || root.state === "resolved") && !released.has(key)) {
          released.add(key);
          actions.push({ type: "release", root: key });
        }
      } else if (incident.state === "escalated" && input.reset.has(target.name) && target.failing && trippedGuard(incident)) {
        actions.push({ type: "act", incident: incident.id });
      }
    }
  }
  if (input.blast && heldByBlast === 0) actions.push({ type: "resolve_blast", incident: input.blast.id });
  return actions;
}

// Escalated because the flap guard tripped (not because remediation failed): an operator's reset lets medic try again.
function trippedGuard(incident: Incident): boolean {
  for (let i = incident.timeline.length - 1; i >= 0; i--) {
    const r = incident.timeline[i]!;
    if (r.type === "escalated") return r.by === "flap_guard";
  }
  return false;
}
