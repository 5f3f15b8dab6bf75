/**
 * The `postgres` probe: a fresh connection per round, one query, the connection closed again.
 *
 * Least privilege. medic needs a login role and, to see other roles' sessions, pg_monitor
 * (which includes pg_read_all_stats and pg_read_all_settings); it needs no superuser and no
 * access to any table:
 *
 *     CREATE ROLE medic LOGIN PASSWORD '…';
 *     GRANT pg_monitor TO medic;
 *
 * Without pg_monitor, PostgreSQL still shows medic a row for every session, so the connection
 * count and pool utilization stay right, and lock waits (from pg_locks) are still counted. But
 * other roles' sessions come without state, query or times: whenever there are such sessions the
 * probe reports `visibility: "partial"` and leaves out the session states, the oldest
 * idle-in-transaction age and the longest query time rather than report zeros, so
 * `long_transaction` cannot be detected for those sessions.
 */
import { performance } from "node:perf_hooks";
import type pg from "pg";
import { MedicError } from "../lib/errors.js";
import { pgConnectionSchema } from "../config/pg-connection.js";
import { connectPg, pgClientConfig, pgErrorCode, type PgConnection } from "../lib/pg.js";
import { factsFromRow, POSTGRES_PROBE_SQL, probeRowSchema } from "./postgres-query.js";
import type { Facts, Observation, Probe, ProbeContext, ProbeKind } from "./types.js";

// node-postgres: https://node-postgres.com/apis/client

// After the answer, how long a polite goodbye may take before the socket is simply destroyed.
const END_GRACE_MS = 1000;

/** The `postgres` probe: healthy when a fresh connection runs the probe query; facts from it. */
export const postgresProbe: ProbeKind<typeof pgConnectionSchema> = {
  schema: pgConnectionSchema,
  create(params, ctx): Probe {
    return { run: (signal) => probePostgres(params, ctx, signal) };
  },
  describe(params) {
    return showConnection(params);
  },
};

/** "postgres 127.0.0.1:5432/postgres as medic": where and as whom, never the password. */
export function showConnection(conn: PgConnection): string {
  let host = conn.host ?? "127.0.0.1";
  let port = conn.port ?? 5432;
  let user = conn.user;
  let database = conn.database;
  if (conn.url) {
    if (!URL.canParse(conn.url)) return "postgres (invalid URL)";
    const url = new URL(conn.url);
    host = url.searchParams.get("host") ?? (url.hostname || "localhost");
    port = Number(url.port || url.searchParams.get("port") || 5432);
    user = url.username ? safeDecode(url.username) : undefined;
    database = url.pathname.length > 1 ? safeDecode(url.pathname.slice(1)) : undefined;
  }
  const where = `${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}/${database ?? user ?? "(default database)"}`;
  return `postgres ${where}${user ? ` as ${user}` : ""}`;
}

async function probePostgres(conn: PgConnection, ctx: ProbeContext, signal: AbortSignal): Promise<Observation> {
  const at = Date.now();
  const start = performance.now();
  const shown = showConnection(conn);
  const secrets = secretsOf(conn);
  let client: pg.Client | undefined;
  let connecting: Promise<pg.Client> | undefined;
  // Every await below races the signal: a stalled network may leave node-postgres waiting forever.
  let onAbort = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
  });
  aborted.catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });

  const observe = (ok: boolean, facts: Facts, error?: { code: string; message: string }): Observation => {
    const obs: Observation = { target: ctx.target, at, ok, latencyMs: performance.now() - start, facts };
    if (error) obs.error = error;
    return obs;
  };

  try {
    if (signal.aborted) throw signal.reason;
    const config = await pgClientConfig(conn, { baseDir: ctx.baseDir, timeoutMs: ctx.timeoutMs, applicationName: "medic-probe" });
    if (typeof config.password === "string") secrets.push(config.password);
    connecting = connectPg(config, signal);
    client = await Promise.race([connecting, aborted]);
    const queryStart = performance.now();
    const result = await Promise.race([client.query(POSTGRES_PROBE_SQL), aborted]);
    const selectLatencyMs = performance.now() - queryStart;
    const row = probeRowSchema.safeParse(result.rows[0]);
    if (!row.success) {
      return observe(
        false,
        {},
        { code: "EPGANSWER", message: `${shown}: the probe query returned an unexpected row (is this PostgreSQL?)` },
      );
    }
    const { postgres, poolUtilization } = factsFromRow(row.data, selectLatencyMs);
    return observe(true, { postgres, poolUtilization });
  } catch (err) {
    if (signal.aborted) {
      return observe(false, {}, { code: "ETIMEDOUT", message: `${shown}: no answer after ${Math.round(performance.now() - start)} ms` });
    }
    const code = err instanceof MedicError ? err.code : pgErrorCode(err);
    return observe(false, {}, { code, message: `${shown}: ${scrub(messageOf(err, code), secrets)}` });
  } finally {
    signal.removeEventListener("abort", onAbort);
    // A connect that lost the race to the signal may still succeed later: close that client too.
    if (client) close(client, signal.aborted);
    else
      connecting?.then(
        (late) => close(late, true),
        () => {},
      );
  }
}

// A polite goodbye when the server is answering; the socket destroyed when it is not (or stops).
function close(client: pg.Client, now: boolean): void {
  const destroy = (): void => void client.connection.stream.destroy();
  if (now) return destroy();
  const timer = setTimeout(destroy, END_GRACE_MS);
  timer.unref();
  void client.end().finally(() => clearTimeout(timer));
}

function secretsOf(conn: PgConnection): string[] {
  const secrets = conn.password ? [conn.password] : [];
  if (conn.url && URL.canParse(conn.url)) {
    const { password } = new URL(conn.url);
    if (password) secrets.push(password, safeDecode(password));
  }
  return secrets;
}

// Server messages name the user and database, never the password; this is a second line of defence.
function scrub(message: string, secrets: string[]): string {
  let out = message;
  for (const secret of secrets) if (secret.length >= 3) out = out.replaceAll(secret, "[secret]");
  return out;
}

// One line, bounded. A failed connect to a name with several addresses is an AggregateError with no message.
function messageOf(err: unknown, code: string): string {
  const text = err instanceof MedicError ? err.describe() : err instanceof Error ? err.message : String(err);
  return (text.replace(/\s+/g, " ").trim() || code).slice(0, 300);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
