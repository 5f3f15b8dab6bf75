import type { Severity } from "../classify/types.js";
import type { FailureReason, Notification, NotificationEvent } from "../escalation/types.js";
import type { HoldCause } from "../safety/types.js";
import type { ArtifactRef } from "../services/types.js";

/**
 * Where an incident is in its life. Resolved is final; escalated waits for a human or for recovery;
 * held waits for a guard (backoff, blast radius, maintenance) to let a playbook run; suppressed is
 * a consequence of another incident (on a dependency), acted on only once that one is resolved.
 */
export type IncidentState =
  "open" | "held" | "suppressed" | "remediating" | "verifying" | "awaiting_approval" | "approved" | "resolved" | "escalated";

/** A step as planned, recorded when its playbook run starts. */
export interface PlannedStep {
  name: string;
  kind: string;
  /** What it does, rendered: "restart process [node web.js]". */
  description: string;
  /** A capture step: its failure is recorded and the run goes on (capture never blocks the fix). */
  capture?: true;
}

/** Everything that can happen to an incident; the journal is a list of these. */
export type IncidentEvent =
  /**
   * `root`: opened suppressed, as a consequence of that incident on a dependency. `source`: raised
   * from outside rather than by a probe (`alertmanager:<fingerprint>`): only its source or a
   * verified playbook resolves it.
   */
  | { type: "opened"; target: string; kind: string; severity: Severity; evidence: string; dryRun?: boolean; root?: string; source?: string }
  | { type: "observed"; evidence: string; occurrences: number }
  /** `guards`: what the safety checks said when they let it run. */
  | { type: "playbook_started"; runId: string; playbook: string; steps: PlannedStep[]; guards?: string }
  | { type: "step_started"; runId: string; index: number }
  /** `artifacts`: what a capture step kept under the incident in the state dir, each with its hash. */
  | {
      type: "step_finished";
      runId: string;
      index: number;
      outcome: StepOutcome;
      detail: string;
      durationMs: number;
      artifacts?: ArtifactRef[];
    }
  | { type: "verifying"; runId: string; withinMs: number }
  /** `by`: a safety guard stopped automatic action (rather than remediation failing). */
  | { type: "escalated"; reason: string; severity?: Severity; by?: "flap_guard" }
  /** A guard holds the playbook back; it runs when the hold lifts (`until`, when known). */
  | { type: "held"; by: HoldCause; reason: string; until?: number }
  /** A dependency's incident (`root`) explains this one: no playbook and no page of its own until it is resolved. */
  | { type: "suppressed"; root: string; reason: string }
  /** A person took it on (through the API): timed escalation steps stop, channels that track it get an acknowledge. */
  | { type: "acknowledged"; by: string; note?: string }
  /** The outside source of the incident (an alert) stopped firing while the probe still failed: healthy rounds resolve it from now on. */
  | { type: "source_resolved"; detail: string }
  /**
   * A step must be approved before it runs: the question, with the plan as it would run now (and
   * what it would touch). `run`: the answer covers the whole run. No answer by `expiresAt`: it escalates.
   */
  | { type: "approval_requested"; runId: string; index: number; step: string; plan: string[]; why: string; run: boolean; expiresAt: number }
  /** A person said yes (`answer`: which answer, so one answer acts once); medic checks again before it runs. */
  | { type: "approved"; runId: string; index: number; by: string; note?: string; answer: string }
  /** A person said no: nothing runs, and it escalates with the reason. */
  | { type: "rejected"; runId: string; index: number; by: string; reason: string; answer: string }
  /** Nobody answered in time: nothing runs, and it escalates. */
  | { type: "approval_expired"; runId: string; index: number }
  /** What a dry run would have done instead of running the playbook. */
  | { type: "would_run"; plan: string[]; guards: string }
  /** `occurrences`: the failing rounds counted since the last `observed` record, when there were more. */
  | { type: "resolved"; reason: string; occurrences?: number }
  | { type: "note"; message: string }
  /** A notification owed: durable before it is sent. */
  | { type: "notification_queued"; notification: Notification }
  /** The receiver accepted it. */
  | { type: "notification_sent"; id: string; channel: string }
  /** The receiver refused it for good (a configuration error): not retried. */
  | { type: "notification_failed"; id: string; channel: string; reason: FailureReason; detail: string }
  /** Never sent: a later notification of the same incident on the channel (`by`) says all it would have said. */
  | { type: "notification_superseded"; id: string; channel: string; by: string };

