import { chownSync, mkdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "../lib/http.mjs";
import { actionScript, startedByTool } from "../lib/recovery.mjs";
import { run } from "../lib/proc.mjs";

const PG_BIN = "/usr/lib/postgresql/15/bin";

/** A PostgreSQL 15 cluster stopped with `pg_ctl stop -m immediate` (a crash, recovery on start). */
export const postgresSubject = {
  name: "postgres",
  async create(dir) {
    const port = await freePort();
    const data = join(dir, "data");
    const sock = join(dir, "sock");
    mkdirSync(sock);
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
    chownSync(dir, uid, gid);
    chownSync(sock, uid, gid);
    const init = await run("runuser", ["-u", "postgres", "--", `${PG_BIN}/initdb`, "-D", data, "-A", "trust", "-U", "postgres"]);
    if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr}`);
    const opts = `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1`;
    const pgctl = (...a) => run("runuser", ["-u", "postgres", "--", `${PG_BIN}/pg_ctl`, "-D", data, ...a]);
    const actionsFile = join(dir, "actions.log");
    const start = actionScript(
      dir,
      "start",
      actionsFile,
      `exec runuser -u postgres -- ${PG_BIN}/pg_ctl -D ${data} -l ${join(dir, "pg.log")} -w -o "${opts}" start`,
    );
    const stop = actionScript(dir, "stop", actionsFile, `exec runuser -u postgres -- ${PG_BIN}/pg_ctl -D ${data} -m fast -w stop`);
    const seen = new Map(); // what select 1 failed with since the break, and how often
    return {
      name: "postgres",
      actionsFile,
      warmupMs: 6000,
      unhealthyWhy: () => [...seen].map(([why, n]) => `${n}× ${why}`).join("; "),
      medicTarget: `  - name: db
    labels: { role: database }
    probe: { postgres: { url: "postgres://postgres@127.0.0.1:${port}/postgres" } }
    service:
      process:
        start: [setpriv, --reuid=postgres, --regid=postgres, --init-groups, ${PG_BIN}/postgres, -D, ${JSON.stringify(data)}, -p, "${port}", -k, ${JSON.stringify(sock)}, -c, listen_addresses=127.0.0.1]
        pidFile: ${JSON.stringify(join(dir, "medic-pg.pid"))}
        logFile: ${JSON.stringify(join(dir, "pg.log"))}
        stopTimeout: 5s
`,
      monitCheck: `check process pg with pidfile ${join(data, "postmaster.pid")}
  start program = "${start}" with timeout 5 seconds
  stop program = "${stop}"
  if failed host 127.0.0.1 port ${port} protocol pgsql with timeout 1 seconds then restart
`,
      async up() {
        const r = await pgctl("-l", join(dir, "pg.log"), "-w", "-o", opts, "start");
        if (r.code !== 0) throw new Error(`pg_ctl start failed: ${r.stderr}`);
      },
      async healthy() {
        const why = await Promise.race([select1(port), new Promise((r) => setTimeout(() => r("no answer within 1 s"), 1000))]);
        if (why !== "") seen.set(why, (seen.get(why) ?? 0) + 1);
        return why === "";
      },
      // Timed from just before pg_ctl: the server dies before pg_ctl notices and returns, and medic may see it first.
      // -W: pg_ctl waits until postmaster.pid names no live process, and a tool that started the next postmaster
      // within that wait (medic, from its child's exit) makes it wait its full 60 s for a server it never stopped.
      async break() {
        seen.clear();
        await pgctl("-m", "immediate", "-W", "stop");
      },
      async down() {
        await pgctl("-m", "immediate", "stop");
      },
    };
  },
};

/** "" when the server answers `select 1`, else why not (bounded: a server in recovery may hold a connection). */
async function select1(port) {
  const c = new pg.Client({
    host: "127.0.0.1",
    port,
    user: "postgres",
    database: "postgres",
    connectionTimeoutMillis: 300,
    query_timeout: 500,
  });
  try {
    await c.connect();
    await c.query("select 1");
    return "";
  } catch (err) {
    return err.code ? `${err.code} ${err.message}` : err.message;
  } finally {
    await c.end().catch(() => {});
  }
}

/** The same cluster, its postmaster started by the tool: for medic its `process` service's child (a watched process). */
export const postgresChildSubject = startedByTool(postgresSubject, "postgres-child");
