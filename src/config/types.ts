import type { ApprovalsConfig } from "../approvals/types.js";
import type { ArtifactLimits } from "../artifacts/limits.js";
import type { Severity } from "../classify/types.js";
import type { Condition } from "../classify/conditions.js";
import type { Playbook } from "../playbooks/types.js";
import type { EscalationPolicy } from "../escalation/policy.js";
import type { NamedPolicy, NotifyRoute } from "../escalation/route.js";
import type { MaintenanceWindowConfig, SafetyConfig } from "../safety/types.js";
import type { KindRef, Target, TargetDefaults } from "./target.js";
import type { ClusterConfig, StoreConfig } from "./cluster.js";

export type { KindRef, Target, TargetDefaults, Thresholds } from "./target.js";

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
  /** Resolved incidents older than this are pruned from the journal. */
  retentionMs: number;
  /** Caps and retention of what capture steps keep under <stateDir>/artifacts/. */
  artifacts: ArtifactLimits;
  /** The PostgreSQL store, when the journal is not the state dir's files. */
  store?: StoreConfig;
  /** This node's cluster: set whenever `store.postgres` is. */
  cluster?: ClusterConfig;
  targets: Target[];
  defaults: TargetDefaults;
  discovery?: { docker?: DockerDiscoveryConfig };
  rules: Rule[];
  /** Severity per incident kind, built-ins overridden by config. */
  severities: Record<string, Severity>;
  playbooks: Playbook[];
  /** Which steps a person must approve before they run. */
  approvals: ApprovalsConfig;
  safety: SafetyConfig;
  maintenance: MaintenanceWindowConfig[];
  api: ApiConfig;
  alertmanager?: { routes: AlertRoute[] };
  /** Values that came from `${ENV}` or files: printed as [secret]. */
  secrets: string[];
  notify: NotifyConfig;
  escalation: {
    /** The default policy: for incidents no route takes. */
    policy: EscalationPolicy;
    /** Named policies routes send to. */
    policies: Record<string, NamedPolicy>;
    /** First match wins; `continue` keeps matching. */
    routes: NotifyRoute[];
    raiseOnFailure: Partial<Record<Severity, Severity>>;
    /** How long a page waits while a playbook works on the incident (0: at once). */
    pageGraceMs: number;
  };
}

/** One channel to humans: its name (what policies say), its kind and the kind's params. */
export interface ChannelConfig extends KindRef {
  name: string;
}

/** Channels to humans and how delivery retries. */
export interface NotifyConfig {
  /** Configured channels: `notify.<kind>` named after its kind, then `notify.channels`; console is always there. */
  channels: ChannelConfig[];
  retry: { initialMs: number; maxMs: number; attempts: number };
  breaker: { failures: number; cooldownMs: number };
  /** Base URL of medic's API, for links in notifications. */
  link?: string;
}

/** What a token's holder may do: read; also act on incidents and controls; also answer approvals. */
export type ApiRole = "viewer" | "operator" | "approver";

/** One API token: whose it is, where it is kept, and its role. */
export interface ApiToken {
  name: string;
  tokenFile: string;
  role: ApiRole;
}

/** The HTTP API. */
export interface ApiConfig {
  /** Where it listens; undefined: off. */
  listen?: { host: string; port: number };
  /** Who may call the API: each token's holder, its file (absolute) and role; api.tokenFile is an approver named admin. */
  tokens: ApiToken[];
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
