import { createRequire } from "node:module";
import type pg from "pg";
import type { Logger } from "../../lib/log.js";
import { pgErrorCode } from "../../lib/pg.js";

// Loaded on first use, like lib/pg.ts: a medic on the file store never pays for pg.
const require = createRequire(import.meta.url);
let pgModule: typeof pg | undefined;
const Pg = (): typeof pg => (pgModule ??= require("pg") as typeof pg);

// node-postgres pool: https://node-postgres.com/apis/pool

/** How the store's pool reaches PostgreSQL. `url` holds a password: it is never logged. */
export interface StorePoolOptions {
  url: string;
  /** The bound on every statement, on connecting, and on a transaction left idle. */
  statementTimeoutMs: number;
  applicationName: string;
  log: Logger;
  /** Connections at most (default 4: one writer, reads beside it). */
  max?: number;
}

/**
 * The store's connection pool. Nothing on it can wait forever: connecting, each statement (on the
 * server and on the client), and a transaction whose client stalled (the server ends it, which
 * releases the row locks a fenced leader could otherwise hold). The pool and every client get an
 * error listener: without one, a server that ends a session crashes the process.
 */
export function createPool(opts: StorePoolOptions): pg.Pool {
  const pool = new (Pg().Pool)({ ...clientConfig(opts), max: opts.max ?? 4, idleTimeoutMillis: 30_000 });
  // Static messages: the error's text may name the server, never the URL (it holds the password).
  pool.on("error", (err) => opts.log.warn({ code: pgErrorCode(err) }, "an idle connection to the PostgreSQL store failed"));
  pool.on("connect", (client) =>
    client.on("error", (err) => opts.log.warn({ code: pgErrorCode(err) }, "a connection to the PostgreSQL store failed")),
  );
  return pool;
}

/**
 * A client of its own, outside the pool, with the pool's bounds and an error listener: a session
 * that lives as long as something it holds (a leader's advisory lock). Not connected yet.
 */
export function storeClient(opts: StorePoolOptions): pg.Client {
  const client = new (Pg().Client)(clientConfig(opts));
  client.on("error", (err) => opts.log.warn({ code: pgErrorCode(err) }, "a session with the PostgreSQL store failed"));
  return client;
}

function clientConfig(opts: StorePoolOptions): pg.ClientConfig {
  const ms = Math.max(1, Math.round(opts.statementTimeoutMs));
  return {
    connectionString: opts.url,
    application_name: opts.applicationName,
    connectionTimeoutMillis: ms,
    statement_timeout: ms,
    query_timeout: ms + 500,
    options: `-c idle_in_transaction_session_timeout=${ms * 2}`,
    keepAlive: true,
  };
}
