import type { Target } from "../config/types.js";
import { formatDuration } from "../lib/duration.js";
import type { Observation } from "../probes/types.js";
import { plain } from "./evidence.js";
import type { Finding } from "./types.js";

/** Probe kinds whose target is a database: their failures are database failures. */
export const DATABASE_PROBES: ReadonlySet<string> = new Set(["postgres"]);

/** A kind and the evidence parts for it; classify() adds target and severity. */
export type Judgement = { kind: string; parts: string[] };

/** How a dependency of the target looks right now, for evidence that says which side is broken. */
export interface DependencyView {
  name: string;
  /** Its probe talks to a database (postgres). */
  database: boolean;
  /** Its latest finding; null when its latest round was healthy; undefined when not probed yet. */
  finding: Finding | null | undefined;
}

// What a database probe's failure means. Authentication failure gets a kind of its own: a
// restart cannot fix a wrong password, so no restart playbook may match it.
const DB_FAILURES: Record<string, { kind: string; phrase: string }> = {
  EAUTH: { kind: "db_auth_failure", phrase: "authentication failed; restarting will not fix this" },
  ETOOMANY: { kind: "pool_exhaustion", phrase: "the server refuses new connections: too many clients" },
  ESHUTDOWN: { kind: "db_disconnect", phrase: "the database system is shutting down or starting up" },
  ECONNREFUSED: { kind: "db_disconnect", phrase: "database unreachable: connection refused" },
  ETIMEDOUT: { kind: "db_disconnect", phrase: "database did not answer in time" },
  ECONNRESET: { kind: "db_disconnect", phrase: "connection to the database reset" },
};

/** A database probe that got no answer: which kind of database trouble it is. */
export function judgeDatabaseFailure(obs: Observation): Judgement {
  const code = obs.error?.code ?? "EPG";
  const known = Object.hasOwn(DB_FAILURES, code) ? DB_FAILURES[code] : undefined;
  const detail = known ? `${known.phrase} (${code})` : `database error (${plain(code, 32)}): ${plain(obs.error?.message ?? "", 160)}`;
  return { kind: known?.kind ?? "db_disconnect", parts: [`${detail} after ${Math.round(obs.latencyMs)}ms`] };
}

/** Sessions stuck too long (idle in transaction holding locks, or a runaway query): `long_transaction`. */
export function judgeLongTransactions(obs: Observation, target: Target): Judgement | undefined {
  const pg = obs.facts.postgres;
  if (!pg) return undefined;
  const parts: string[] = [];
  const idle = pg.oldestIdleInTransactionMs;
  if (idle !== undefined && idle >= target.thresholds.idleInTransactionMs) {
    parts.push(
      `a session idle in transaction for ${formatDuration(idle)} (threshold ${formatDuration(target.thresholds.idleInTransactionMs)})`,
    );
  }
  const query = pg.longestQueryMs;
  if (query !== undefined && query >= target.thresholds.queryMs) {
    parts.push(`a query running for ${formatDuration(query)} (threshold ${formatDuration(target.thresholds.queryMs)})`);
  }
  if (parts.length === 0) return undefined;
  if (pg.waitingOnLock > 0) parts.push(`${pg.waitingOnLock} waiting on locks`);
  return { kind: "long_transaction", parts };
}

/** For an application whose health body says its database is down: is the database really down? */
export function whichSideIsBroken(dependencies: readonly DependencyView[]): string {
  const databases = dependencies.filter((d) => d.database);
  if (databases.length === 0) return "";
  const down = databases.filter((d) => d.finding);
  if (down.length > 0) return `the database is down too (${down.map((d) => `${d.name}: ${d.finding!.kind}`).join(", ")})`;
  if (databases.every((d) => d.finding === null)) {
    return `${databases.map((d) => d.name).join(", ")} answers: the application lost its connection`;
  }
  return "";
}
