import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Target } from "../src/config/types.js";
import { Redactor } from "../src/lib/redact.js";
import { postgresSnapshot } from "../src/playbooks/steps/postgres-snapshot.js";
import type { Snapshot } from "../src/playbooks/steps/postgres-snapshot-report.js";
import { stepKinds } from "../src/playbooks/steps/registry.js";
import { dirSink, type DirSink } from "./fixtures/artifact-dir.js";
import { startTcpServer } from "./fixtures/probes-servers.js";
import { stepContext, testTarget } from "./fixtures/steps-context.js";
import { cleanup, tempDir } from "./harness.js";
import { startCluster, type Cluster } from "./pg-cluster.js";

// postgres.snapshot against a PostgreSQL cluster the test starts: real sessions, real lock waits.

const WATCHER_PASSWORD = "watcher-Pw-5512";
const APP_PASSWORD = "app-Pw-9043";
const CONFIGURED_SECRET = "cfg-secret-8812";

let cluster: Cluster;
const opened: pg.Client[] = [];

beforeAll(async () => {
  cluster = await startCluster({ max_connections: 30 });
  await cluster.sql(`CREATE ROLE watcher LOGIN PASSWORD '${WATCHER_PASSWORD}'; GRANT pg_monitor TO watcher`);
  await cluster.sql(`CREATE ROLE app LOGIN PASSWORD '${APP_PASSWORD}'`);
  await cluster.sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1); GRANT ALL ON t TO app");
}, 120_000);
afterAll(async () => {
  await cluster?.destroy();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.end().catch(() => {})));
  await cluster.sql(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
  );
  await cleanup();
});

