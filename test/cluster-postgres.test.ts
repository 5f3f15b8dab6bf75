import { afterEach, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { pino } from "pino";
import { Leadership, type Role } from "../src/cluster/leadership.js";
import { readClusterStatus } from "../src/cluster/status.js";
import { PgStore } from "../src/store/postgres/pg-store.js";
import { createPool } from "../src/store/postgres/pool.js";
import { startPgProxy, type PgProxy } from "./fixtures/pg-proxy.js";
import type { Cluster } from "./pg-cluster.js";
import { migratedDbPerFile } from "./fixtures/store-db.js";
import { waitUntil } from "./harness.js";

// Leader election on a real PostgreSQL, in-process: several Leadership loops, each on its own
// session, some through a proxy that can stall or drop the network between a node and the database.

const log = pino({ level: "silent" });
const fixture = migratedDbPerFile(log);
const undo: (() => Promise<void> | void)[] = [];

let db: Cluster;
let pool: pg.Pool;
beforeAll(() => {
  db = fixture.db();
  pool = fixture.pool();
});
afterEach(async () => {
  for (const fn of undo.splice(0).reverse()) await fn();
});

let clusters = 0;
/** A fresh cluster name per test: tests share the database, never a leader row. */
const newCluster = () => `c${++clusters}`;

/** A node of `cluster`, connecting directly or through `proxy`; its changes of mode are kept in order. */
function node(cluster: string, name: string, opts: { ttlMs?: number; proxy?: PgProxy } = {}) {
  const changes: Role[] = [];
  const url = opts.proxy ? db.url().replace(`:${db.port}/`, `:${opts.proxy.port}/`) : db.url();
  const leadership = new Leadership({
    cluster,
    node: name,
    ttlMs: opts.ttlMs ?? 10_000,
    log,
    connect: async () => {
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000, query_timeout: 1_000, statement_timeout: 1_000 });
      c.on("error", () => {});
      await c.connect();
      return c;
    },
    onChange: (role) => changes.push(role),
  });
  leadership.start();
  undo.push(() => leadership.stop());
  return { name, leadership, changes, url };
}

const leaders = (nodes: ReturnType<typeof node>[]) => nodes.filter((n) => n.leadership.current().mode === "leader");
const epochOf = (n: ReturnType<typeof node>) => {
  const r = n.leadership.current();
  return r.mode === "leader" ? r.epoch : undefined;
};

