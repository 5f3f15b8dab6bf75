import type { Severity } from "../classify/types.js";
import type { Condition } from "../classify/conditions.js";
import type { Playbook } from "../playbooks/types.js";
import type { EscalationPolicy } from "../escalation/policy.js";
import type { MaintenanceWindowConfig, SafetyConfig } from "../safety/types.js";

/** A kind from a registry with its validated params, e.g. `{ kind: "http", params: { url } }`. */
export interface KindRef {
  kind: string;
  params: unknown;
}

/** Limits past which a target counts as under pressure. */
export interface Thresholds {
  /** Probe latency above this is `high_latency`. */
  latencyMs: number;
  /** Pool in use / size at or above this is `pool_exhaustion`. */
  poolUtilization: number;
  /** Memory in use / limit at or above this is `memory_pressure`. */
  memoryUtilization: number;
  /** A database session idle in transaction this long is `long_transaction`. */
  idleInTransactionMs: number;
  /** A database query running this long is `long_transaction`. */
  queryMs: number;
}

/** One watched target with every default applied. */
export interface Target {
  name: string;
  labels: Record<string, string>;
  probe: KindRef;
  service?: KindRef;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failing rounds before an incident opens. */
  failureThreshold: number;
  /** Consecutive healthy rounds before an incident resolves. */
  successThreshold: number;
  thresholds: Thresholds;
  dependsOn: string[];
  /** Only this playbook may act on the target (a label on a discovered container can set it). */
  playbook?: string;
}

/** What every target gets unless it says otherwise; discovered targets start from these. */
export type TargetDefaults = Pick<Target, "intervalMs" | "timeoutMs" | "failureThreshold" | "successThreshold" | "thresholds">;

/** Watch containers that opt in with a label (`medic.enable=true`). */
export interface DockerDiscoveryConfig {
  socketPath?: string;
  host?: string;
  label: string;
}

/** An operator's classification rule: when the condition holds, the finding is `kind`. */
export interface Rule {
  kind: string;
  severity: Severity;
  /** All must hold. */
  when: Condition[];
  /** Target name globs the rule applies to. */
  targets: string[];
}

/** A validated, normalised config: what the rest of medic reads. */
export interface Config {
  /** Absolute path of the config file. */
  file: string;
  /** Directory relative paths in the config resolve against. */
  baseDir: string;
  stateDir: string;
  targets: Target[];
  defaults: TargetDefaults;
  discovery?: { docker?: DockerDiscoveryConfig };
  rules: Rule[];
  /** Severity per incident kind, built-ins overridden by config. */
  severities: Record<string, Severity>;
  playbooks: Playbook[];
  safety: SafetyConfig;
  maintenance: MaintenanceWindowConfig[];
  api: ApiConfig;
  alertmanager?: { routes: AlertRoute[] };
  /** Values that came from `${ENV}` or files: printed as [secret]. */
  secrets: string[];
  notify: NotifyConfig;
  escalation: {
    policy: EscalationPolicy;
    raiseOnFailure: Partial<Record<Severity, Severity>>;
    /** How long a page waits while a playbook works on the incident (0: at once). */
    pageGraceMs: number;
  };
}

/** Channels to humans and how delivery retries. */
export interface NotifyConfig {
  /** Configured channels, by name (the registry kind); console is always there. */
  channels: KindRef[];
  retry: { initialMs: number; maxMs: number; attempts: number };
  breaker: { failures: number; cooldownMs: number };
  /** Base URL of medic's API, for links in notifications. */
  link?: string;
}

/** The HTTP API. */
export interface ApiConfig {
  /** Where it listens; undefined: off. */
  listen?: { host: string; port: number };
  /** Absolute path of the file holding the bearer token. */
  tokenFile?: string;
  /** Host header names accepted on a loopback address besides loopback's own (lower case, IPv6 in brackets). */
  allowedHosts?: string[];
  /** Reads need no token even when one is configured (set only when true). */
  publicReads?: true;
}

/** Maps Alertmanager alerts to a target and an incident kind. */
export interface AlertRoute {
  match: Record<string, string>;
  /** Anchored, as Alertmanager's matchers are. */
  matchRe: Record<string, RegExp>;
  target?: string;
  targetLabel?: string;
  kind: string;
  severity?: Severity;
}