/** A connected superuser session named `app`; its pid. */
async function session(app: string): Promise<{ client: pg.Client; pid: number }> {
  const client = new pg.Client({ connectionString: cluster.url(), application_name: app, connectionTimeoutMillis: 5000 });
  client.on("error", () => {}); // the afterEach terminates it
  await client.connect();
  opened.push(client);
  return { client, pid: (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid };
}

/** A target whose postgres probe connects as `user`: the role the snapshot reads through. */
function dbTarget(user: "watcher" | "app"): Target {
  const password = user === "watcher" ? WATCHER_PASSWORD : APP_PASSWORD;
  return { ...testTarget("orders-db", {}), probe: { kind: "postgres", params: { url: cluster.url(user, password) } } };
}

function newSink(): DirSink {
  const redactor = new Redactor();
  redactor.add([CONFIGURED_SECRET]);
  return dirSink(tempDir("medic-snapshot-"), 1024 * 1024, redactor);
}

async function snapshot(target: Target, params: unknown = null, given: DirSink | null = newSink(), timeoutMs = 10_000) {
  const sink = given ?? undefined;
  const rendered = postgresSnapshot.render(postgresSnapshot.schema.parse(params), undefined as never);
  const result = await postgresSnapshot.run(rendered, stepContext("/", timeoutMs, { target, ...(sink && { artifacts: sink }) }));
  const text = sink?.saved[0] ? sink.read(sink.saved[0]).toString("utf8") : "";
  const json = sink?.saved[1] ? (JSON.parse(sink.read(sink.saved[1]).toString("utf8")) as Snapshot) : undefined;
  return { result, text, json, sink };
}

/** Session `waiter` blocked behind `holder`, which is idle in a transaction holding the row lock. */
async function lockWait(): Promise<{ holder: number; waiter: number }> {
  const holder = await session("holder-app");
  await holder.client.query("BEGIN");
  await holder.client.query("UPDATE t SET id = 2");
  const waiter = await session("waiter-app");
  void waiter.client.query("UPDATE t SET id = 3").catch(() => {}); // blocks until the holder ends
  await until(async () => (await cluster.sql("SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted", [waiter.pid])).length > 0);
  return { holder: holder.pid, waiter: waiter.pid };
}

async function until(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("postgres.snapshot", () => {
  it("shows a blocked session as a lock wait with its blocker, and the longest transaction first", async () => {
    const long = await session("long-report");
    await long.client.query("BEGIN");
    await long.client.query("SELECT count(*) FROM t");
    const { holder, waiter } = await lockWait();
    const { result, text, json } = await snapshot(dbTarget("watcher"));
    expect(result.ok).toBe(true);
    expect(result.artifacts!.map((a) => a.name)).toEqual(["pg-activity-1.txt", "pg-activity-2.json"]);
    expect(result.detail).toMatch(
      /^snapshot of watcher@127\.0\.0\.1:\d+\/postgres: \d+ client sessions \(.*2 idle in transaction.*\), 1 lock wait, longest transaction \d/,
    );

    expect(json!.server.seesAll).toBe(true);
    expect(json!.lockWaits).toHaveLength(1);
    expect(json!.lockWaits[0]).toMatchObject({ pid: waiter, blocked_by: [holder], state: "active", wait_event_type: "Lock" });
    expect(json!.blockers).toEqual([expect.objectContaining({ pid: holder, state: "idle in transaction", query: "UPDATE t SET id = 2" })]);
    expect(json!.sessions[0]!.pid).toBe(long.pid);
    expect(json!.sessions.map((s) => s.pid)).toEqual(expect.arrayContaining([holder, waiter]));
    expect(json!.counts.application).toEqual(
      expect.arrayContaining([
        { name: "holder-app", n: 1 },
        { name: "waiter-app", n: 1 },
      ]),
    );

    expect(text).toMatch(
      new RegExp(
        `pid ${waiter} postgres@postgres "waiter-app" from 127\\.0\\.0\\.1: active .*, waits on Lock/transactionid, blocked by pid ${holder}\\n`,
      ),
    );
    expect(text).toMatch(
      new RegExp(
        `\\n  blocker pid ${holder} postgres@postgres "holder-app" .*: idle in transaction .*\\n      query: UPDATE t SET id = 2\\n`,
      ),
    );
    expect(text).toMatch(new RegExp(`== longest transactions \\(3\\) ==\\n1\\. pid ${long.pid} postgres@postgres "long-report"`));
    expect(text).toContain("visibility: full (role watcher sees every session's state and query)");
  });

  it("a role without pg_monitor gets a partial view, says so, and still lists the lock wait", async () => {
    const { holder, waiter } = await lockWait();
    const { result, text, json } = await snapshot(dbTarget("app"));
    expect(result.ok).toBe(true);
    expect(result.detail).toContain("; partial view: role app lacks pg_monitor;");
    expect(json!.server.seesAll).toBe(false);
    expect(json!.hidden).toBeGreaterThanOrEqual(2);
    expect(json!.lockWaits.map((w) => [w.pid, w.blocked_by])).toEqual([[waiter, [holder]]]);
    expect(text).toContain("visibility: PARTIAL: role app lacks pg_monitor (pg_read_all_stats)");
    expect(text).toContain("(hint: GRANT pg_monitor TO app)");
    expect(text).toMatch(new RegExp(`pid ${holder} .*: <insufficient privilege>\\n`));
    expect(text).toContain("== longest transactions (0) ==\nnone that the role can see (see visibility above)\n");
  });

  it("redacts configured secrets and password literals in query texts, and caps each text", async () => {
    const s = await session("secretive");
    await s.client.query("BEGIN");
    await s.client.query(`ALTER ROLE app PASSWORD 'new-pw-6620' /* ${CONFIGURED_SECRET} */`);
    const long = await session("chatty");
    await long.client.query("BEGIN");
    await long.client.query(`SELECT 1 AS "${"x".repeat(300)}"`);
    const { text, json, sink } = await snapshot(dbTarget("watcher"), { queryChars: 120 });
    const kept = sink!.saved.map((a) => sink!.read(a).toString("utf8")).join("\n");
    expect(kept).not.toContain("new-pw-6620");
    expect(kept).not.toContain(CONFIGURED_SECRET);
    expect(text).toContain("query: ALTER ROLE app PASSWORD '[secret]' /* [secret] */");
    const chatty = json!.sessions.find((x) => x.application_name === "chatty")!;
    expect(chatty.query).toHaveLength(120);
    expect(chatty.query_chars).toBe(314);
    expect(text).toMatch(/query: SELECT 1 AS "x+ … \(314 chars\)/);
  });

  it("a database that never answers fails within the timeout, keeping nothing", async () => {
    const silent = await startTcpServer();
    try {
      const target = {
        ...testTarget("orders-db", {}),
        probe: { kind: "postgres", params: { host: "127.0.0.1", port: silent.port, user: "x", password: "hung-pw-77" } },
      };
      const { result, sink } = await snapshot(target, null, newSink(), 600);
      expect(result.ok).toBe(false);
      expect(result.detail).toBe(`snapshot failed: x@127.0.0.1:${silent.port}/x (orders-db's postgres probe): timed out after 600ms`);
      expect(result.durationMs).toBeLessThan(5000);
      expect(sink!.saved).toEqual([]);
    } finally {
      await silent.close();
    }
  });

  it("a refused connection fails with its code and no password", async () => {
    const target = dbTarget("watcher");
    const url = new URL(cluster.url("watcher", WATCHER_PASSWORD));
    url.port = "1";
    const { result } = await snapshot({ ...target, probe: { kind: "postgres", params: { url: url.href } } });
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/ECONNREFUSED/);
    expect(result.detail).not.toContain(WATCHER_PASSWORD);
  });

  it("with no artifact store for the run, fails without connecting", async () => {
    let connections = 0;
    const counting = await startTcpServer(() => connections++);
    try {
      const target = { ...testTarget("orders-db", {}), probe: { kind: "postgres", params: { host: "127.0.0.1", port: counting.port } } };
      const { result } = await snapshot(target, null, null);
      expect(result.ok).toBe(false);
      expect(result.detail).toBe(
        `nowhere to keep evidence here (no artifact store for this run); nothing was captured (would snapshot 127.0.0.1:${counting.port}/)`,
      );
      expect(connections).toBe(0);
    } finally {
      await counting.close();
    }
  });

  it("is registered, runs anywhere, and says in a plan what it would capture", async () => {
    expect(stepKinds.get("postgres.snapshot")).toBe(postgresSnapshot);
    expect(postgresSnapshot).toMatchObject({ capture: true, idempotent: true, needsService: false });
    expect(postgresSnapshot.local).toBeUndefined();
    expect(postgresSnapshot.schema.parse(null)).toEqual({ queryChars: 1000, maxSessions: 200 });
    expect(postgresSnapshot.schema.safeParse({ queryChars: -1 }).success).toBe(false);
    const rendered = postgresSnapshot.schema.parse(null);
    expect(postgresSnapshot.describe(rendered)).toBe("capture pg_stat_activity, lock waits and the longest transactions");
    const lines = await postgresSnapshot.preview!(rendered, stepContext("/", 1000, { target: dbTarget("watcher") }));
    expect(lines).toEqual([
      `would capture pg_stat_activity, lock waits and the longest transactions of watcher@127.0.0.1:${cluster.port}/postgres (orders-db's postgres probe)`,
    ]);
    expect(lines.join("\n")).not.toContain(WATCHER_PASSWORD);
  });
});
