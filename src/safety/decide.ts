import type { Incident } from "../incidents/types.js";
import { blastRadius } from "./blast-radius.js";
import { flapGuard } from "./flap-guard.js";
import type { ActivePause, HoldCause, SafetyConfig } from "./types.js";

/** What the safety checks let remediation do now. */
export type SafetyDecision =
  | { action: "act"; guards: string }
  | { action: "suppress"; root: string; reason: string }
  | { action: "hold"; by: HoldCause; reason: string; until?: number }
  | { action: "trip"; reason: string };

/** Everything the checks read; plain data, so the daemon, dry-run and `medic plan` decide alike. */
export interface SafetyInput {
  incident: { target: string; kind: string };
  /** Every incident medic knows of (the journal's fold). */
  incidents: readonly Incident[];
  safety: SafetyConfig;
  /** The open incident on a dependency that explains this one, if any. */
  root?: Incident;
  /** The maintenance window or pause covering the target now, if any. */
  pause?: ActivePause;
  /** When an operator last reset the target's flap guard. */
  guardResetAt?: number;
  now: number;
}

/**
 * The safety decision, checks in order: a dependency's incident suppresses; a maintenance window
 * holds; the flap guard trips (escalate) or backs off (hold); the blast radius holds. `lines` says
 * what each check found, whatever the outcome, for `medic plan` and dry-run. Pure.
 */
export function decideSafety(input: SafetyInput): { decision: SafetyDecision; lines: string[] } {
  const { incident, root, pause, now } = input;
  const guard = flapGuard({
    target: incident.target,
    kind: incident.kind,
    incidents: input.incidents,
    config: input.safety.flapGuard,
    now,
    ...(input.guardResetAt !== undefined && { resetAt: input.guardResetAt }),
  });
  const blast = blastRadius(input.incidents, input.safety.blastRadius, now);
  const rootLine = root && `incident ${root.id} (${root.kind} on ${root.target}) is open: this is its consequence`;
  const pauseLine =
    pause &&
    `${pause.source === "window" ? "maintenance window" : "pause"} ${pause.name}${pause.by ? ` by ${pause.by}` : ""} until ${new Date(pause.until).toISOString()}: ${pause.reason}`;
  const lines = [
    `dependencies: ${rootLine ?? "no dependency has an open incident"}`,
    `maintenance: ${pauseLine ?? "none now"}`,
    guard.ok ? guard.summary : guard.reason,
    blast.ok ? blast.summary : blast.reason,
  ];

  let decision: SafetyDecision;
  if (root) decision = { action: "suppress", root: root.id, reason: rootLine! };
  else if (pause) decision = { action: "hold", by: "maintenance", reason: pauseLine!, until: pause.until };
  else if (!guard.ok && guard.by === "flap_guard") decision = { action: "trip", reason: guard.reason };
  else if (!guard.ok) decision = { action: "hold", by: "backoff", reason: guard.reason, until: guard.until };
  else if (!blast.ok)
    decision = { action: "hold", by: "blast_radius", reason: blast.reason, ...(blast.until !== undefined && { until: blast.until }) };
  else decision = { action: "act", guards: `${guard.summary}; ${blast.summary}` };
  return { decision, lines };
}
