/** P1 wakes someone now; P4 is a log line. */
export type Severity = "P1" | "P2" | "P3" | "P4";
export const SEVERITIES: readonly Severity[] = ["P1", "P2", "P3", "P4"];

/** A built-in incident kind, or one an operator defined with a rule. */
export type IncidentKind = string;

/** Built-in kinds and the severity each gets unless config overrides it. */
export const BUILTIN_KINDS = {
  server_down: "P1",
  db_disconnect: "P1",
  pool_exhaustion: "P2",
  memory_pressure: "P2",
  high_latency: "P2",
  /** A database refuses medic's credentials: no restart fixes that, so it escalates. */
  db_auth_failure: "P1",
  /** A session idle in transaction, or a query, running longer than its threshold. */
  long_transaction: "P2",
  /** medic's own: it is holding remediations back because too many targets broke at once. */
  blast_radius: "P1",
  /** A cluster's: a node's heartbeat stopped; the targets on its host are suppressed under it. */
  node_down: "P1",
  /** A cluster's: the leader sees a target failing that other nodes see healthy: the network path, not the service. */
  vantage_disagreement: "P2",
} as const satisfies Record<string, Severity>;
export type BuiltinKind = keyof typeof BUILTIN_KINDS;

/** What classification says broke, from one observation. */
export interface Finding {
  target: string;
  kind: IncidentKind;
  severity: Severity;
  /** One line a person can read: what was seen. Sanitised, capped. */
  evidence: string;
}
