import { execFile, execFileSync } from "node:child_process";
import { chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./harness.js";

const run = promisify(execFile);

/** PostgreSQL 15 server binaries (scripts/setup.sh installs them where missing). */
export const PG_BIN = "/usr/lib/postgresql/15/bin";
/** The superuser's password in every test cluster (host connections use scram-sha-256). */
export const SUPERUSER_PASSWORD = "medic-test-pw";

/** A throwaway PostgreSQL cluster on 127.0.0.1, run as the postgres user in a temp dir. */
export interface Cluster {
  dir: string;
  dataDir: string;
  port: number;
  /** A connection URL; the superuser unless told otherwise. */
  url(user?: string, password?: string, database?: string): string;
  /** The server in the foreground, as a medic `process` service runs it. */
  serviceArgv: string[];
  start(): Promise<void>;
  /** `pg_ctl stop -m MODE`; waits until it is down. */
  stop(mode?: "smart" | "fast" | "immediate"): Promise<void>;
  /** A connected client (error listener attached); closed by destroy(). */
  client(user?: string, password?: string): Promise<pg.Client>;
  /** Runs SQL as the superuser on a short-lived connection. */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  destroy(): Promise<void>;
}

const POSTGRES_UID = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
const POSTGRES_GID = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
const asPostgres = (file: string, args: string[]) =>
  run("runuser", ["-u", "postgres", "--", join(PG_BIN, file), ...args], { timeout: 60_000 });

/** initdb + start a new cluster. `settings` become `-c name=value` server options. */
export async function startCluster(settings: Record<string, string | number> = {}): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), "medic-pg-"));
  chownSync(dir, POSTGRES_UID, POSTGRES_GID);
  const dataDir = join(dir, "data");
  const pwfile = join(dir, "pw");
  writeFileSync(pwfile, SUPERUSER_PASSWORD);
  chownSync(pwfile, POSTGRES_UID, POSTGRES_GID);
  await asPostgres("initdb", [
    "-D",
    dataDir,
    "-U",
    "postgres",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    `--pwfile=${pwfile}`,
    "-E",
    "UTF8",
    "--no-sync",
  ]);
  return clusterAt(dir, dataDir, await freePort(), settings, true);
}

/** A streaming standby of `primary`, made with pg_basebackup -R and started. */
export async function startStandby(primary: Cluster): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), "medic-pg-standby-"));
  chownSync(dir, POSTGRES_UID, POSTGRES_GID);
  const dataDir = join(dir, "data");
  await run("runuser", ["-u", "postgres", "--", join(PG_BIN, "pg_basebackup"), "-D", dataDir, "-R", "-X", "stream", "-d", primary.url()], {
    timeout: 120_000,
    env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD },
  });
  return clusterAt(dir, dataDir, await freePort(), {}, true);
}

async function clusterAt(
  dir: string,
  dataDir: string,
  port: number,
  settings: Record<string, string | number>,
  start: boolean,
): Promise<Cluster> {
  const options = [
    "-p",
    String(port),
    "-k",
    dir,
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "fsync=off",
    ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]),
  ];
  const clients: pg.Client[] = [];
  const cluster: Cluster = {
    dir,
    dataDir,
    port,
    url: (user = "postgres", password = SUPERUSER_PASSWORD, database = "postgres") =>
      `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    serviceArgv: ["runuser", "-u", "postgres", "--", join(PG_BIN, "postgres"), "-D", dataDir, ...options],
    async start() {
      await asPostgres("pg_ctl", ["-D", dataDir, "-l", join(dir, "log"), "-w", "-t", "60", "-o", options.map(quote).join(" "), "start"]);
    },
    async stop(mode = "fast") {
      await asPostgres("pg_ctl", ["-D", dataDir, "-m", mode, "-w", "-t", "60", "stop"]);
    },
    async client(user = "postgres", password = SUPERUSER_PASSWORD) {
      const c = new pg.Client({ connectionString: cluster.url(user, password), connectionTimeoutMillis: 5000 });
      c.on("error", () => {}); // a server-side kill of this session is part of the tests
      await c.connect();
      clients.push(c);
      return c;
    },
    async sql(text, values) {
      const c = new pg.Client({ connectionString: cluster.url(), connectionTimeoutMillis: 5000 });
      c.on("error", () => {});
      await c.connect();
      try {
        return (await c.query(text, values)).rows;
      } finally {
        await c.end().catch(() => {});
      }
    },
    async destroy() {
      await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
      await asPostgres("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "stop"]).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (start) await cluster.start();
  return cluster;
}

// pg_ctl -o takes one string that it splits on spaces; our values have none but may need quoting.
function quote(arg: string): string {
  return /^[\w./=:-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
