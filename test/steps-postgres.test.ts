import pg from "pg";
import type { z } from "zod";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Target } from "../src/config/types.js";
import { postgresCancel, postgresTerminate } from "../src/playbooks/steps/postgres.js";
import { actSql, selectSql } from "../src/playbooks/steps/postgres-sessions.js";
import type { StepContext, StepKind } from "../src/playbooks/types.js";
import { startTcpServer, type TestServer } from "./fixtures/probes-servers.js";
import { incidentRenderer, stepContext, testTarget } from "./fixtures/steps-context.js";
import { startCluster, SUPERUSER_PASSWORD, type Cluster } from "./pg-cluster.js";

const APP_PASSWORD = "app-Pw-7731";
// Sessions must be this long in their state before the steps see them (olderThan: 2s, with margin).
const OLD_MS = 2400;

let cluster: Cluster;
const opened: pg.Client[] = [];

beforeAll(async () => {
  cluster = await startCluster({ max_connections: 30 });
  await cluster.sql(`CREATE ROLE app LOGIN PASSWORD '${APP_PASSWORD}'`);
  await cluster.sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1); GRANT ALL ON t TO app");
}, 120_000);
afterAll(async () => {
  await cluster?.destroy();
});
afterEach(async () => {
  // A busy client is destroyed at once by end(); its backend may still run, so end those too.
  await Promise.all(opened.splice(0).map((c) => c.end().catch(() => {})));
  await cluster.sql(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
  );
  await until(async () => (await others()) === 0);
});

interface Session {
  client: pg.Client;
  pid: number;
  errors: Error[];
}

/** A client session of `user` with an application_name, left idle after one query. */
async function session(app: string, user: "app" | "postgres" = "app"): Promise<Session> {
  const client = new pg.Client({
    connectionString: cluster.url(user, user === "app" ? APP_PASSWORD : SUPERUSER_PASSWORD),
    application_name: app,
    connectionTimeoutMillis: 5000,
  });
  const errors: Error[] = [];
  client.on("error", (e) => errors.push(e)); // a terminated session reports here
  await client.connect();
  opened.push(client);
  const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
  return { client, pid, errors };
}

async function others(): Promise<number> {
  const rows = await cluster.sql<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
  );
  return rows[0]!.n;
}

