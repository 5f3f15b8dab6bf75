import type { Severity } from "../classify/types.js";
import type { Incident } from "../incidents/types.js";
import type { PlanIncident } from "../playbooks/plan.js";
import type { StepResult } from "../services/types.js";
import type { ActivePause } from "../safety/types.js";
import type { Found, HistoryPage, HistoryQuery } from "../store/types.js";

/** A watched target as the API shows it. */
export interface TargetStatus {
  name: string;
  labels: Record<string, string>;
  probe: string;
  /** null before the first round. */
  up: boolean | null;
  lastRoundAt?: number;
  latencyMs?: number;
  /** The latest rounds' latency in ms, oldest first (at most 30); null for a round whose probe failed. */
  recent?: (number | null)[];
  finding?: { kind: string; evidence: string };
  /** Ids of its incidents that are not resolved. */
  open: string[];
  paused?: ActivePause;
}

/** The daemon's own health: is it doing its job? */
export interface DaemonHealth {
  ok: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
}

/** Per notification channel: queue depth and breaker state. */
export type ChannelStatus = Record<string, { queued: number; breaker: string; failures: number }>;

/** What the API, metrics and the console may read. */
export interface ReadPort {
  targetsStatus(now?: number): TargetStatus[];
  health(now?: number): DaemonHealth;
  /** Open incidents and the recent ones (bounded). */
  liveIncidents(): ReadonlyMap<string, Incident>;
  findIncident(id: string): Promise<Found>;
  history(query: HistoryQuery): Promise<HistoryPage>;
  channels(): ChannelStatus;
  /** A cluster node: the cluster as the store has it, and this node's part (absent on a single node). */
  cluster?(): Promise<unknown>;
}

/** What an outside alert says is broken. */
export interface ExternalAlert {
  target: string;
  kind: string;
  severity: Severity;
  evidence: string;
  source: string;
}

/** What the API and the Alertmanager receiver may ask the daemon to do. */
export interface CommandPort {
  /**
   * A person takes an incident on; undefined when there is no such open incident. A cluster's
   * follower passes it to the leader (a promise: resolved once the store has it).
   */
  acknowledge(id: string, by: string, note?: string): Incident | undefined | Promise<Incident | undefined>;
  /** Opens an incident from outside (or joins the open one from the same source or of the same kind). */
  raiseExternal(alert: ExternalAlert): { incident: string; created: boolean };
  /** The outside source stopped firing: resolves once a fresh probe is healthy. */
  resolveExternal(source: string): Promise<{ incident?: string; resolved: boolean; detail: string }>;
}

/** What the vantage points say about acting on a failing target. */
export type Confirmation =
  | { act: true; detail: string }
  /** Not enough nodes have reported yet: wait (the incident is held, and asked again every second). */
  | { act: false; hold: string }
  /** Other nodes see it healthy: the path from here is at fault, not the service. Page, never restart. */
  | { act: false; disagree: string }
  /** Too few nodes can say anything: a human decides. */
  | { act: false; escalate: string };

/**
 * A step the deciding node asks another to carry out (a cluster's host step, on the target's own
 * node): what that node needs to plan it again from its own config, and the step as the decider
 * rendered it, which it runs only if its own rendering is the same.
 */
export interface StepTask {
  runId: string;
  /** The incident as the plan was rendered from it. */
  incident: PlanIncident;
  playbook: string;
  index: number;
  description: string;
  timeoutMs: number;
}

/** Carries a step out on the node it must run on; undefined when it runs here. `local`: it acts on its host. */
export type StepCarrier = (task: StepTask, local: boolean, signal: AbortSignal) => Promise<StepResult> | undefined;
