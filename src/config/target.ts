// A target as medic watches it: kept apart from the rest of the config's types, so that playbooks,
// services and probes can name a target without depending on the whole config (which holds playbooks).

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
  /** In a cluster: the node whose host the target's service is on; steps that act on a host run only there. */
  node?: string;
  /** In a cluster: how many nodes must see it failing before the leader acts (absent: the leader alone). */
  quorum?: number;
}

/** What every target gets unless it says otherwise; discovered targets start from these. */
export type TargetDefaults = Pick<Target, "intervalMs" | "timeoutMs" | "failureThreshold" | "successThreshold" | "thresholds">;
