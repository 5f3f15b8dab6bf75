import { beforeAll, describe, expect, it } from "vitest";
import type pg from "pg";
import { pino } from "pino";
import { carryStep, type CarryDeps } from "../src/cluster/carry.js";
import { HostSteps } from "../src/cluster/host-steps.js";
import { claimTasks, finishTask } from "../src/cluster/tasks.js";
import type { Config } from "../src/config/types.js";
import type { Daemon } from "../src/daemon/app.js";
import type { StepResult } from "../src/services/types.js";
import type { StepTask } from "../src/daemon/ports.js";
import { migratedDbPerFile } from "./fixtures/store-db.js";

// The hand-over of a host step between the leader and the target's node, on a real PostgreSQL:
// the leader's wait (carryStep) against a node played by the same SQL the node runs (claimTasks,
// finishTask), with heartbeats and leases written as the cluster writes them.

const log = pino({ level: "silent" });
const fixture = migratedDbPerFile(log);

let pool: pg.Pool;
beforeAll(() => {
  pool = fixture.pool();
});

let clusters = 0;
/** A fresh cluster led by n1 at `epoch` on a live lease, with node n3 that beat `silentS` seconds ago (none: never joined). */
async function cluster(opts: { epoch?: number; silentS?: number } = {}) {
  const name = `t${++clusters}`;
  const epoch = opts.epoch ?? 3;
  await pool.query("INSERT INTO medic_leader (cluster, node, epoch, lease_until) VALUES ($1, 'n1', $2, now() + interval '30 s')", [
    name,
    epoch,
  ]);
  if (opts.silentS !== undefined)
    await pool.query(
      `INSERT INTO medic_nodes (cluster, node, started_at, heartbeat_at, version) VALUES ($1, 'n3', now(), now() - $2 * interval '1 s', 'test')`,
      [name, opts.silentS],
    );
  const deps: CarryDeps = { pool, cluster: name, epoch, log, silentMs: 8_000 };
  const beat = () => pool.query("UPDATE medic_nodes SET heartbeat_at = now() WHERE cluster = $1 AND node = 'n3'", [name]);
  const state = async () =>
    (await pool.query<{ state: string }>("SELECT state FROM medic_tasks WHERE cluster = $1", [name])).rows.map((r) => r.state);
  return { name, deps, beat, state };
}

const task = (over: Partial<StepTask> = {}): StepTask => ({
  runId: "inc1-1",
  incident: { id: "inc1", kind: "server_down", severity: "P1", target: "api", evidence: "connection refused" },
  playbook: "recover",
  index: 1,
  description: "restart process (pid file /run/api.pid)",
  timeoutMs: 1_000,
  ...over,
});

