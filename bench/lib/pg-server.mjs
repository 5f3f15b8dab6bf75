import { appendFileSync, chownSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "./http.mjs";
import { run } from "./proc.mjs";

const PG_BIN = "/usr/lib/postgresql/15/bin";
const SUPERUSER_PASSWORD = "bench-superuser-pw";
/** The least-privilege role medic logs in as (README, "Run several medics"): a login that owns its database, nothing more. */
const ROLE_PASSWORD = "bench-medic-pw";

/**
 * A throwaway PostgreSQL 15 server for the cluster bench: initdb and run as the postgres user in a
 * temp dir, on a free port on 127.0.0.1, host logins by password (scram-sha-256), server settings
 * left at their defaults (fsync on) except that every statement is logged with its session's
 * database and application_name, so statements can be counted per node. Makes the role `medic` and its database.
 */
export async function startPgServer() {
  const dir = mkdtempSync(join(tmpdir(), "medic-bench-pg-"));
  const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
  const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
  chownSync(dir, uid, gid);
  const data = join(dir, "data");
  const pwfile = join(dir, "pw");
  writeFileSync(pwfile, SUPERUSER_PASSWORD);
  chownSync(pwfile, uid, gid);
  const asPostgres = (file, args) => run("runuser", ["-u", "postgres", "--", join(PG_BIN, file), ...args]);
  const init = await asPostgres("initdb", [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    `--pwfile=${pwfile}`,
    "-E",
    "UTF8",
  ]);
  if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  appendFileSync(
    join(data, "postgresql.conf"),
    [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      "log_statement = 'all'",
      "log_line_prefix = '%m|%d|%a|'",
      "max_connections = 200",
      "",
    ].join("\n"),
  );
  const logFile = join(dir, "pg.log");
  const start = await asPostgres("pg_ctl", ["-D", data, "-l", logFile, "-w", "-t", "60", "start"]);
  if (start.code !== 0) throw new Error(`pg_ctl start failed: ${start.stderr}${start.stdout}`);
  const url = (user, password, database) =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  /** Runs SQL as the superuser on a short-lived connection (in `database`, default postgres). */
  const sql = async (text, values = [], database = "postgres") => {
    const c = new pg.Client({ connectionString: url("postgres", SUPERUSER_PASSWORD, database), connectionTimeoutMillis: 5000 });
    c.on("error", () => {});
    await c.connect();
    try {
      return (await c.query(text, values)).rows;
    } finally {
      await c.end().catch(() => {});
    }
  };
  await sql(`CREATE ROLE medic LOGIN PASSWORD '${ROLE_PASSWORD}'`);
  await sql("CREATE DATABASE medic OWNER medic");
  const version = (await sql("SELECT version() AS v"))[0].v;
  return {
    dir,
    port,
    version,
    /** The URL medic's nodes use: the least-privilege role. */
    medicUrl: url("medic", ROLE_PASSWORD, "medic"),
    sql,
    /** SQL in the medic database, as the superuser. */
    medicSql: (text, values) => sql(text, values, "medic"),
    /** The server log's size now: statements logged after this offset are read with logSince. */
    logOffset: () => statSync(logFile).size,
    logSince: (from, to) => readFileSync(logFile).subarray(from, to).toString("utf8"),
    async stop() {
      await asPostgres("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
