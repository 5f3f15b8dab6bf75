import type { ApprovalAnswer } from "../approvals/types.js";

/** Per target and incident kind: how often playbooks may run, and how long to wait between tries. */
export interface FlapGuardConfig {
  /** Playbook runs allowed per `windowMs`; past it the guard trips and the incident escalates. */
  maxRuns: number;
  windowMs: number;
  /** Wait after a run before the next: `initialMs`, doubling per run, at most `maxMs`. */
  backoff: { initialMs: number; maxMs: number };
  /** Healthy this long (no incident open on the target) and the count starts again. */
  resetAfterMs: number;
}

/** Across all targets: how much medic may do at once, so a shared outage is not met with forty restarts. */
export interface BlastRadiusConfig {
  /** Playbooks running at the same time. */
  concurrent: number;
  /** Playbook runs started per `windowMs`. */
  maxRuns: number;
  windowMs: number;
}

/** What stops medic from making things worse. */
export interface SafetyConfig {
  flapGuard: FlapGuardConfig;
  blastRadius: BlastRadiusConfig;
}

/** A recurring maintenance window: from each time `cron` fires, for `durationMs`. */
export interface MaintenanceWindowConfig {
  name: string;
  /** Five-field cron expression (minute hour day-of-month month day-of-week), node-cron syntax. */
  cron: string;
  durationMs: number;
  /** IANA time zone the cron expression is read in. */
  timezone: string;
  /** Target name globs the window covers. */
  targets: string[];
  reason: string;
}

/** An ad hoc pause, written by `medic pause` into the state directory. */
export interface Pause {
  id: string;
  /** A target name, or "*" for every target. */
  target: string;
  from: number;
  /** Always set: a pause always expires. */
  until: number;
  reason: string;
  /** Who paused (the user running `medic pause`). */
  by: string;
}

/** What operators tell the running daemon through the state directory (`controls.json`). */
export interface Controls {
  pauses: Pause[];
  /** Per target: the flap guard counts only runs after this time. */
  guardResets: Record<string, number>;
  /** People's answers to approvals (`medic approve`, `medic reject`, the API), until a day after they were given. */
  answers: ApprovalAnswer[];
}

/** A window or pause covering a target now: medic records but runs no playbook and pages nobody. */
export interface ActivePause {
  /** "window": recurring, from config; "pause": ad hoc, from `medic pause`. */
  source: "window" | "pause";
  /** The window's name, or the pause's id. */
  name: string;
  reason: string;
  until: number;
  /** Who paused (a pause's). */
  by?: string;
}

/** Why an incident waits instead of being acted on. */
export type HoldCause = "backoff" | "blast_radius" | "maintenance" | "quorum";
