// What the console reads from medic's API, as the JSON arrives (times are ISO strings, or epoch ms where the API says so).

/** A watched target (GET /api/targets, and the live stream). */
export interface Target {
  name: string;
  labels: Record<string, string>;
  probe: string;
  /** null before the first round. */
  up: boolean | null;
  /** Epoch ms. */
  lastRoundAt?: number;
  latencyMs?: number;
  /** The latest rounds' latency in ms, oldest first; null for a failed round. */
  recent?: (number | null)[];
  finding?: { kind: string; evidence: string };
  open: string[];
  paused?: { source: "window" | "pause"; name: string; reason: string; until: number };
}

/** An incident as a list shows it. */
export interface IncidentSummary {
  id: string;
  target: string;
  kind: string;
  severity: string;
  state: string;
  openedAt: string;
  updatedAt: string;
  resolvedAt?: string;
  evidence: string;
  occurrences: number;
  runs: number;
  source?: string;
  root?: string;
  acknowledged?: { by: string; at: string; note?: string };
  hold?: { by: string; reason: string; until?: string };
  dryRun?: boolean;
  approval?: Approval;
}

/** A playbook step as run. */
export interface Step {
  name: string;
  kind: string;
  description: string;
  status: string;
  detail?: string;
  durationMs?: number;
}

/** A playbook run. */
export interface Run {
  runId: string;
  playbook: string;
  startedAt: string;
  endedAt?: string;
  steps: Step[];
}

/** A notification owed, and how it fared. */
export interface Notification {
  id: string;
  channel: string;
  event: string;
  status: string;
  queuedAt: string;
  detail?: string;
}

/** One journal record of an incident, with a line a person reads; the other fields depend on its type. */
export interface TimelineRecord {
  at: string;
  text: string;
  type: string;
  [field: string]: unknown;
}

/** A step waiting for a person's yes. */
export interface Approval {
  runId: string;
  /** The step's place in its run, from 0. */
  step: number;
  stepName: string;
  /** The step (or, with `run`, the whole run from it) as `medic plan` renders it. */
  plan: string[];
  /** What asked for it: the step, the playbook, a rule, the severity. */
  why: string;
  /** The yes is for the whole run, not this step alone. */
  run: boolean;
  askedAt: string;
  expiresAt: string;
  answer?: { decision: "approved" | "rejected" | "expired"; by?: string; at: string; reason?: string };
}

/** One incident with everything the journal says of it (GET /api/incidents/ID). */
export interface IncidentDetail extends Omit<IncidentSummary, "runs"> {
  runs: Run[];
  /** Evidence capture steps kept (absent from an older medic). */
  artifacts?: Artifact[];
  notifications: Notification[];
  timeline: TimelineRecord[];
}

/** One artifact a capture step kept: where to download it, its size and hash. */
export interface Artifact {
  name: string;
  step: string;
  at: string;
  bytes: number;
  sha256: string;
  truncated: boolean;
  excerpt?: string;
  /** The API path, from the root: /api/incidents/ID/artifacts/NAME. */
  download: string;
}

/** What a token may do. */
export type Role = "viewer" | "operator" | "approver";

/** Who the token belongs to (GET /api/whoami). */
export interface Identity {
  name: string;
  role: Role;
}

/** An active pause (GET /api/pauses, /api/status). */
export interface Pause {
  id: string;
  target: string;
  from: string;
  until: string;
  reason: string;
  by: string;
}

/** medic itself (GET /api/status). */
export interface Status {
  health: { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] };
  channels: Record<string, { queued: number; breaker: string; failures: number }>;
  pauses: Pause[];
  maintenance: {
    name: string;
    cron: string;
    durationMs: number;
    timezone: string;
    targets: string[];
    reason: string;
    activeUntil?: string;
  }[];
  cluster?: ClusterStatus | { error: string };
}

/** A cluster as its store has it (times in epoch ms). */
export interface ClusterStatus {
  cluster: string;
  leader: { node: string | null; epoch: number; since: number | null; leaseUntil: number; leaseLeftMs: number } | null;
  nodes: {
    node: string;
    startedAt: number;
    heartbeatAt: number;
    silentMs: number;
    version: string;
    detail: { mode?: string; problem?: string | null };
  }[];
  self?: { node: string; mode: string; epoch?: number };
}

/** What changed since the stream's last event. */
export interface Change<T> {
  changed: T[];
  removed: string[];
}
