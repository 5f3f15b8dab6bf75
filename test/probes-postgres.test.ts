import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connectPg, pgClientConfig } from "../src/lib/pg.js";
import { postgresProbe } from "../src/probes/postgres.js";
import { runProbe } from "../src/probes/run.js";
import type { Observation, PostgresFacts } from "../src/probes/types.js";
import { waitUntil } from "./harness.js";
import { startCluster, startStandby, SUPERUSER_PASSWORD, type Cluster } from "./pg-cluster.js";
import { startPgProxy, type PgProxy } from "./fixtures/pg-proxy.js";

// Real PostgreSQL 15 clusters, one per block, each torn down in afterAll.

const probe = (params: unknown, timeoutMs = 3000, baseDir = "/"): Promise<Observation> =>
  runProbe(postgresProbe.create(postgresProbe.schema.parse(params), { target: "db", timeoutMs, baseDir }), { target: "db", timeoutMs });

const factsOf = (obs: Observation): PostgresFacts => {
  expect(obs.error).toBeUndefined();
  expect(obs.ok).toBe(true);
  return obs.facts.postgres!;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("postgres probe on a healthy cluster", () => {
  let db: Cluster;
  let admin: pg.Client; // stays idle between statements, so it is one predictable idle session
  let dir: string;

  // Ends every other client session, so each test starts from `admin` alone.
  async function settle(): Promise<void> {
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
    );
    await waitUntil(
      async () =>
        (
          await admin.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
          )
        ).rows[0].n === 0,
      5000,
      "other sessions to end",
    );
  }

  beforeAll(async () => {
    db = await startCluster({ max_connections: 20 });
    admin = await db.client();
    await admin.query("CREATE ROLE monitor LOGIN PASSWORD 'monitor-pw-3f9a'; GRANT pg_monitor TO monitor");
    await admin.query("CREATE ROLE plain LOGIN PASSWORD 'plain-pw-77c1'");
    await admin.query("CREATE TABLE t (id int)");
    dir = mkdtempSync(join(tmpdir(), "medic-pg-probe-"));
    writeFileSync(join(dir, "monitor.pw"), "monitor-pw-3f9a\n");
  });
  afterEach(() => settle());
  afterAll(async () => {
    await db?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("describe() names host, port, database and user, never the password", () => {
    expect(postgresProbe.describe(postgresProbe.schema.parse({ url: db.url() }))).toBe(
      `postgres 127.0.0.1:${db.port}/postgres as postgres`,
    );
    expect(postgresProbe.describe(postgresProbe.schema.parse({ user: "medic", password: "s3cret-pw" }))).toBe(
      "postgres 127.0.0.1:5432/medic as medic",
    );
    expect(postgresProbe.describe(postgresProbe.schema.parse({ url: db.url() }))).not.toContain(SUPERUSER_PASSWORD);
  });

  it("reports version, recovery, connections, session states and ages, and pool utilization", async () => {
    const idle = await Promise.all([1, 2, 3].map(() => db.client()));
    const tx = await db.client();
    await tx.query("BEGIN");
    await tx.query("SELECT 1");
    const busy = await db.client();
    void busy.query("SELECT pg_sleep(5)").catch(() => {});
    await waitUntil(
      async () =>
        (await idle[0]!.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep(5)'"))
          .rows[0].n === 1,
      5000,
      "the sleep to start",
    );
    await sleep(20);

    const obs = await probe({ url: db.url() });
    const pg = factsOf(obs);
    expect(pg.version).toMatch(/^15\.\d+$/);
    expect(pg.inRecovery).toBe(false);
    // admin + 3 idle + 1 idle in transaction + 1 active; the probe's own session is not counted.
    expect(pg.connections).toEqual({ used: 6, max: 20, reserved: 3 });
    expect(pg.states).toEqual({ active: 1, idle: 4, idleInTransaction: 1, idleInTransactionAborted: 0 });
    expect(pg.visibility).toBe("full");
    expect(pg.oldestIdleInTransactionMs).toBeGreaterThan(0);
    expect(pg.longestQueryMs).toBeGreaterThan(0);
    expect(pg.waitingOnLock).toBe(0);
    expect(pg.selectLatencyMs).toBeGreaterThanOrEqual(0);
    expect(obs.facts.poolUtilization).toBeCloseTo(6 / 17, 6);
  });

  it("with nothing running, there is no oldest transaction and no longest query", async () => {
    const pg = factsOf(await probe({ url: db.url() }));
    expect(pg.connections.used).toBe(1);
    expect(pg.oldestIdleInTransactionMs).toBeUndefined();
    expect(pg.longestQueryMs).toBeUndefined();
  });

  it("counts a session waiting on a lock held by one idle in transaction", async () => {
    const holder = await db.client();
    await holder.query("BEGIN");
    await holder.query("LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
    const blocked = await db.client();
    void blocked.query("SELECT * FROM t").catch(() => {});

    const pg = await waitUntil(
      async () => {
        const facts = factsOf(await probe({ url: db.url() }));
        return facts.waitingOnLock >= 1 ? facts : undefined;
      },
      5000,
      "the blocked session to show",
    );
    expect(pg.waitingOnLock).toBe(1);
    expect(pg.states?.idleInTransaction).toBe(1);
    expect(pg.oldestIdleInTransactionMs).toBeGreaterThanOrEqual(0);
  });

  it("least privilege: pg_monitor sees everything; a plain role sees counts only, marked partial", async () => {
    await Promise.all([1, 2].map(() => db.client()));
    const tx = await db.client();
    await tx.query("BEGIN");
    await tx.query("SELECT 1");

    // Backends of the previous test's clients may still be on their way out: wait for exactly these four.
    const asMonitor = async () =>
      factsOf(
        await probe({ host: "127.0.0.1", port: db.port, user: "monitor", database: "postgres", passwordFile: "monitor.pw" }, 3000, dir),
      );
    const monitor = await waitUntil(
      async () => {
        const f = await asMonitor();
        return f.connections.used === 4 ? f : undefined;
      },
      10_000,
      "4 client sessions",
    );
    expect(monitor.visibility).toBe("full");
    expect(monitor.connections.used).toBe(4);
    expect(monitor.states).toEqual({ active: 0, idle: 3, idleInTransaction: 1, idleInTransactionAborted: 0 });
    expect(monitor.oldestIdleInTransactionMs).toBeGreaterThanOrEqual(0);

    // The monitor probe's own session may still be closing: wait for the count without it.
    const obs = await waitUntil(
      async () => {
        const o = await probe({ url: db.url("plain", "plain-pw-77c1") });
        return factsOf(o).connections.used === 4 ? o : undefined;
      },
      10_000,
      "4 sessions seen by the plain role",
    );
    const plain = factsOf(obs);
    expect(plain.visibility).toBe("partial");
    expect(plain.states).toBeUndefined();
    expect(plain.oldestIdleInTransactionMs).toBeUndefined();
    expect(plain.longestQueryMs).toBeUndefined();
    expect(obs.facts.poolUtilization).toBeCloseTo(4 / 17, 6);
  });

  it("every slot an application may use is taken: ETOOMANY for the role, utilization 1 for a superuser", async () => {
    // 20 slots, 3 reserved for superusers: admin + 16 leave a plain role nothing.
    await Promise.all(Array.from({ length: 16 }, () => db.client("plain", "plain-pw-77c1")));
    const refused = await probe({ url: db.url("plain", "plain-pw-77c1") });
    expect(refused.ok).toBe(false);
    expect(refused.error?.code).toBe("ETOOMANY");
    const obs = await probe({ url: db.url() });
    expect(factsOf(obs).connections.used).toBe(17);
    expect(obs.facts.poolUtilization).toBe(1);
  });

  it("wrong password: EAUTH naming where and who, the password nowhere", async () => {
    const wrong = "wrong-pw-8d1f";
    for (const params of [{ url: db.url("postgres", wrong) }, { port: db.port, user: "postgres", database: "postgres", password: wrong }]) {
      const obs = await probe(params);
      expect(obs.ok).toBe(false);
      expect(obs.error?.code).toBe("EAUTH");
      expect(obs.error?.message).toContain(`postgres 127.0.0.1:${db.port}/postgres as postgres:`);
      expect(obs.error?.message).not.toContain("\n");
      expect(JSON.stringify(obs)).not.toContain(wrong);
    }
  });

  it("a missing password file is an error naming the file, not a throw", async () => {
    const obs = await probe({ port: db.port, user: "monitor", passwordFile: "nope.pw" }, 3000, dir);
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("PG_PASSWORD_FILE");
    expect(obs.error?.message).toContain(join(dir, "nope.pw"));
  });

  it("a client the server kills while idle does not crash the process; the next probe is healthy", async () => {
    const config = await pgClientConfig({ url: db.url() }, { baseDir: "/", timeoutMs: 3000, applicationName: "medic-test" });
    const client = await connectPg(config, new AbortController().signal);
    const errors: Error[] = [];
    client.on("error", (err) => errors.push(err));
    const ended = new Promise((resolve) => client.once("end", resolve));
    const { pid } = (await client.query("SELECT pg_backend_pid() AS pid")).rows[0];
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
    await ended;
    // Without connectPg's listener this 'error' event would have been an uncaught exception.
    expect(errors.length).toBeGreaterThan(0);
    await expect(client.query("SELECT 1")).rejects.toThrow();
    await client.end();
    expect(factsOf(await probe({ url: db.url() })).version).toMatch(/^15\./);
  });
});

describe("postgres probe across restarts and shutdowns", () => {
  let db: Cluster;
  beforeAll(async () => {
    db = await startCluster();
  });
  afterAll(() => db?.destroy());

  it("database stopped: ECONNREFUSED naming host:port", async () => {
    factsOf(await probe({ url: db.url() }));
    await db.stop("fast");
    try {
      const obs = await probe({ url: db.url() });
      expect(obs.ok).toBe(false);
      expect(obs.error?.code).toBe("ECONNREFUSED");
      expect(obs.error?.message).toContain(`127.0.0.1:${db.port}`);
      expect(obs.facts).toEqual({});
    } finally {
      await db.start();
    }
  });

  it("no stale connection: the very first probe after a restart is healthy", async () => {
    const config = await pgClientConfig({ url: db.url() }, { baseDir: "/", timeoutMs: 3000, applicationName: "medic-test" });
    const kept = await connectPg(config, new AbortController().signal);
    factsOf(await probe({ url: db.url() }));
    await db.stop("fast");
    await db.start();
    // What a probe holding its connection would have hit:
    await expect(kept.query("SELECT 1")).rejects.toThrow();
    await kept.end();
    expect(factsOf(await probe({ url: db.url() })).inRecovery).toBe(false);
  });

  it("server shutting down (smart stop with a session open): ESHUTDOWN", async () => {
    const holder = await db.client();
    const stopping = db.stop("smart");
    try {
      const obs = await waitUntil(
        async () => {
          const o = await probe({ url: db.url() });
          return o.error?.code === "ESHUTDOWN" ? o : undefined;
        },
        10_000,
        "the server to refuse new sessions as shutting down",
      );
      expect(obs.ok).toBe(false);
      expect(obs.error?.message).toMatch(/shutting down/);
    } finally {
      await holder.end();
      await stopping;
    }
    expect((await probe({ url: db.url() })).error?.code).toBe("ECONNREFUSED");
  });
});

describe("postgres probe through a bad network", () => {
  const timeoutMs = 1000;
  const boundMs = timeoutMs + 1500;
  let db: Cluster;
  let admin: pg.Client;
  let proxy: PgProxy;
  const viaProxy = () => ({ url: `postgres://postgres:${SUPERUSER_PASSWORD}@127.0.0.1:${proxy.port}/postgres` });
  const timed = async (run: Promise<Observation>) => {
    const start = Date.now();
    const obs = await run;
    return { obs, elapsedMs: Date.now() - start };
  };

  beforeAll(async () => {
    db = await startCluster();
    admin = await db.client();
    proxy = await startPgProxy(db.port);
  });
  afterEach(() => proxy.heal());
  afterAll(async () => {
    await proxy?.close();
    await db?.destroy();
  });

  it("healthy through the proxy", async () => {
    expect(factsOf(await probe(viaProxy(), timeoutMs)).version).toMatch(/^15\./);
  });

  it("stalled network: ETIMEDOUT within the bound, and no connection left behind", async () => {
    proxy.stall();
    const { obs, elapsedMs } = await timed(probe(viaProxy(), timeoutMs));
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ETIMEDOUT");
    expect(obs.error?.message).toContain(`127.0.0.1:${proxy.port}/postgres`);
    expect(elapsedMs).toBeLessThan(boundMs);
    proxy.heal();
    await waitUntil(() => proxy.connections() === 0, 5000, "the probe's connection to close");
    factsOf(await probe(viaProxy(), timeoutMs));
  });

  it("stalled mid-handshake and mid-query: each probe still ends with ETIMEDOUT", async () => {
    for (const messageType of ["p", "Q"]) {
      proxy.stallOn(messageType);
      const { obs, elapsedMs } = await timed(probe(viaProxy(), timeoutMs));
      expect(proxy.stalled()).toBe(true);
      expect(obs.error?.code).toBe("ETIMEDOUT");
      expect(elapsedMs).toBeLessThan(boundMs);
      proxy.heal();
      await waitUntil(() => proxy.connections() === 0, 5000, `the probe's connection to close (stalled on ${messageType})`);
    }
    factsOf(await probe(viaProxy(), timeoutMs));
  });

  it("dropped network: an error code, no throw; healed: healthy again", async () => {
    proxy.drop();
    const { obs, elapsedMs } = await timed(probe(viaProxy(), timeoutMs));
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toMatch(/^E[A-Z]+$/);
    expect(elapsedMs).toBeLessThan(boundMs);
    proxy.heal();
    factsOf(await probe(viaProxy(), timeoutMs));
  });

  it("the probe's own session killed by the server mid-query: ECONNRESET, no crash, next probe healthy", async () => {
    proxy.stallOn("Q");
    const pending = probe(viaProxy(), 5000);
    await waitUntil(() => proxy.stalled(), 5000, "the probe's query to be held");
    const killed = await admin.query(
      "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = 'medic-probe'",
    );
    expect(killed.rows).toEqual([{ done: true }]);
    await sleep(100);
    proxy.heal();
    const obs = await pending;
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ECONNRESET");
    factsOf(await probe(viaProxy(), timeoutMs));
  });
});

describe("postgres probe on a primary and its standby", () => {
  let primary: Cluster;
  let standby: Cluster;
  beforeAll(async () => {
    primary = await startCluster();
    standby = await startStandby(primary);
  }, 60_000);
  afterAll(async () => {
    await standby?.destroy();
    await primary?.destroy();
  });

  it("the standby says inRecovery; replication connections are not client sessions", async () => {
    const replica = factsOf(await probe({ url: standby.url() }));
    expect(replica.inRecovery).toBe(true);
    const main = factsOf(await probe({ url: primary.url() }));
    expect(main.inRecovery).toBe(false);
    // The standby's walsender on the primary is not a client backend.
    expect((await primary.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'walsender'"))[0]?.n).toBe(1);
    expect(main.connections.used).toBe(0);
  });

  it("primary stopped: ECONNREFUSED there, the standby still answers in recovery", async () => {
    await primary.stop("fast");
    expect((await probe({ url: primary.url() })).error?.code).toBe("ECONNREFUSED");
    expect(factsOf(await probe({ url: standby.url() })).inRecovery).toBe(true);
  });
});
