import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { JournalRecord } from "../src/incidents/types.js";
import { readPidFile } from "../src/lib/proc.js";
import {
  cleanup,
  freePort,
  journal,
  killOnCleanup,
  medic,
  onCleanup,
  ROOT,
  SHIPPED_PLAYBOOKS,
  startMedic,
  tempDir,
  waitUntil,
} from "./harness.js";
import { startCluster, type Cluster } from "./pg-cluster.js";

afterEach(cleanup);

/** A cluster destroyed at cleanup, with a plain `app` role and a table to lock. */
async function cluster(settings: Record<string, string | number> = {}): Promise<Cluster> {
  const c = await startCluster(settings);
  onCleanup(() => c.destroy());
  await c.sql("CREATE ROLE app LOGIN PASSWORD 'app-pw'; CREATE TABLE orders (id int); GRANT ALL ON orders TO app");
  return c;
}

/** A playbook folder: shipped playbooks, some copied with their waits shortened for a test's time scale. */
function playbooks(dir: string, edits: Record<string, [string, string][]> = {}): string {
  const out = join(dir, "playbooks");
  mkdirSync(out);
  for (const name of [
    "database-down.yaml",
    "db-disconnect.yaml",
    "pool-exhaustion.yaml",
    "long-transaction.yaml",
    "promote-standby.yaml",
  ]) {
    let text = readFileSync(join(SHIPPED_PLAYBOOKS, name), "utf8");
    for (const [from, to] of edits[name] ?? []) text = text.replaceAll(from, to);
    writeFileSync(join(out, name), text);
  }
  return out;
}

function dbTarget(c: Cluster, extra = ""): string {
  return `  - name: db
    labels: { role: database }
    probe: { postgres: { url: "\${DB_URL}" } }
    service:
      process:
        start: ${JSON.stringify(c.serviceArgv)}
        pidFile: db.pid
        logFile: db.log
${extra}`;
}

function config(
  dir: string,
  pbDir: string,
  targets: string,
  defaults = "interval: 300ms, timeout: 2s, failureThreshold: 2, successThreshold: 2",
): string {
  const file = join(dir, "medic.yaml");
  writeFileSync(file, `stateDir: ./state\nplaybooks: [${JSON.stringify(pbDir)}]\ndefaults: { ${defaults} }\ntargets:\n${targets}`);
  return file;
}

/** An incident's own lifecycle records (notification records interleave; the escalation tests check them). */
const ofIncident = (records: JournalRecord[], id: string) =>
  records.filter((r) => r.incident === id && !r.type.startsWith("notification_"));
const started = (p: { stdout: () => string }) => waitUntil(() => p.stdout().includes("medic started"), 10_000, "medic to start");

