import { Writable } from "node:stream";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Notification } from "../src/escalation/types.js";
import type { IncidentEvent } from "../src/incidents/types.js";
import { MedicError } from "../src/lib/errors.js";
import { createLogger } from "../src/lib/log.js";
import { redactor } from "../src/lib/redact.js";
import { MemoryStore } from "../src/store/memory.js";
import { migrate, SCHEMA_VERSION } from "../src/store/postgres/migrations.js";
import { PgStore, type PgStoreOptions } from "../src/store/postgres/pg-store.js";
import { createPool } from "../src/store/postgres/pool.js";
import type { HistoryQuery, IncidentStore } from "../src/store/types.js";
import { waitUntil } from "./harness.js";
import { startCluster, SUPERUSER_PASSWORD, type Cluster } from "./pg-cluster.js";

// The PostgreSQL store against a real PostgreSQL 15 (one cluster for the file). Each test uses
// its own medic cluster name: clusters share the tables, and test 6 proves they do not mix.

const HOUR = 3600_000;
const T0 = 1_700_000_000_000;
const logLines: string[] = [];
const log = createLogger({
  pretty: false,
  level: "debug",
  destination: new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) }),
});

const opened = (target: string, extra: Partial<Extract<IncidentEvent, { type: "opened" }>> = {}): IncidentEvent => ({
  type: "opened",
  target,
  kind: "server_down",
  severity: "P1",
  evidence: "connection refused",
  ...extra,
});
const started = (runId: string): IncidentEvent => ({
  type: "playbook_started",
  runId,
  playbook: "restart",
  steps: [{ name: "restart", kind: "process", description: "restart process [web]" }],
});
const stepDone: (runId: string) => IncidentEvent = (runId) => ({
  type: "step_finished",
  runId,
  index: 0,
  outcome: "ok",
  detail: "restarted",
  durationMs: 12,
});
const resolved: IncidentEvent = { type: "resolved", reason: "healthy again" };
const page = (incident: string): Notification => ({
  id: `${incident}-n1`,
  channel: "pagerduty",
  event: "trigger",
  incident,
  target: "web",
  kind: "server_down",
  severity: "P1",
  state: "resolved",
  reason: "reminder",
  evidence: "connection refused",
  openedAt: T0 - 3 * HOUR,
  at: T0 + 5,
  attempts: 0,
  steps: [],
});

let db: Cluster;
let pool: pg.Pool;

async function lead(cluster: string, epoch: number): Promise<void> {
  await db.sql("INSERT INTO medic_leader (cluster, node, epoch) VALUES ($1, 'n1', $2) ON CONFLICT (cluster) DO UPDATE SET epoch = $2", [
    cluster,
    epoch,
  ]);
}
const open = (cluster: string, extra: Partial<PgStoreOptions> = {}) =>
  PgStore.open({ pool, cluster, node: "n1", recentMs: HOUR, log, clock: { now: () => T0 }, ...extra });
const stored = async (cluster: string) =>
  (
    await db.sql<{ seq: string; record: { type: string } }>("SELECT seq, record FROM medic_records WHERE cluster = $1 ORDER BY seq", [
      cluster,
    ])
  ).map((r) => [Number(r.seq), r.record.type]);
async function allPages(store: IncidentStore, q: Omit<HistoryQuery, "limit">, limit = 2): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < 50; n++) {
    const page = await store.history({ ...q, limit, ...(cursor !== undefined && { cursor }) });
    expect(page.incidents.length).toBeLessThanOrEqual(limit);
    ids.push(...page.incidents.map((i) => i.id));
    if (!page.next) return ids;
    cursor = page.next;
  }
  throw new Error("history never ended");
}

beforeAll(async () => {
  db = await startCluster();
  pool = createPool({ url: db.url(), statementTimeoutMs: 5000, applicationName: "medic-store-test", log });
  await migrate(pool, log);
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await db?.destroy();
});

