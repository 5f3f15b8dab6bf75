import { z } from "zod";

// The read-only statements of postgres.snapshot, fixed text; values travel as bind parameters.
// Functions and views are schema-qualified so a role's search_path cannot swap them.
// https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ACTIVITY-VIEW
// https://www.postgresql.org/docs/current/functions-info.html (pg_blocking_pids)

// Client sessions, as the postgres probe counts them: a role without pg_read_all_stats sees other
// roles' rows with backend_type NULL, and those with a database and a user are clients too.
const CLIENTS = `a.pid <> pg_catalog.pg_backend_pid()
   AND (a.backend_type = 'client backend' OR (a.backend_type IS NULL AND a.datid IS NOT NULL AND a.usesysid IS NOT NULL))`;

const ms = (from: string): string => `(EXTRACT(EPOCH FROM now() - ${from}) * 1000)::float8`;

// $1: how many characters of each query text to keep.
const COLUMNS = `a.pid, a.usename, a.application_name, pg_catalog.host(a.client_addr) AS client_addr, a.client_port, a.datname,
       a.state, a.wait_event_type, a.wait_event, ${ms("a.xact_start")} AS xact_ms, ${ms("a.query_start")} AS query_ms,
       ${ms("a.state_change")} AS state_ms, pg_catalog.left(a.query, $1::int) AS query, pg_catalog.length(a.query) AS query_chars`;

/** The server, and whether medic's role sees every session (pg_read_all_stats, part of pg_monitor). */
export const SERVER_SQL = `SELECT pg_catalog.current_setting('server_version') AS version, pg_catalog.pg_is_in_recovery() AS in_recovery,
       pg_catalog.current_setting('max_connections')::int AS max_connections, current_user AS role,
       (pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')
         OR coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false)) AS sees_all,
       pg_catalog.to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at`;

/** Every session that is not idle, oldest transaction first. $2: at most this many. */
export const SESSIONS_SQL = `SELECT ${COLUMNS}
  FROM pg_catalog.pg_stat_activity a
 WHERE ${CLIENTS}
   AND a.state IS DISTINCT FROM 'idle'
 ORDER BY a.xact_start NULLS LAST, a.query_start NULLS LAST, a.pid
 LIMIT $2::int`;

/** Sessions waiting for a lock (pg_locks is readable by every role), each with the pids that block it. $2: at most this many. */
export const WAITS_SQL = `SELECT ${COLUMNS}, pg_catalog.pg_blocking_pids(a.pid) AS blocked_by
  FROM pg_catalog.pg_stat_activity a
 WHERE a.pid IN (SELECT l.pid FROM pg_catalog.pg_locks l WHERE NOT l.granted)
 ORDER BY a.query_start NULLS LAST, a.pid
 LIMIT $2::int`;

/** The sessions that block others. $2: their pids. */
export const BLOCKERS_SQL = `SELECT ${COLUMNS}
  FROM pg_catalog.pg_stat_activity a
 WHERE a.pid = ANY ($2::int[])
 ORDER BY a.xact_start NULLS LAST, a.pid`;

/** Client sessions counted by state, by application and by client address; g says which (3, 5, 6). */
export const COUNTS_SQL = `SELECT GROUPING(a.state, a.application_name, c.client)::int AS g, a.state, a.application_name, c.client,
       count(*)::int AS n
  FROM pg_catalog.pg_stat_activity a,
       LATERAL (SELECT coalesce(pg_catalog.host(a.client_addr), CASE WHEN a.client_port = -1 THEN 'local socket' END) AS client) c
 WHERE ${CLIENTS}
 GROUP BY GROUPING SETS ((a.state), (a.application_name), (c.client))
 ORDER BY g, n DESC`;

const msField = z
  .number()
  .nullable()
  .transform((v) => (v === null ? null : Math.max(0, Math.round(v))));

/** One session row, checked at the edge: a pooler in between could answer anything. */
export const sessionRow = z.object({
  pid: z.number().int(),
  usename: z.string().nullable(),
  application_name: z.string().nullable(),
  client_addr: z.string().nullable(),
  client_port: z.number().int().nullable(),
  datname: z.string().nullable(),
  state: z.string().nullable(),
  wait_event_type: z.string().nullable(),
  wait_event: z.string().nullable(),
  xact_ms: msField,
  query_ms: msField,
  state_ms: msField,
  query: z.string().nullable(),
  query_chars: z.number().int().nullable(),
});

/** A session row of the snapshot. */
export type SnapshotSession = z.output<typeof sessionRow>;

/** A lock wait: the waiting session and who blocks it. */
export const waitRow = sessionRow.extend({ blocked_by: z.array(z.number().int()) });
/** A waiting session row. */
export type SnapshotWait = z.output<typeof waitRow>;

/** The server row. */
export const serverRow = z.object({
  version: z.string(),
  in_recovery: z.boolean(),
  max_connections: z.number().int(),
  role: z.string(),
  sees_all: z.boolean(),
  at: z.string(),
});

/** One count row. */
export const countRow = z.object({
  g: z.number().int(),
  state: z.string().nullable(),
  application_name: z.string().nullable(),
  client: z.string().nullable(),
  n: z.number().int(),
});