/**
 * ok/failed: the step ran to an end; skipped: it changed nothing (its onlyIf did not hold, or it
 * found nothing to act on; the detail says which); abandoned: it was cut off (shutdown or crash)
 * and may or may not have acted.
 */
export type StepOutcome = "ok" | "failed" | "skipped" | "abandoned";

/** One journal line; `seq` is its place in the store (a store that numbers records sets it). */
export type JournalRecord = IncidentEvent & { at: number; incident: string; seq?: number };

/** A playbook run as folded from the journal. */
export interface RunRecord {
  runId: string;
  playbook: string;
  startedAt: number;
  /** When it ended: resolved, escalated, or replaced by another run. Unset while running or when cut off. */
  endedAt?: number;
  steps: (PlannedStep & { status: "pending" | "running" | StepOutcome; detail?: string; durationMs?: number })[];
  verify?: { startedAt: number; withinMs: number };
}

/** A notification as folded from the journal. */
export interface NotificationRecord {
  id: string;
  channel: string;
  event: NotificationEvent;
  status: "queued" | "sent" | "failed" | "superseded";
  queuedAt: number;
  detail?: string;
  notification: Notification;
}

/** An incident, folded from its journal records. */
export interface Incident {
  id: string;
  target: string;
  kind: string;
  severity: Severity;
  state: IncidentState;
  openedAt: number;
  updatedAt: number;
  resolvedAt?: number;
  /** Latest evidence seen. */
  evidence: string;
  /** Failing rounds seen while open. */
  occurrences: number;
  runs: RunRecord[];
  /** Every record of this incident, oldest first. */
  timeline: JournalRecord[];
  /** Notifications queued for it and how they fared. */
  notifications: NotificationRecord[];
  dryRun: boolean;
  /** Who raised it when not a probe: `alertmanager:<fingerprint>`. */
  source?: string;
  /** Its source stopped firing; healthy rounds may resolve it like any other. */
  sourceResolved?: boolean;
  /** The incident on a dependency this one is suppressed under. */
  root?: string;
  /** Who acknowledged it, and when. */
  acknowledged?: { by: string; at: number; note?: string };
  /** While held: by what, why and until when. */
  hold?: { by: HoldCause; reason: string; until?: number };
  /** The latest approval asked for, and its answer once there is one. */
  approval?: ApprovalState;
  /** What was approved: `RUN:INDEX` for a step, `RUN:run` for a whole run. */
  approved?: string[];
  /** Evidence capture steps kept, oldest first. */
  artifacts?: IncidentArtifact[];
}

/** An artifact as the incident lists it: the journal's ref, the step that kept it, and when. */
export type IncidentArtifact = ArtifactRef & { step: string; at: number };

/** An approval as folded from the journal. */
export interface ApprovalState {
  runId: string;
  index: number;
  step: string;
  plan: string[];
  why: string;
  run: boolean;
  askedAt: number;
  expiresAt: number;
  answer?: { decision: "approved" | "rejected" | "expired"; at: number; by?: string; reason?: string };
}

/** The key an approval of a step (or, `run`, of its whole run) is kept under. */
export const approvalKey = (runId: string, index: number | "run"): string => `${runId}:${index}`;

/** The target medic files its own incidents under (holding back under the blast radius). */
export const MEDIC_TARGET = "medic";

/** Still needs attention: not resolved. */
export function isOpen(incident: Incident): boolean {
  return incident.state !== "resolved";
}

/** A playbook is acting on it right now. */
export function isActive(incident: Incident): boolean {
  return incident.state === "remediating" || incident.state === "verifying";
}