describe("PostgreSQL store", () => {
  it("migrates once: again is a no-op, two nodes at once both succeed, a newer schema is refused", async () => {
    await migrate(pool, log);
    const every = Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 }));
    expect(await db.sql("SELECT version FROM medic_schema ORDER BY version")).toEqual(every);
    // Every session of the pool is bounded on the server: statements, and a transaction left idle.
    const [limits] = (
      await pool.query<{ s: string; i: string }>(
        "SELECT current_setting('statement_timeout') AS s, current_setting('idle_in_transaction_session_timeout') AS i",
      )
    ).rows;
    expect(limits).toEqual({ s: "5s", i: "10s" });

    // A fresh database, two pools migrating it at the same moment: without the lock, the second
    // CREATE TABLE fails ("already exists") or its medic_schema insert hits the key.
    await db.sql("CREATE DATABASE m2");
    const pools = [1, 2].map(() =>
      createPool({ url: db.url("postgres", SUPERUSER_PASSWORD, "m2"), statementTimeoutMs: 5000, applicationName: "m", log }),
    );
    try {
      await Promise.all(pools.map((p) => migrate(p, log)));
      expect((await pools[0]!.query("SELECT version FROM medic_schema ORDER BY version")).rows).toEqual(every);
      expect((await pools[0]!.query("SELECT count(*)::int AS n FROM medic_records")).rows).toEqual([{ n: 0 }]);

      await pools[0]!.query("INSERT INTO medic_schema (version, name) VALUES ($1, 'from the future')", [SCHEMA_VERSION + 1]);
      const err = await migrate(pools[1]!, log).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MedicError);
      expect((err as MedicError).code).toBe("STORE_SCHEMA_NEWER");
      expect((err as MedicError).message).toContain(`version ${SCHEMA_VERSION + 1}`);
      expect((err as MedicError).message).toContain(`version ${SCHEMA_VERSION})`);
      expect((err as MedicError).hint).toMatch(/upgrade medic/);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it("a leader's records reach a second store's live view, find and history (the same pages as the memory store)", async () => {
    await lead("t2", 3);
    const leader = await open("t2", { epoch: 3 });
    const memory = new MemoryStore();
    const both = (id: string, e: IncidentEvent, at: number) => {
      expect(leader.append(id, e, at, { epoch: 3 })).toMatchObject({ ok: true });
      memory.append(id, e, at);
    };
    both("old-0001", opened("web"), T0 - 3 * HOUR);
    both("old-0001", resolved, T0 - 2.5 * HOUR);
    both("abcd1111", opened("web"), T0);
    both("abcd1111", started("r1"), T0 + 1);
    both("abcd1111", stepDone("r1"), T0 + 2);
    both("abcd2222", opened("db"), T0 + 3);
    both("abce3333", opened("cache", { root: "abcd2222" }), T0 + 4);
    both("abcd1111", resolved, T0 + 5);
    both("same-at-1", opened("web"), T0 + 6);
    both("same-at-2", opened("db"), T0 + 6);
    await leader.flushed();
    expect(leader.problem()).toBeUndefined();
    expect(leader.seq()).toBe(10);
    expect((await stored("t2")).map(([seq]) => seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    const second = await open("t2");
    expect(second.seq()).toBe(10);
    // The old resolved one is past the window: not live, but found and listed from the database.
    expect([...second.live().keys()].sort()).toEqual(["abcd1111", "abcd2222", "abce3333", "same-at-1", "same-at-2"]);
    for (const [id, incident] of second.live()) expect(incident).toEqual(leader.live().get(id));
    expect(second.live().get("abcd1111")?.runs[0]?.steps[0]?.status).toBe("ok");
    expect((await second.find("old-0001")).found?.state).toBe("resolved");
    expect((await second.find("old-")).found?.id).toBe("old-0001");
    expect(await second.find("abcd")).toEqual({ found: undefined, ambiguous: 2 });
    expect((await second.find("abce")).found?.root).toBe("abcd2222");
    expect(await second.find("abc")).toEqual({ found: undefined });
    expect(await second.find("nope-0000")).toEqual({ found: undefined });

    const queries: Omit<HistoryQuery, "limit">[] = [
      {},
      { target: "web" },
      { state: "unresolved" },
      { state: "resolved" },
      { root: "abcd2222" },
      { since: T0 - 2 * HOUR },
      { until: T0 + 3 },
    ];
    for (const q of queries) {
      const want = await allPages(memory, q, 100);
      expect(await allPages(second, q), JSON.stringify(q)).toEqual(want);
      expect(await allPages(leader, q), JSON.stringify(q)).toEqual(want);
    }
    expect(await allPages(second, {})).toEqual(["same-at-2", "same-at-1", "abce3333", "abcd2222", "abcd1111", "old-0001"]);
    await expect(second.history({ limit: 2, cursor: "garbage" })).rejects.toMatchObject({ code: "BAD_CURSOR" });
    await leader.close();
    await second.close();
  });

  it("fencing: once the epoch moves on, the database refuses the old leader's writes", async () => {
    await lead("t3", 1);
    const onRefused = vi.fn();
    const store = await open("t3", { epoch: 1, onRefused });
    store.append("f-0001", opened("web"), T0, { epoch: 1 });
    await store.flushed();
    await db.sql("UPDATE medic_leader SET epoch = 2 WHERE cluster = 't3'");
    // Locally nothing has changed: the append is taken, and only the database refuses it.
    expect(store.append("f-0001", started("r1"), T0 + 1, { epoch: 1 })).toMatchObject({ ok: true });
    await store.flushed();
    expect(await stored("t3")).toEqual([[1, "opened"]]);
    expect(store.refusal()).toMatch(/epoch is 2.*epoch 1/);
    expect(store.problem()).toContain(store.refusal());
    const later = store.append("f-0001", resolved, T0 + 2, { epoch: 1 });
    expect(later).toEqual({ ok: false, reason: "conflict", detail: store.refusal() });
    await store.flushed();
    expect(onRefused).toHaveBeenCalledTimes(1);
    expect(onRefused).toHaveBeenCalledWith(store.refusal());
    await store.close();
  });

  it("fencing race: a write that waits on an epoch bump in flight is refused once the bump commits", async () => {
    await lead("t3b", 1);
    const store = await open("t3b", { epoch: 1 });
    const admin = await db.client();
    const waitingOnLock = () =>
      db
        .sql<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE application_name = 'medic-store-test' AND wait_event_type = 'Lock' AND query LIKE '%FOR SHARE%'`,
        )
        .then((r) => r[0]!.n > 0);
    // Appends while a bump of the epoch is in flight; resolves once the writer waits on the leader
    // row, or (a writer that does not wait for it) once it is done: the caller's assertions tell.
    const appendDuringBump = async (event: IncidentEvent, at: number) => {
      await admin.query("BEGIN");
      await admin.query("UPDATE medic_leader SET epoch = 2 WHERE cluster = 't3b'");
      expect(store.append("r-0001", event, at, { epoch: 1 })).toMatchObject({ ok: true });
      let settled = false;
      const flushed = store.flushed().then(() => (settled = true));
      await waitUntil(async () => settled || (await waitingOnLock()), 10_000, "the writer waiting on the leader row, or done");
      return { flushed, settledEarly: settled };
    };

    // A bump that rolls back: the write waited for the row, then went through.
    const first = await appendDuringBump(opened("web"), T0);
    await admin.query("ROLLBACK");
    await first.flushed;
    expect(await stored("t3b")).toEqual([[1, "opened"]]);
    expect(first.settledEarly).toBe(false);
    expect(store.refusal()).toBeUndefined();

    // The same, committed: the waiting transaction re-reads the row, sees epoch 2, and writes nothing.
    const second = await appendDuringBump(started("r1"), T0 + 1);
    expect(store.refusal()).toBeUndefined(); // nothing local decided it: the writer is inside the database
    await admin.query("COMMIT");
    await second.flushed;
    expect(await stored("t3b")).toEqual([[1, "opened"]]);
    expect(second.settledEarly).toBe(false);
    expect(store.refusal()).toMatch(/epoch is 2/);
    await store.close();
  });

  it("a follower's refresh folds what the leader wrote, including new incidents and late records of old ones", async () => {
    await lead("t4", 1);
    const leader = await open("t4", { epoch: 1 });
    leader.append("old-4444", opened("web"), T0 - 3 * HOUR, { epoch: 1 });
    leader.append("old-4444", resolved, T0 - 2.5 * HOUR, { epoch: 1 });
    leader.append("a-000001", opened("web"), T0, { epoch: 1 });
    await leader.flushed();
    expect(leader.live().has("old-4444")).toBe(false); // written, past the window: it left memory

    const follower = await open("t4");
    expect([...follower.live().keys()]).toEqual(["a-000001"]);
    expect(follower.append("x-000001", opened("web"), T0)).toMatchObject({ ok: false, reason: "conflict", detail: /not the leader/ });

    leader.append("a-000001", started("r1"), T0 + 1, { epoch: 1 });
    leader.append("b-000001", opened("db"), T0 + 2, { epoch: 1 });
    leader.append("a-000001", resolved, T0 + 3, { epoch: 1 });
    // An incident not in the leader's memory: its record is folded onto the stored fold.
    leader.append("old-4444", { type: "acknowledged", by: "alice" }, T0 + 4, { epoch: 1 });
    await leader.flushed();
    expect(leader.problem()).toBeUndefined();

    expect(await follower.refresh()).toBe(4);
    expect(follower.seq()).toBe(leader.seq());
    expect(follower.live().get("a-000001")).toEqual(leader.live().get("a-000001"));
    expect(follower.live().get("a-000001")?.state).toBe("resolved");
    expect(follower.live().get("b-000001")).toEqual(leader.live().get("b-000001"));
    const old = (await follower.find("old-4444")).found!;
    expect(old.acknowledged).toMatchObject({ by: "alice", at: T0 + 4 });
    expect(old.timeline.map((r) => r.seq)).toEqual([1, 2, 7]);
    expect(await follower.refresh()).toBe(0);

    // A notification queued for it: owed, so it comes back into the follower's live view, from its
    // stored fold (which already holds the record: folded once, not twice).
    leader.append("old-4444", { type: "notification_queued", notification: page("old-4444") }, T0 + 5, { epoch: 1 });
    await leader.flushed();
    expect(await follower.refresh()).toBe(1);
    const back = follower.live().get("old-4444")!;
    expect(back.timeline.map((r) => r.seq)).toEqual([1, 2, 7, 8]);
    expect(back.notifications.map((n) => n.status)).toEqual(["queued"]);
    await follower.close();
    await leader.close();
  });

  it("while PostgreSQL is down, records wait in memory (problem() says so) and are all written once it is back", async () => {
    await lead("t5", 1);
    const store = await open("t5", { epoch: 1 });
    store.append("d-000001", opened("web"), T0, { epoch: 1 });
    await store.flushed();
    await db.stop("fast");
    try {
      store.append("d-000001", started("r1"), T0 + 1, { epoch: 1 });
      store.append("d-000001", stepDone("r1"), T0 + 2, { epoch: 1 });
      store.append("d-000001", resolved, T0 + 3, { epoch: 1 });
      await store.flushed(); // resolves: the records are held, not lost, and nobody hangs on them
      expect(store.problem()).toMatch(/^3 journal records waiting in memory for PostgreSQL: /);
      expect(store.refusal()).toBeUndefined();
    } finally {
      await db.start();
    }
    await waitUntil(() => store.problem() === undefined, 20_000, "the held records written");
    await store.flushed();
    expect(await stored("t5")).toEqual([
      [1, "opened"],
      [2, "playbook_started"],
      [3, "step_finished"],
      [4, "resolved"],
    ]);
    const [row] = await db.sql<{ state: string; last_seq: string }>("SELECT state, last_seq FROM medic_incidents WHERE cluster = 't5'");
    expect(row).toEqual({ state: "resolved", last_seq: "4" });
    expect(logLines.join("")).toContain("cannot write to the PostgreSQL store");
    expect(logLines.join("")).not.toContain(SUPERUSER_PASSWORD);
    await store.close();
  });

  it("two clusters in one database do not see each other's records", async () => {
    await lead("a", 1);
    await lead("b", 7);
    const a = await open("a", { epoch: 1 });
    const b = await open("b", { epoch: 7 });
    a.append("same-0001", opened("web-a"), T0, { epoch: 1 });
    b.append("same-0001", opened("web-b"), T0, { epoch: 7 });
    b.append("only-b-01", opened("db-b"), T0 + 1, { epoch: 7 });
    await Promise.all([a.flushed(), b.flushed()]);
    expect([a.problem(), b.problem()]).toEqual([undefined, undefined]);

    const readA = await open("a");
    expect(readA.seq()).toBe(1);
    expect([...readA.live().values()].map((i) => i.target)).toEqual(["web-a"]);
    expect((await readA.find("same-0001")).found?.target).toBe("web-a");
    expect(await readA.find("only-b-01")).toEqual({ found: undefined });
    expect((await readA.history({ limit: 10 })).incidents.map((i) => i.target)).toEqual(["web-a"]);
    expect(await stored("a")).toEqual([[1, "opened"]]);
    expect(await stored("b")).toEqual([
      [1, "opened"],
      [2, "opened"],
    ]);
    // b's epoch does not fence a: each cluster has its own leader row.
    expect(a.refusal()).toBeUndefined();
    await Promise.all([a.close(), b.close(), readA.close()]);
  });

  it("stores records and folds redacted; a NUL in evidence does not wedge the queue", async () => {
    const secret = "s3cr3t-token-value-9f2";
    redactor.add([secret]);
    await lead("t7", 1);
    const store = await open("t7", { epoch: 1 });
    store.append("s-000001", opened("web", { evidence: `401 for Authorization: Bearer ${secret}` }), T0, { epoch: 1 });
    store.append("s-000001", { type: "observed", evidence: "bad\u0000byte", occurrences: 2 }, T0 + 1, { epoch: 1 });
    await store.flushed();
    expect(store.problem()).toBeUndefined();
    const [row] = await db.sql<{ record: string; fold: string }>(
      "SELECT string_agg(record::text, ' ') AS record, (SELECT fold::text FROM medic_incidents WHERE cluster = 't7') AS fold FROM medic_records WHERE cluster = 't7'",
    );
    for (const text of [row!.record, row!.fold]) {
      expect(text).not.toContain(secret);
      expect(text).toContain("Bearer [secret]");
    }
    expect((await store.find("s-000001")).found?.occurrences).toBe(2);
    await store.close();
  });
});
