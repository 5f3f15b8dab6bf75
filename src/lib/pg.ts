import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { createRequire } from "node:module";
import type pg from "pg";
import { MedicError } from "./errors.js";

// Loaded on first use: pg is about 15 MB of RSS that a medic watching no database never needs.
const require = createRequire(import.meta.url);
let pgModule: typeof pg | undefined;
const Pg = (): typeof pg => (pgModule ??= require("pg") as typeof pg);

// node-postgres: https://node-postgres.com/apis/client

/** How to reach a PostgreSQL server: a URL, or discrete fields (validated by config/pg-connection). */
export interface PgConnection {
  url?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  user?: string | undefined;
  database?: string | undefined;
  password?: string | undefined;
  passwordFile?: string | undefined;
  connectTimeout?: number | undefined;
}

/** The node-postgres client config for a connection, with timeouts that cannot be left out. */
export async function pgClientConfig(
  conn: PgConnection,
  opts: { baseDir: string; timeoutMs: number; applicationName: string },
): Promise<pg.ClientConfig> {
  let password = conn.password;
  if (conn.passwordFile) {
    const file = resolve(opts.baseDir, conn.passwordFile);
    try {
      password = (await readFile(file, "utf8")).trim();
    } catch (cause) {
      throw new MedicError("PG_PASSWORD_FILE", `cannot read the password file ${file}`, {
        cause,
        hint: "check the path and that medic's user can read it",
      });
    }
  }
  const base: pg.ClientConfig = conn.url
    ? { connectionString: conn.url }
    : { host: conn.host ?? "127.0.0.1", port: conn.port ?? 5432, user: conn.user, database: conn.database };
  if (password !== undefined) base.password = password;
  // node-postgres waits forever by default: bound the connect, every statement, and the client side too.
  return {
    ...base,
    application_name: opts.applicationName,
    connectionTimeoutMillis: conn.connectTimeout ?? opts.timeoutMs,
    statement_timeout: opts.timeoutMs,
    query_timeout: opts.timeoutMs + 500,
    keepAlive: false,
  };
}

/**
 * Connects a fresh client that an abort closes. Its `error` listener is attached before anything
 * else: without one, a server that kills the session crashes the process.
 */
export async function connectPg(config: pg.ClientConfig, signal: AbortSignal): Promise<pg.Client> {
  const client = new (Pg().Client)(config);
  client.on("error", () => {});
  const onAbort = () => destroyPg(client);
  if (signal.aborted) throw signal.reason;
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await client.connect();
  } catch (err) {
    signal.removeEventListener("abort", onAbort);
    await client.end().catch(() => {});
    throw err;
  }
  const end = client.end.bind(client);
  client.end = (async () => {
    signal.removeEventListener("abort", onAbort);
    await end().catch(() => {});
  }) as typeof client.end;
  return client;
}

/** A stable code for a failed connection or query: SQLSTATE names the common ones, else errno. */
export function pgErrorCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : undefined;
  const message = typeof e?.message === "string" ? e.message : "";
  if (code === "28P01" || code === "28000") return "EAUTH";
  if (code === "57P03" || /shutting down|starting up|in recovery mode/i.test(message)) return "ESHUTDOWN";
  if (code === "57014" || /timeout|timed out/i.test(message)) return "ETIMEDOUT";
  if (code === "53300") return "ETOOMANY";
  // The server ended the session (pg_terminate_backend, a fast shutdown, a crashed sibling) or the
  // socket closed under us: for the caller, a reset connection.
  if (code === "57P01" || code === "57P02" || /^Connection terminated/i.test(message)) return "ECONNRESET";
  return code ?? "EPG";
}

/** Closes a client at once: end() waits for the server's goodbye, which a stalled network never sends, so the socket goes first. */
export function destroyPg(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(err?: Error): void } } }).connection?.stream?.destroy(new Error("aborted"));
  void client.end().catch(() => {});
}