async function present(pid: number): Promise<boolean> {
  return (await cluster.sql("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [pid])).length === 1;
}

async function stateOf(pid: number): Promise<string | undefined> {
  return (await cluster.sql<{ state: string }>("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid]))[0]?.state;
}

async function until(cond: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await sleep(50);
  }
  return cond();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A target whose own probe is postgres (the superuser unless told otherwise). */
function dbTarget(name = "orders-db", params: Record<string, unknown> = { url: cluster.url() }): Target {
  return { ...testTarget(name), probe: { kind: "postgres", params } };
}

function ctxFor(targets: Target[] = [dbTarget()], extra: Partial<StepContext> = {}): StepContext {
  return stepContext("/", 10_000, { target: targets[0]!, targets: new Map(targets.map((t) => [t.name, t])), ...extra });
}

/** Parse and render the way a playbook run does. */
function rendered<S extends z.ZodType, R>(step: StepKind<S, R>, params: unknown, evidence = "pool exhausted"): R {
  return step.render(step.schema.parse(params) as z.output<S>, incidentRenderer(evidence));
}

async function run<S extends z.ZodType, R>(step: StepKind<S, R>, params: unknown, ctx = ctxFor(), evidence?: string) {
  return step.run(rendered(step, params, evidence), ctx);
}

describe("postgres.terminate", () => {
  it("ends idle sessions older than olderThan and nothing else", async () => {
    const old = [await session("t-idle"), await session("t-idle"), await session("t-idle")];
    const active = await session("t-active");
    active.client.query("SELECT pg_sleep(10)").catch(() => {}); // ended by afterEach
    const superuser = await session("t-su", "postgres");
    const kept = await session("keep-me");
    const otherMedic = await session("medic");
    await sleep(OLD_MS);
    const fresh = await session("t-fresh");

    const result = await run(postgresTerminate, { olderThan: "2s", excludeApplications: ["keep-me"] });

    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(/^terminated 3 sessions: /);
    for (const s of old) expect(result.detail).toMatch(new RegExp(`pid ${s.pid} app@postgres "t-idle" \\(idle \\d`));
    for (const s of old) {
      expect(await until(async () => !(await present(s.pid)))).toBe(true);
      await expect(s.client.query("SELECT 1")).rejects.toThrow();
      expect(s.errors.some((e) => (e as { code?: string }).code === "57P01")).toBe(true); // admin_shutdown
    }
    for (const s of [superuser, kept, otherMedic, fresh]) {
      expect(await present(s.pid)).toBe(true);
      expect((await s.client.query<{ one: number }>("SELECT 1 AS one")).rows[0]!.one).toBe(1);
    }
    expect(await stateOf(active.pid)).toBe("active");
  });

  it("ends at most max sessions, the oldest first", async () => {
    const s1 = await session("t-max");
    await sleep(250);
    const s2 = await session("t-max");
    await sleep(250);
    const s3 = await session("t-max");
    await sleep(OLD_MS);

    const result = await run(postgresTerminate, { olderThan: "2s", applications: ["t-max"], max: 2 });

    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(new RegExp(`^terminated 2 sessions: pid ${s1.pid} .*, pid ${s2.pid} `));
    expect(await until(async () => !(await present(s1.pid)) && !(await present(s2.pid)))).toBe(true);
    expect(await present(s3.pid)).toBe(true);
  });

  it("ends a session idle in a transaction that holds a lock, and the query it blocked completes", async () => {
    const holder = await session("t-holder");
    await holder.client.query("BEGIN");
    await holder.client.query("LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
    const blocked = await session("t-blocked");
    const read = blocked.client.query<{ id: number }>("SELECT * FROM t");
    expect(
      await until(
        async () =>
          (await cluster.sql("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'", [blocked.pid])).length === 1,
      ),
    ).toBe(true);
    await sleep(OLD_MS);

    const result = await run(postgresTerminate, { state: ["idle in transaction"], olderThan: "2s", users: ["app"] });

    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(
      new RegExp(`^terminated 1 session: pid ${holder.pid} app@postgres "t-holder" \\(idle in transaction \\d`),
    );
    expect((await read).rows).toEqual([{ id: 1 }]);
    expect(await present(blocked.pid)).toBe(true);
  });

  it("leaves superusers' sessions alone unless allowSuperuser is true", async () => {
    const su = await session("t-su2", "postgres");
    await sleep(OLD_MS);

    const guarded = await run(postgresTerminate, { olderThan: "2s", applications: ["t-su2"] });
    // It acted on nothing, and says so: the run records it as skipped, not as a plain ok.
    expect(guarded).toMatchObject({
      ok: true,
      changed: false,
      detail: "terminated 0 sessions: none idle over 2s (applications: t-su2; not superusers)",
    });
    expect(await present(su.pid)).toBe(true);

    const allowed = await run(postgresTerminate, { olderThan: "2s", applications: ["t-su2"], allowSuperuser: true });
    expect(allowed.ok).toBe(true);
    expect(allowed.detail).toMatch(new RegExp(`^terminated 1 session: pid ${su.pid} postgres@postgres`));
    expect(await until(async () => !(await present(su.pid)))).toBe(true);
  });

  it("treats hostile names in filters as data", async () => {
    const hostileApp = `x'; DROP TABLE t; --\\ "q"`;
    const hostile = await session(hostileApp);
    const plain = await session("t-plain");
    await sleep(OLD_MS);

    const byUser = await run(
      postgresTerminate,
      {
        olderThan: "2s",
        users: ["app'; DROP TABLE t; --", "app\\", 'app"', "' OR '1'='1", "{{ incident.evidence }}"],
      },
      ctxFor(),
      "app' OR 'x'='x",
    );
    expect(byUser).toMatchObject({ ok: true, changed: false });
    expect(byUser.detail).toMatch(/^terminated 0 sessions: none idle over 2s/);
    const byPrefix = await run(postgresTerminate, { olderThan: "2s", applications: ["x'; DROP TABLE t; --", "' OR '1'='1"] });
    expect(byPrefix.detail).toMatch(/^terminated 0 sessions: none idle over 2s/);
    expect(await present(hostile.pid)).toBe(true);

    // The exact name matches exactly that session: the value reached the server whole, as data.
    const exact = await run(postgresTerminate, { olderThan: "2s", applications: [hostileApp] });
    expect(exact).toMatchObject({ ok: true });
    expect(exact.changed).toBeUndefined();
    expect(exact.detail).toMatch(new RegExp(`^terminated 1 session: pid ${hostile.pid} `));
    expect(exact.detail).toContain(JSON.stringify(hostileApp));
    expect(await present(plain.pid)).toBe(true);
    expect(await cluster.sql("SELECT id FROM t")).toEqual([{ id: 1 }]);
  });
});

describe("postgres.cancel", () => {
  it("cancels a long query and keeps its session; a young query runs on", async () => {
    const long = await session("t-long");
    const longQuery = long.client.query("SELECT pg_sleep(30)");
    const longOutcome = longQuery.then(
      () => "finished",
      (e: { code?: string }) => e.code,
    );
    await sleep(OLD_MS);
    const short = await session("t-short");
    const shortQuery = short.client.query<{ done: number }>("SELECT 1 AS done FROM pg_sleep(1.5)");

    const result = await run(postgresCancel, { olderThan: "2s", users: ["app"] });

    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(new RegExp(`^cancelled 1 query: pid ${long.pid} app@postgres "t-long" \\(active \\d`));
    expect(await longOutcome).toBe("57014"); // query_canceled
    expect((await long.client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid).toBe(long.pid);
    expect((await shortQuery).rows).toEqual([{ done: 1 }]);
  });
});

describe("preview", () => {
  it("shows the exact statement, its parameters and the sessions it would hit, and touches nothing", async () => {
    const a = await session("t-prev");
    const b = await session("t-prev");
    await sleep(OLD_MS);
    const params = { olderThan: "2s", applications: ["t-prev"] };

    const lines = await postgresTerminate.preview!(rendered(postgresTerminate, params), ctxFor());

    const sqlAt = lines.indexOf("sql:");
    expect(
      lines
        .slice(sqlAt + 1, sqlAt + 1 + actSql("terminate").split("\n").length)
        .map((l) => l.slice(2))
        .join("\n"),
    ).toBe(actSql("terminate"));
    expect(lines).toContain('  $6 = ["t-prev"]  -- applications (null: any)');
    expect(lines).toContain("  $3 = 2000  -- in that state longer than, ms");
    expect(lines).toContain("  $9 = 50  -- at most");
    expect(lines.find((l) => l.startsWith("connects to "))).toMatch(
      /^connects to postgres@127\.0\.0\.1:\d+\/postgres \(orders-db's postgres probe\)$/,
    );
    expect(lines.join("\n")).not.toContain(SUPERUSER_PASSWORD);
    const would = lines.filter((l) => l.startsWith("would terminate "));
    expect(would).toHaveLength(2);
    expect(would[0]).toMatch(new RegExp(`^would terminate pid ${a.pid} app@postgres "t-prev" \\(idle \\d`));
    expect(would[1]).toMatch(new RegExp(`^would terminate pid ${b.pid} `));
    for (const s of [a, b]) {
      expect(await present(s.pid)).toBe(true);
      expect((await s.client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    }

    // What runs is what the preview showed (the SELECT and the statement share one text).
    expect(actSql("terminate")).toContain(selectSql("terminate"));
    await sleep(OLD_MS); // the SELECT 1 above made them young again
    const result = await run(postgresTerminate, params);
    expect(result.detail).toMatch(new RegExp(`^terminated 2 sessions: pid ${a.pid} .*, pid ${b.pid} `));
  });

  it("cancels nothing, and says when nothing matches", async () => {
    const long = await session("t-prev-long");
    let settled = false;
    long.client
      .query("SELECT pg_sleep(30)")
      .finally(() => {
        settled = true;
      })
      .catch(() => {});
    await sleep(OLD_MS);

    const lines = await postgresCancel.preview!(rendered(postgresCancel, { olderThan: "2s" }), ctxFor());
    expect(lines.filter((l) => l.startsWith("would cancel "))).toEqual([
      expect.stringMatching(new RegExp(`^would cancel pid ${long.pid} `)),
    ]);
    await sleep(300);
    expect(settled).toBe(false);
    expect(await stateOf(long.pid)).toBe("active");

    const none = await postgresCancel.preview!(rendered(postgresCancel, { olderThan: "1h" }), ctxFor());
    expect(none.at(-1)).toBe("no session matches right now");
  });
});

describe("connection", () => {
  it("goes through the first dependency with a postgres probe when the target has none", async () => {
    const s = await session("t-dep");
    await sleep(OLD_MS);
    const api = { ...testTarget("orders-api"), dependsOn: ["orders-cache", "orders-db"] };
    const cache = testTarget("orders-cache");
    const db = dbTarget("orders-db", {
      host: "127.0.0.1",
      port: cluster.port,
      user: "postgres",
      password: SUPERUSER_PASSWORD,
      database: "postgres",
    });

    const result = await run(postgresTerminate, { olderThan: "2s", applications: ["t-dep"] }, ctxFor([api, cache, db]));

    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(new RegExp(`^terminated 1 session: pid ${s.pid} `));
  });

  it("fails with a hint when there is no database to act on", async () => {
    const lonely = await run(postgresTerminate, {}, ctxFor([testTarget("orders-api")]));
    expect(lonely.ok).toBe(false);
    expect(lonely.detail).toMatch(/orders-api has no postgres probe and depends on none .*connection:.*dependsOn: \[your-db\]/);

    const api = { ...testTarget("orders-api"), dependsOn: ["orders-cache", "gone"] };
    const viaDeps = await run(postgresCancel, {}, ctxFor([api, testTarget("orders-cache")]));
    expect(viaDeps.ok).toBe(false);
    expect(viaDeps.detail).toMatch(/none of its dependencies \(orders-cache, gone\) has one/);

    const lines = await postgresTerminate.preview!(rendered(postgresTerminate, {}), ctxFor([testTarget("orders-api")]));
    expect(lines.at(-1)).toMatch(/orders-api has no postgres probe/);
  });

  it("reports a wrong password without printing it", async () => {
    const s = await session("t-pw");
    await sleep(OLD_MS);
    const byUrl = await run(postgresTerminate, { olderThan: "2s", connection: { url: cluster.url("postgres", "Wr0ng-Secret-pw") } });
    expect(byUrl.ok).toBe(false);
    expect(byUrl.detail).toMatch(/^terminate failed: postgres@127\.0\.0\.1:\d+\/postgres \(the step's connection\): EAUTH/);
    expect(byUrl.detail).not.toContain("Wr0ng-Secret-pw");

    const wrongProbe = dbTarget("orders-db", { host: "127.0.0.1", port: cluster.port, user: "app", password: "Other-Wr0ng-pw" });
    const byFields = await run(postgresTerminate, { olderThan: "2s" }, ctxFor([wrongProbe]));
    expect(byFields.ok).toBe(false);
    expect(byFields.detail).toMatch(/EAUTH/);
    expect(byFields.detail).not.toContain("Other-Wr0ng-pw");

    const lines = await postgresTerminate.preview!(rendered(postgresTerminate, { olderThan: "2s" }), ctxFor([wrongProbe]));
    expect(lines.at(-1)).toMatch(/^cannot look right now: .*EAUTH/);
    expect(lines.join("\n")).not.toContain("Other-Wr0ng-pw");
    expect(await present(s.pid)).toBe(true);
  });

  it("a role that may not signal a session fails with the SQL error and a hint", async () => {
    const su = await session("t-su3", "postgres");
    await sleep(OLD_MS);
    // app sees every session (pg_read_all_stats) but, not being a superuser, may not signal a superuser's.
    await cluster.sql("GRANT pg_read_all_stats TO app");
    try {
      const asApp = dbTarget("orders-db", { url: cluster.url("app", APP_PASSWORD) });
      const result = await run(postgresTerminate, { olderThan: "2s", applications: ["t-su3"], allowSuperuser: true }, ctxFor([asApp]));
      expect(result.ok).toBe(false);
      expect(result.detail).toMatch(
        /^terminate failed: app@127\.0\.0\.1:\d+\/postgres .*42501: .*superuser.*\(hint: connect as a superuser/,
      );
      expect(result.detail).not.toContain(APP_PASSWORD);
      expect(await present(su.pid)).toBe(true);
    } finally {
      await cluster.sql("REVOKE pg_read_all_stats FROM app");
    }
  });
});

describe("abort and timeout", () => {
  let silent: TestServer;
  beforeAll(async () => {
    silent = await startTcpServer(); // accepts connections and never answers: a hung server
  });
  afterAll(() => silent.close());

  it("an aborted signal fails the step quickly without throwing", async () => {
    const ac = new AbortController();
    ac.abort();
    const t0 = Date.now();
    const result = await run(postgresTerminate, {}, ctxFor([dbTarget()], { signal: ac.signal }));
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/aborted/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("an abort while connecting to a hung server ends the step", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const t0 = Date.now();
    const conn = { host: "127.0.0.1", port: silent.port, user: "x", password: "hung-pw-1" };
    const result = await run(postgresCancel, { connection: conn }, ctxFor([dbTarget()], { signal: ac.signal, timeoutMs: 20_000 }));
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/aborted after/);
    expect(Date.now() - t0).toBeLessThan(8000);
  });

  it("a hung server times out within the step's timeout", async () => {
    const conn = { host: "127.0.0.1", port: silent.port, user: "x" };
    const t0 = Date.now();
    const result = await run(postgresTerminate, { connection: conn }, ctxFor([dbTarget()], { timeoutMs: 800 }));
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/timed out after 800ms|ETIMEDOUT/);
    expect(Date.now() - t0).toBeLessThan(8000);
  });
});
