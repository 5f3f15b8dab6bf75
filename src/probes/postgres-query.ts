import { z } from "zod";
import type { PostgresFacts } from "./types.js";

// https://www.postgresql.org/docs/15/monitoring-stats.html#MONITORING-PG-STAT-ACTIVITY-VIEW
// https://www.postgresql.org/docs/15/view-pg-locks.html

/**
 * The postgres probe's one query. Functions are schema-qualified so a role's search_path cannot
 * swap them. Sessions counted are client backends other than the probe's own. A role without
 * pg_read_all_stats sees other roles' rows with backend_type, state and times NULL: such a row
 * with a database and a user is counted as a client (background workers have no user, or no
 * database), and its state stays unknown (`hidden`). pg_locks is readable by every role, so
 * lock waits are counted whatever the role.
 */
export const POSTGRES_PROBE_SQL = `
WITH me AS (SELECT pg_catalog.pg_backend_pid() AS pid),
clients AS (
  SELECT a.pid, a.state, a.state_change, a.query_start, a.wait_event_type
  FROM pg_catalog.pg_stat_activity a, me
  WHERE a.pid <> me.pid
    AND (a.backend_type = 'client backend'
      OR (a.backend_type IS NULL AND a.datid IS NOT NULL AND a.usesysid IS NOT NULL))
),
waiting AS (SELECT DISTINCT l.pid FROM pg_catalog.pg_locks l WHERE NOT l.granted)
SELECT
  pg_catalog.current_setting('server_version') AS version,
  pg_catalog.pg_is_in_recovery() AS in_recovery,
  pg_catalog.current_setting('max_connections')::int AS max_connections,
  pg_catalog.current_setting('superuser_reserved_connections')::int AS reserved_connections,
  count(c.pid)::int AS used,
  (count(c.pid) FILTER (WHERE c.state IS NULL))::int AS hidden,
  (count(c.pid) FILTER (WHERE c.state = 'active'))::int AS active,
  (count(c.pid) FILTER (WHERE c.state = 'idle'))::int AS idle,
  (count(c.pid) FILTER (WHERE c.state = 'idle in transaction'))::int AS idle_in_transaction,
  (count(c.pid) FILTER (WHERE c.state = 'idle in transaction (aborted)'))::int AS idle_in_transaction_aborted,
  (EXTRACT(EPOCH FROM now() - min(c.state_change) FILTER (WHERE c.state = 'idle in transaction')) * 1000)::float8
    AS oldest_idle_in_transaction_ms,
  (EXTRACT(EPOCH FROM now() - min(c.query_start) FILTER (WHERE c.state = 'active')) * 1000)::float8 AS longest_query_ms,
  (count(c.pid) FILTER (WHERE c.wait_event_type = 'Lock' OR c.pid IN (SELECT pid FROM waiting)))::int AS waiting_on_lock
FROM clients c`;

const msField = z
  .number()
  .nullable()
  .transform((ms) => (ms === null ? undefined : Math.max(0, Math.round(ms))));

/** The query's one row, checked at the edge: a proxy or pooler in between could answer anything. */
export const probeRowSchema = z.object({
  version: z.string(),
  in_recovery: z.boolean(),
  max_connections: z.number().int().nonnegative(),
  reserved_connections: z.number().int().nonnegative(),
  used: z.number().int().nonnegative(),
  hidden: z.number().int().nonnegative(),
  active: z.number().int().nonnegative(),
  idle: z.number().int().nonnegative(),
  idle_in_transaction: z.number().int().nonnegative(),
  idle_in_transaction_aborted: z.number().int().nonnegative(),
  oldest_idle_in_transaction_ms: msField,
  longest_query_ms: msField,
  waiting_on_lock: z.number().int().nonnegative(),
});

/** The probe's facts from its row: the postgres block and the generic pool utilization. */
export function factsFromRow(
  row: z.output<typeof probeRowSchema>,
  selectLatencyMs: number,
): { postgres: PostgresFacts; poolUtilization: number } {
  const partial = row.hidden > 0;
  const postgres: PostgresFacts = {
    // "15.18 (Debian 15.18-0+deb12u1)": the packager's suffix is noise in evidence.
    version: row.version.split(" ")[0] ?? row.version,
    inRecovery: row.in_recovery,
    connections: { used: row.used, max: row.max_connections, reserved: row.reserved_connections },
    waitingOnLock: row.waiting_on_lock,
    visibility: partial ? "partial" : "full",
    selectLatencyMs: Math.round(selectLatencyMs * 10) / 10,
  };
  // With hidden sessions, zeros or ages would be guesses that look like facts: leave them out.
  if (!partial) {
    postgres.states = {
      active: row.active,
      idle: row.idle,
      idleInTransaction: row.idle_in_transaction,
      idleInTransactionAborted: row.idle_in_transaction_aborted,
    };
    if (row.oldest_idle_in_transaction_ms !== undefined) postgres.oldestIdleInTransactionMs = row.oldest_idle_in_transaction_ms;
    if (row.longest_query_ms !== undefined) postgres.longestQueryMs = row.longest_query_ms;
  }
  // Superuser-reserved slots are not for applications: they are full before those are. Superusers
  // in the reserved slots would push the ratio past 1; full is full.
  const poolUtilization = Math.min(1, row.used / Math.max(1, row.max_connections - row.reserved_connections));
  return { postgres, poolUtilization };
}