/** Plays the node: claims what is waiting for n3 and reports `outcome` once it has, `after` ms later. */
async function node(name: string, outcome: { outcome: string; detail: string }, after = 0) {
  for (;;) {
    const [claimed] = await claimTasks(pool, name, "n3");
    if (claimed) {
      await new Promise((r) => setTimeout(r, after));
      await finishTask(pool, name, claimed.id, { ...outcome, durationMs: 123 });
      return claimed;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("a host step handed from the leader to the target's node", () => {
  it("is claimed once by its node, planned as the leader rendered it, and its outcome is the leader's step result", async () => {
    const c = await cluster({ silentS: 0 });
    const carried = carryStep(c.deps, "n3", task(), new AbortController().signal);
    const claimed = await node(c.name, { outcome: "ok", detail: "started pid 42" }, 100);
    expect(claimed).toMatchObject({ epoch: 3, ...task() });
    expect(await carried).toEqual({ ok: true, detail: "on node n3: started pid 42", durationMs: 123 });
    // Once the leader has its result, the row has done its job.
    expect(await c.state()).toEqual([]);
  });

  it("a step the node ran and found nothing to do is skipped; one that failed fails, with the node's words", async () => {
    const c = await cluster({ silentS: 0 });
    const skipped = carryStep(c.deps, "n3", task(), new AbortController().signal);
    await node(c.name, { outcome: "skipped", detail: "no session matched" });
    expect(await skipped).toEqual({ ok: true, changed: false, detail: "on node n3: no session matched", durationMs: 123 });
    const failed = carryStep(c.deps, "n3", task({ index: 2 }), new AbortController().signal);
    await node(c.name, { outcome: "failed", detail: "this node renders step 3 differently; nothing was run" });
    expect(await failed).toMatchObject({ ok: false, detail: "on node n3: this node renders step 3 differently; nothing was run" });
  });

  it("a node that never joined the cluster fails the step at once, and nothing is left to claim", async () => {
    const c = await cluster();
    const started = Date.now();
    const r = await carryStep(c.deps, "n3", task(), new AbortController().signal);
    expect(r.ok).toBe(false);
    expect(r.detail).toBe(
      "node n3 is not in this cluster: no node of that name has ever joined; nothing was run there, and no other node acts on its host",
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await c.state()).toEqual([]);
    expect(await claimTasks(pool, c.name, "n3")).toEqual([]);
  });

  it("a node gone silent past the limit fails the step, saying how long, and cannot take it late", async () => {
    const c = await cluster({ silentS: 9 });
    const r = await carryStep(c.deps, "n3", task(), new AbortController().signal);
    expect(r).toMatchObject({ ok: false });
    expect(r.detail).toMatch(/^node n3 has sent no heartbeat for 9 s: its host or its medic is gone; nothing was run there/);
    await c.beat();
    expect(await claimTasks(pool, c.name, "n3")).toEqual([]);
  });

  it("a node that beats but does not take the step fails it after the claim window, and cannot take it late", async () => {
    const c = await cluster({ silentS: 0 });
    const beating = setInterval(() => void c.beat(), 500);
    try {
      const r = await carryStep(c.deps, "n3", task(), new AbortController().signal);
      expect(r.detail).toMatch(/^node n3 beats but did not take the step within 5s/);
    } finally {
      clearInterval(beating);
    }
    expect(await claimTasks(pool, c.name, "n3")).toEqual([]);
  }, 20_000);

  it("a node that took the step and says nothing past its timeout may have died mid-step: the step fails", async () => {
    const c = await cluster({ silentS: 0 });
    const carried = carryStep(c.deps, "n3", task({ timeoutMs: 100 }), new AbortController().signal);
    await expect.poll(async () => (await claimTasks(pool, c.name, "n3")).length, { timeout: 5_000 }).toBe(1);
    const r = await carried;
    expect(r).toEqual({ ok: false, detail: "node n3 took the step and has not said how it ended within 5.1s: it may have died mid-step" });
  }, 20_000);

  it("only the leader of the current term is obeyed: a deposed leader's task and one withdrawn at the end of a term are never claimed", async () => {
    const c = await cluster({ epoch: 4, silentS: 0 });
    const old = new AbortController();
    const deposed = carryStep({ ...c.deps, epoch: 3 }, "n3", task(), old.signal);
    await expect.poll(c.state).toEqual(["pending"]);
    expect(await claimTasks(pool, c.name, "n3")).toEqual([]);
    old.abort();
    expect((await deposed).detail).toBe("on node n3: this leader's term ended while it waited");
    expect(await c.state()).toEqual([]);

    // A lease that ran out: the leader row's epoch is current, but its term is over on the database's clock.
    await pool.query("UPDATE medic_leader SET lease_until = now() - interval '1 s' WHERE cluster = $1", [c.name]);
    const lapsed = new AbortController();
    const waiting = carryStep(c.deps, "n3", task({ index: 2 }), lapsed.signal);
    await expect.poll(async () => (await c.state()).filter((s) => s === "pending").length).toBe(1);
    expect(await claimTasks(pool, c.name, "n3")).toEqual([]);
    lapsed.abort();
    await waiting;
  });

  it("a node asked again for a step it is still running (a new leader resumed the run) waits for that run: the step runs once", async () => {
    const c = await cluster({ silentS: 0 });
    let calls = 0;
    let finish: (r: StepResult) => void = () => {};
    const carryOut = () => (calls++, new Promise<StepResult>((resolve) => (finish = resolve)));
    const targets = [{ name: "api", node: "n3" }];
    const node = new HostSteps({
      pool,
      me: { name: c.name, node: "n3", leaseTtlMs: 10_000 },
      config: () => ({ targets }) as unknown as Config,
      log,
      daemon: () => ({ carryOut }) as unknown as Daemon,
    });
    const first = carryStep(c.deps, "n3", task(), new AbortController().signal);
    await expect.poll(async () => (await node.take(), calls), { timeout: 5_000 }).toBe(1);
    // The leader dies; the next one (epoch 4) hands the same step again.
    await pool.query("UPDATE medic_leader SET epoch = 4 WHERE cluster = $1", [c.name]);
    const again = carryStep({ ...c.deps, epoch: 4 }, "n3", task(), new AbortController().signal);
    await expect.poll(async () => (await node.take(), (await c.state()).filter((x) => x === "running").length), { timeout: 5_000 }).toBe(2);
    finish({ ok: true, detail: "restarted pid 1 -> 2" });
    expect(await again).toMatchObject({
      ok: true,
      detail: "on node n3: the same step, already under way here when a new leader asked: restarted pid 1 -> 2",
    });
    expect(await first).toMatchObject({ ok: true, detail: "on node n3: restarted pid 1 -> 2" });
    expect(calls).toBe(1);
    await node.stop();
  });

  it("a task row the node cannot read is reported failed, nothing run, and the node carries on", async () => {
    const c = await cluster({ silentS: 0 });
    await pool.query(
      `INSERT INTO medic_tasks (cluster, id, node, epoch, incident, target, playbook, step_index, description, plan)
         VALUES ($1, 'x:0:3', 'n3', 3, 'x', 'api', 'p', 0, 'd', '{"incident": null}')`,
      [c.name],
    );
    let calls = 0;
    const node = new HostSteps({
      pool,
      me: { name: c.name, node: "n3", leaseTtlMs: 10_000 },
      config: () => ({ targets: [{ name: "api", node: "n3" }] }) as unknown as Config,
      log,
      daemon: () => ({ carryOut: () => (calls++, Promise.resolve({ ok: true, detail: "" })) }) as unknown as Daemon,
    });
    await node.take();
    await node.stop();
    const [row] = (
      await pool.query<{ state: string; outcome: string; detail: string }>(
        "SELECT state, outcome, detail FROM medic_tasks WHERE cluster = $1",
        [c.name],
      )
    ).rows;
    expect(row).toMatchObject({ state: "done", outcome: "failed", detail: expect.stringMatching(/cannot read the task.*nothing was run/) });
    expect(calls).toBe(0);
  });
});