describe("leader election on PostgreSQL", () => {
  it("one of three nodes leads; when its session ends another takes over at the next epoch, and the log says so", async () => {
    const cluster = newCluster();
    const nodes = ["a", "b", "c"].map((n) => node(cluster, n));
    await waitUntil(() => leaders(nodes).length === 1, 10_000, "a leader");
    const first = leaders(nodes)[0]!;
    const epoch = epochOf(first)!;
    expect(first.leadership.standing(epoch)).toBeUndefined();

    // What a kill -9 looks like from the database: the leader's session goes away, and its lock with it.
    await pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [
      first.leadership.applicationName,
    ]);
    await waitUntil(() => leaders(nodes).some((n) => n !== first), 10_000, "another leader");
    const second = leaders(nodes).find((n) => n !== first)!;
    expect(epochOf(second)).toBe(epoch + 1);
    // The old leader learned its session ended: it stands down at once, before any lease runs out.
    expect(first.leadership.standing(epoch)).toMatch(/this node is/);
    expect(first.changes.some((r) => r.mode === "connecting")).toBe(true);
    await waitUntil(() => first.leadership.current().mode === "follower", 10_000, "the old leader to follow");
    expect(leaders(nodes)).toEqual([second]);

    const status = await readClusterStatus(pool, cluster);
    expect(status.leader).toMatchObject({ node: second.name, epoch: epoch + 1 });
    expect(status.leader!.leaseLeftMs).toBeGreaterThan(0);
    expect(status.changes.map((c) => [c.epoch, c.node, c.event])).toEqual([
      [epoch + 1, second.name, "elected"],
      [epoch, first.name, "elected"],
    ]);
    expect(status.changes[0]!.detail).toBe(`took over from ${first.name} (epoch ${epoch})`);
  }, 30_000);

  it("a leader whose network stalls is replaced once its lease ends on the database's clock, and its writes are refused", async () => {
    const cluster = newCluster();
    const proxy = await startPgProxy(db.port);
    undo.push(() => proxy.close());
    const a = node(cluster, "a", { ttlMs: 2_000, proxy });
    await waitUntil(() => a.leadership.current().mode === "leader", 10_000, "a to lead");
    const b = node(cluster, "b", { ttlMs: 2_000 });
    const epoch = epochOf(a)!;
    const storePool = createPool({ url: a.url, statementTimeoutMs: 1_000, applicationName: "a store", log });
    undo.push(() => storePool.end());
    const store = await PgStore.open({ pool: storePool, cluster, node: "a", recentMs: 3_600_000, log, epoch });
    const at = Date.now();
    expect(
      store.append("i-1", { type: "opened", target: "api", kind: "server_down", severity: "P2", evidence: "down" }, at, { epoch }).ok,
    ).toBe(true);
    await store.flushed();
    expect(store.problem()).toBeUndefined();

    proxy.stall();
    // On its own clock, the stalled leader stops counting on its lease before the database gives it away.
    await waitUntil(() => a.leadership.standing(epoch) !== undefined, 10_000, "a's lease to run out on its clock");
    expect(b.leadership.current().mode).not.toBe("leader");
    await waitUntil(() => b.leadership.current().mode === "leader", 15_000, "b to take over");
    expect(epochOf(b)).toBe(epoch + 1);
    expect(b.leadership.stats().fenced).toBe(1);
    // a gave up the lead by itself when its lease ran out, its network still stalled: what it had in
    // flight was cut off then, before b could act (not when a renewal that hangs finally failed).
    expect(a.leadership.current().mode).not.toBe("leader");
    expect(a.changes.some((r) => r.mode === "connecting" && /ran out before it could be renewed/.test(r.why ?? ""))).toBe(true);

    // The network comes back: what a wrote at its old epoch is refused by the database, not applied.
    proxy.heal();
    const refused: string[] = [];
    const late = await PgStore.open({
      pool: storePool,
      cluster,
      node: "a",
      recentMs: 3_600_000,
      log,
      epoch,
      onRefused: (d) => refused.push(d),
    });
    expect(late.append("i-1", { type: "note", message: "a stale leader's record" }, Date.now(), { epoch }).ok).toBe(true);
    await late.flushed();
    expect(refused).toHaveLength(1);
    expect(late.refusal()).toMatch(/epoch/);
    const notes = await pool.query("SELECT count(*)::int AS n FROM medic_records WHERE cluster = $1 AND record->>'type' = 'note'", [
      cluster,
    ]);
    expect(notes.rows[0].n).toBe(0);
    await waitUntil(() => a.leadership.current().mode === "follower", 15_000, "a to rejoin as a follower");
    expect(leaders([a, b])).toEqual([b]);
    await store.close();
    await late.close();
  }, 60_000);

  it("a node that cannot reach the database never leads, and says why", async () => {
    const cluster = newCluster();
    const proxy = await startPgProxy(db.port);
    undo.push(() => proxy.close());
    proxy.drop();
    const a = node(cluster, "a", { proxy });
    await waitUntil(() => a.changes.length > 0 || a.leadership.current().mode === "connecting", 5_000, "a to try");
    await new Promise((r) => setTimeout(r, 1_500));
    expect(a.leadership.current().mode).toBe("connecting");
    expect(a.leadership.standing(1)).toMatch(/connecting/);
    proxy.heal();
    await waitUntil(() => a.leadership.current().mode === "leader", 15_000, "a to lead once it can reach the database");
  }, 30_000);
});