describe("PostgreSQL scenarios, medic as a child process against a real cluster", () => {
  it("1. database shutdown: db_disconnect P1, the playbook starts it, verified, resolved", async () => {
    const dir = tempDir();
    const c = await cluster();
    killOnCleanup(join(dir, "db.pid"));
    const file = config(dir, playbooks(dir), dbTarget(c));
    const daemon = startMedic(["run", "--config", file], { DB_URL: c.url() });
    await started(daemon);
    await new Promise((r) => setTimeout(r, 1000));

    const stoppedAt = Date.now();
    await c.stop("fast");
    const state = join(dir, "state");
    const resolved = await waitUntil(() => journal(state).find((r) => r.type === "resolved"), 60_000, "recovery");
    const records = ofIncident(journal(state), resolved.incident);
    expect(records.map((r) => r.type)).toEqual(["opened", "playbook_started", "step_started", "step_finished", "verifying", "resolved"]);
    expect(records[0]).toMatchObject({
      kind: "db_disconnect",
      severity: "P1",
      evidence: expect.stringMatching(/connection refused|shutting down/),
    });
    expect(records[1]).toMatchObject({ playbook: "start-database" });
    expect(records[3]).toMatchObject({ outcome: "ok", detail: expect.stringMatching(/started pid \d+/) });
    expect(await c.sql("select 1 as one")).toEqual([{ one: 1 }]);
    const detected = records[0]!.at - stoppedAt;
    console.log(`scenario 1: pg_ctl stop -m fast -> detected in ${detected} ms, verified recovered in ${resolved.at - stoppedAt} ms`);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);

  it("2. connections killed under an application: medic restarts the application, not the database", async () => {
    const dir = tempDir();
    const c = await cluster();
    const port = await freePort();
    const app = join(ROOT, "test/fixtures/pg-app.mjs");
    const appPid = join(dir, "app.pid");
    killOnCleanup(appPid);
    const file = config(
      dir,
      playbooks(dir),
      `${dbTarget(c)}  - name: orders-app
    dependsOn: [db]
    probe: { http: { url: "http://127.0.0.1:${port}/health" } }
    service:
      process:
        start: [${JSON.stringify(process.execPath)}, ${JSON.stringify(app)}, "${port}", ${JSON.stringify(c.url("app", "app-pw"))}]
        pidFile: app.pid
`,
    );
    const plan = await medic(["plan", "--config", file, "--target", "orders-app", "--incident", "db_disconnect"], { DB_URL: c.url() });
    expect(plan.stdout).toContain("playbook restart-app-on-db-disconnect");
    const first = await startApp(appPid, port, [process.execPath, app, String(port), c.url("app", "app-pw")]);
    const before = await c.sql<{ t: Date }>("select pg_postmaster_start_time() as t");

    const daemon = startMedic(["run", "--config", file], { DB_URL: c.url() });
    await started(daemon);
    await new Promise((r) => setTimeout(r, 1000));
    await c.sql("select pg_terminate_backend(pid) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()");

    const state = join(dir, "state");
    const resolved = await waitUntil(() => journal(state).find((r) => r.type === "resolved"), 40_000, "the application to recover");
    const records = ofIncident(journal(state), resolved.incident);
    expect(records[0]).toMatchObject({
      target: "orders-app",
      kind: "db_disconnect",
      evidence: expect.stringContaining("db answers: the application lost its connection"),
    });
    expect(records[1]).toMatchObject({ playbook: "restart-app-on-db-disconnect" });
    expect(await readPidFile(appPid)).not.toBe(first);
    expect(await c.sql<{ t: Date }>("select pg_postmaster_start_time() as t")).toEqual(before);
    expect(journal(state).filter((r) => r.type === "opened" && r.target === "db")).toEqual([]);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);

  it("3. pool exhaustion: postgres.terminate frees idle sessions; active and superuser sessions untouched; plan shows SQL and sessions first", async () => {
    const dir = tempDir();
    const c = await cluster({ max_connections: 20 });
    const idle = await Promise.all(Array.from({ length: 15 }, () => c.client("app", "app-pw")));
    const busy = await c.client("app", "app-pw");
    const busyQuery = busy.query("select pg_sleep(60)").catch((e: Error) => e);
    const admin = await c.client();
    await new Promise((r) => setTimeout(r, 1500));
    const pb = playbooks(dir, { "pool-exhaustion.yaml": [["olderThan: 5m", "olderThan: 1s"]] });
    const file = config(dir, pb, dbTarget(c));

    const plan = await medic(["plan", "--config", file, "--target", "db", "--incident", "pool_exhaustion"], { DB_URL: c.url() });
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain("pg_terminate_backend");
    expect(plan.stdout.match(/would terminate pid \d+/g)?.length).toBe(15);
    expect(plan.stdout).toMatch(
      /1\. snapshot pg_stat_activity: .*\n +would capture pg_stat_activity, lock waits and the longest transactions of /,
    );
    const count = async () => (await c.sql<{ n: string }>("select count(*) as n from pg_stat_activity where usename = 'app'"))[0]!.n;
    expect(await count()).toBe("16");

    const daemon = startMedic(["run", "--config", file], { DB_URL: c.url() });
    const state = join(dir, "state");
    const resolved = await waitUntil(() => journal(state).find((r) => r.type === "resolved"), 40_000, "the pool incident to resolve");
    const records = ofIncident(journal(state), resolved.incident);
    expect(records[0]).toMatchObject({ kind: "pool_exhaustion", evidence: expect.stringMatching(/pool \d+% in use/) });
    const [snapshot, terminate] = records.filter((r) => r.type === "step_finished");
    expect(terminate).toMatchObject({ outcome: "ok", detail: expect.stringMatching(/^terminated 15 sessions/) });
    // The snapshot ran first, so it saw the sessions the terminate then ended, and the busy query.
    expect(snapshot).toMatchObject({ index: 0, outcome: "ok", detail: expect.stringMatching(/^snapshot of /) });
    const kept = (snapshot as { artifacts: { name: string; path: string }[] }).artifacts;
    expect(kept.map((a) => a.name)).toEqual(["pg-activity-1.txt", "pg-activity-2.json"]);
    const text = readFileSync(join(state, kept[0]!.path), "utf8");
    // 15 idle app sessions and the idle superuser one: the terminate ended the 15 only after this was taken.
    expect(text).toMatch(/\nstate: idle 16, active 1\n/);
    expect(text).toMatch(/\npid \d+ app@postgres [^\n]*: active [^\n]*\n +query: select pg_sleep\(60\)\n/);
    expect(await count()).toBe("1");
    expect((await admin.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
    expect(await Promise.race([busyQuery, new Promise((r) => setTimeout(() => r("still running"), 100))])).toBe("still running");
    expect(idle.length).toBe(15);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);

  it("4. stale connections: after a database restart the next rounds are healthy, no incident", async () => {
    const dir = tempDir();
    const c = await cluster();
    const file = config(dir, playbooks(dir), dbTarget(c), "interval: 200ms, timeout: 2s, failureThreshold: 20, successThreshold: 2");
    const daemon = startMedic(["run", "--config", file], { DB_URL: c.url(), MEDIC_LOG_LEVEL: "debug" });
    await started(daemon);
    await new Promise((r) => setTimeout(r, 800));
    await c.stop("fast");
    await c.start();
    const backAt = Date.now();
    await new Promise((r) => setTimeout(r, 2500));
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    const rounds = daemon
      .stdout()
      .split("\n")
      .filter((l) => l.includes('"probe round"'))
      .map((l) => JSON.parse(l) as { time: number; ok: boolean });
    const after = rounds.filter((r) => r.time > backAt + 250);
    expect(after.length).toBeGreaterThan(5);
    expect(after.every((r) => r.ok)).toBe(true);
    expect(journal(join(dir, "state")).filter((r) => r.type === "opened")).toEqual([]);
  }, 60_000);

  it("5. a long idle-in-transaction session holding a lock is terminated and the blocked session proceeds", async () => {
    const dir = tempDir();
    const c = await cluster();
    const holder = await c.client("app", "app-pw");
    await holder.query("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE");
    const blocked = await c.client("app", "app-pw");
    const blockedQuery = blocked.query("select count(*) as n from orders");
    // The shipped playbook as shipped: it follows the target's idleInTransaction threshold.
    const file = config(dir, playbooks(dir), dbTarget(c, "    thresholds: { idleInTransaction: 2s, queryDuration: 1h }\n"));
    const daemon = startMedic(["run", "--config", file], { DB_URL: c.url() });

    const state = join(dir, "state");
    const resolved = await waitUntil(() => journal(state).find((r) => r.type === "resolved"), 40_000, "the long transaction to be ended");
    const records = ofIncident(journal(state), resolved.incident);
    expect(records[0]).toMatchObject({
      kind: "long_transaction",
      evidence: expect.stringMatching(/idle in transaction for .*1 waiting on locks/),
    });
    expect(records.find((r) => r.type === "step_finished")).toMatchObject({
      outcome: "ok",
      detail: expect.stringMatching(/^terminated 1 session/),
    });
    expect((await blockedQuery).rows).toEqual([{ n: "0" }]);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);

  it("6. a long transaction the playbook may not end (a superuser's): the step says it ended none, and the incident escalates at once", async () => {
    const dir = tempDir();
    const c = await cluster();
    const holder = await c.client(); // the superuser: postgres.terminate never touches its sessions
    await holder.query("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE");
    const file = config(dir, playbooks(dir), dbTarget(c, "    thresholds: { idleInTransaction: 2s, queryDuration: 1h }\n"));
    const daemon = startMedic(["run", "--config", file], { DB_URL: c.url() });

    const state = join(dir, "state");
    const escalated = await waitUntil(() => journal(state).find((r) => r.type === "escalated"), 40_000, "the escalation");
    const records = ofIncident(journal(state), escalated.incident);
    expect(records.find((r) => r.type === "step_finished")).toMatchObject({
      outcome: "skipped",
      detail: "terminated 0 sessions: none idle in transaction or idle in transaction (aborted) over 2s (not superusers)",
    });
    // Nothing changed and the target still failed: no wait for the 30 s verification deadline.
    expect(records.some((r) => r.type === "verifying")).toBe(false);
    expect(escalated).toMatchObject({
      reason: expect.stringMatching(
        /^no step changed anything \(step 1 \(terminate sessions idle in transaction past the target's threshold\): terminated 0 sessions: .*\) and db is still long_transaction \(.*\): nothing to wait for$/,
      ),
    });
    // And then a human ends the transaction: the escalated incident resolves by itself.
    await holder.query("COMMIT");
    await waitUntil(
      () => journal(state).find((r) => r.type === "resolved" && r.incident === escalated.incident),
      20_000,
      "the incident to resolve",
    );
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);
});

describe("pool exhaustion reported by an application", () => {
  it("frees idle database sessions, then, only while the app still reports its pool saturated, resizes it up to its ceiling", async () => {
    const dir = tempDir();
    const c = await cluster({ max_connections: 50 });
    const idle = await Promise.all(Array.from({ length: 5 }, () => c.client("app", "app-pw")));
    await new Promise((r) => setTimeout(r, 1200));
    let utilization = 0.95;
    const resizes: unknown[] = [];
    const { createServer } = await import("node:http");
    const app = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        if (req.method === "POST" && req.url === "/admin/pool/resize") {
          resizes.push(JSON.parse(body));
          utilization = 0.3;
          res.writeHead(200).end("{}");
          return;
        }
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ status: "healthy", database_status: "connected", connection_pool: { pool_utilization: utilization } }));
      });
    });
    const port = await new Promise<number>((ok) => app.listen(0, "127.0.0.1", () => ok((app.address() as { port: number }).port)));
    onCleanup(() => new Promise<void>((ok) => app.close(() => ok())));

    const out = join(dir, "playbooks");
    mkdirSync(out);
    const shipped = readFileSync(join(SHIPPED_PLAYBOOKS, "pool-exhaustion-resize.yaml"), "utf8");
    writeFileSync(join(out, "resize.yaml"), shipped.replaceAll("olderThan: 5m", "olderThan: 1s"));
    const file = config(
      dir,
      out,
      `${dbTarget(c)}  - name: orders-app
    labels: { pool_resize: enabled, pool_admin_url: "http://127.0.0.1:${port}", pool_max_size: "40" }
    dependsOn: [db]
    probe: { http: { url: "http://127.0.0.1:${port}/health" } }
`,
    );
    const daemon = startMedic(["run", "--config", file], { DB_URL: c.url() });
    const state = join(dir, "state");
    const resolved = await waitUntil(() => journal(state).find((r) => r.type === "resolved"), 40_000, "the pool incident to resolve");
    const records = ofIncident(journal(state), resolved.incident);
    expect(records[0]).toMatchObject({ target: "orders-app", kind: "pool_exhaustion" });
    const finished = records.filter((r) => r.type === "step_finished");
    expect(finished.map((r) => r.type === "step_finished" && r.outcome)).toEqual(["ok", "ok"]);
    expect(finished[0]).toMatchObject({ detail: expect.stringMatching(/^terminated 5 sessions/) });
    expect(resizes).toEqual([{ max_size: 40 }]);
    expect(idle).toHaveLength(5);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);
});

async function startApp(pidFile: string, port: number, argv: string[]): Promise<number> {
  const { spawn } = await import("node:child_process");
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: "ignore" });
  child.unref();
  writeFileSync(pidFile, `${child.pid}\n`);
  await waitUntil(
    () =>
      fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.ok,
        () => false,
      ),
    10_000,
    "the app to answer",
  );
  return child.pid!;
}
