import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startPagerDutyReceiver, type PagerDutyReceiver } from "./fixtures/pagerduty-receiver.js";
import {
  apiUrl,
  cleanup,
  freePort,
  medic,
  killOnCleanup,
  startMedic,
  startService,
  tempDir,
  waitUntil,
  type MedicProcess,
} from "./harness.js";
import { startStoreDb, stepStarted, STORE_PASSWORD, type StoreDb } from "./fixtures/store-db.js";

// Three medic processes as the nodes of one cluster on a real PostgreSQL, logged in as the
// least-privilege role the README documents. The victim is a real service the test kills; the
// playbook's exec steps log every start and end with the pid of the medic that ran them, so
// overlapping actions are seen from their own side effects, not only from medic's journal.

let store: StoreDb;
let pd: PagerDutyReceiver;
const ROUTING_KEY = "R0UTINGKEY0123456789abcdef012345";
const TOKEN = "cluster-api-token-0123456789abcdef";

beforeAll(async () => {
  store = await startStoreDb();
  pd = await startPagerDutyReceiver();
}, 60_000);
afterAll(async () => {
  await pd?.close();
  await store?.db.destroy();
});
afterEach(cleanup);

let clusters = 0;
const NODE = JSON.stringify(process.execPath);
/** An exec step that logs "start WORD PPID T", sleeps `ms`, then logs "end WORD PPID T" (PPID: the medic that ran it). */
const logged = (marker: string, word: string, ms: number) =>
  `  - exec: { argv: [${NODE}, "-e", ${JSON.stringify(
    `const fs = require("fs"); const by = process.ppid; const log = (what) => fs.appendFileSync(process.argv[1], what + " " + process.argv[2] + " " + by + " " + Date.now() + "\\n");` +
      ` log("start"); setTimeout(() => log("end"), ${ms});`,
  )}, ${JSON.stringify(marker)}, "${word}"] }\n`;

interface Line {
  what: "start" | "end";
  word: string;
  pid: number;
  at: number;
}
const lines = (marker: string): Line[] => {
  try {
    return readFileSync(marker, "utf8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [what, word, pid, at] = l.split(" ");
        return { what: what as Line["what"], word: word!, pid: Number(pid), at: Number(at) };
      });
  } catch {
    return [];
  }
};

/** Every step's [start, end] by the medic that ran it; none may overlap one run by another medic. */
function overlaps(marker: string): string[] {
  const runs: { word: string; pid: number; from: number; to: number }[] = [];
  for (const l of lines(marker)) {
    if (l.what === "start") runs.push({ word: l.word, pid: l.pid, from: l.at, to: Infinity });
    else {
      const open = runs.find((r) => r.word === l.word && r.pid === l.pid && r.to === Infinity);
      if (open) open.to = l.at;
    }
  }
  const found: string[] = [];
  for (const a of runs)
    for (const b of runs) if (a.pid < b.pid && a.from < b.to && b.from < a.to) found.push(`${a.word}@${a.pid} overlaps ${b.word}@${b.pid}`);
  return found;
}

/**
 * A cluster of three on a fresh service. `node`: the service's node; `quorum`: its confirm.quorum;
 * `probePort`: the port a node probes (a node given a dead one sees the service down: a broken
 * path from that vantage point); `first`: started alone, and leading, before the others.
 */
async function setUp(
  steps: (marker: string) => string,
  opts: { node?: string; quorum?: number; probePort?: (node: string, port: number) => number; first?: string } = {},
) {
  const dir = tempDir();
  const port = await freePort();
  const cluster = `prod${++clusters}`;
  const marker = join(dir, "marker");
  mkdirSync(join(dir, "playbooks"));
  writeFileSync(
    join(dir, "playbooks", "recover.yaml"),
    `name: recover\non: [server_down]\nsteps:\n${steps(marker)}  - service.start:\nverify: { within: 20s }\n`,
  );
  const config = join(dir, "medic.yaml");
  writeFileSync(join(dir, "api-token"), TOKEN, { mode: 0o600 });
  const text = (probePort: number) =>
    `playbooks: [./playbooks]
api: { tokens: [ { name: alice, tokenFile: ./api-token, role: approver } ] }
store: { postgres: { url: "\${MEDIC_STORE_URL}", statementTimeout: 2s } }
cluster: { name: ${cluster}, node: "\${NODE_NAME}", leaseTtl: 3s }
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
notify:
  pagerduty: { routingKey: "\${PD_KEY}", server: "${pd.server}", ca: ${JSON.stringify(pd.caFile)}, timeout: 1s }
  retry: { initial: 200ms, max: 1s, attempts: 100 }
escalation:
  P1: [ { after: 0s, notify: [pagerduty] } ]
targets:
  - name: api${opts.node ? `\n    node: ${opts.node}` : ""}${opts.quorum ? `\n    confirm: { quorum: ${opts.quorum} }` : ""}
    probe: { http: { url: "http://127.0.0.1:${probePort}/health" } }
    service:
      process:
        start: [${NODE}, ${JSON.stringify(join(import.meta.dirname, "..", "dist/demo/service.js"))}, "${port}", ${JSON.stringify(dir)}]
        pidFile: api.pid
        stopTimeout: 2s
`;
  writeFileSync(config, text(port));
  killOnCleanup(join(dir, "api.pid"));
  const pid = await startService(dir, port, join(dir, "api.pid"));
  const url = store.url;
  const nodes = new Map<string, MedicProcess>();
  /** Starts (or starts again) the medic of node `name`. */
  const start = (name: string) => {
    let file = config;
    if (opts.probePort) {
      file = join(dir, `medic-${name}.yaml`);
      writeFileSync(file, text(opts.probePort(name, port)));
    }
    const m = startMedic(["run", "--config", file, "--state-dir", join(dir, `state-${name}`)], {
      MEDIC_STORE_URL: url,
      NODE_NAME: name,
      PD_KEY: ROUTING_KEY,
    });
    nodes.set(name, m);
    return m;
  };
  if (opts.first) {
    start(opts.first);
    await waitUntil(
      async () => (await leaderRow(url, cluster).catch(() => undefined))?.node === opts.first,
      20_000,
      `${opts.first} to lead`,
    );
  }
  for (const name of ["n1", "n2", "n3"]) if (name !== opts.first) start(name);
  const sql = <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) =>
    store.sql<R>(text.replaceAll("$CLUSTER", `'${cluster}'`), values);
  const leader = async () =>
    (await sql<{ node: string; epoch: string }>("SELECT node, epoch FROM medic_leader WHERE cluster = $CLUSTER"))[0];
  await waitUntil(async () => (await leader().catch(() => undefined))?.node, 20_000, "a leader");
  await waitUntil(() => [...nodes.values()].every((m) => m.stdout().includes("medic started as a cluster node")), 20_000, "every node");
  return { dir, marker, pid, port, nodes, sql, leader, cluster, config, url, start };
}

type Setup = Awaited<ReturnType<typeof setUp>>;

async function leaderRow(url: string, cluster: string): Promise<{ node: string } | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  c.on("error", () => {});
  try {
    await c.connect();
    return (await c.query<{ node: string }>("SELECT node FROM medic_leader WHERE cluster = $1", [cluster])).rows[0];
  } finally {
    await c.end().catch(() => {});
  }
}
const records = (t: Setup) =>
  t.sql<{ seq: string; epoch: string; type: string; index: number | null; outcome: string | null; at: string }>(
    `SELECT seq, epoch, record->>'type' AS type, (record->>'index')::int AS index, record->>'outcome' AS outcome, at
       FROM medic_records WHERE cluster = $CLUSTER ORDER BY seq`,
  );
const resolved = async (t: Setup) => (await records(t)).some((r) => r.type === "resolved");

/** The trigger and resolve events PagerDuty got for this run's incident (one dedup key, trigger before resolve, nothing after). */
function pages(since: number) {
  return pd.events
    .filter((e) => e.at >= since && e.body?.routing_key === ROUTING_KEY)
    .map((e) => ({ key: e.body.dedup_key, action: e.body.event_action }));
}

describe("a cluster of three medics on PostgreSQL", () => {
  it("the leader is killed -9 mid-playbook: a follower takes over, finishes the incident, no step recorded done runs again, one page", async () => {
    const since = Date.now();
    const t = await setUp((m) => logged(m, "one", 0) + "  - wait: 3s\n" + logged(m, "three", 0));
    process.kill(t.pid, "SIGKILL");
    await stepStarted(store, t.cluster, 1);
    const before = await t.leader();
    // Someone takes it on through a follower: the leader, whoever it is by then, journals it once.
    const incident = (await t.sql<{ id: string }>("SELECT id FROM medic_incidents WHERE cluster = $CLUSTER"))[0]!.id;
    const follower = [...t.nodes.keys()].find((n) => n !== before!.node)!;
    const acked = await fetch(`${await apiUrl(t.nodes.get(follower)!)}/api/incidents/${incident}/ack`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ note: "looking" }),
    });
    expect(acked.status).toBe(200);
    const killedAt = Date.now();
    t.nodes.get(before!.node)!.child.kill("SIGKILL");

    const after = await waitUntil(
      async () => {
        const l = await t.leader();
        return l && l.node !== before!.node ? l : undefined;
      },
      10_000,
      "a new leader",
    );
    expect(Number(after.epoch)).toBe(Number(before!.epoch) + 1);
    await waitUntil(() => resolved(t), 40_000, "the incident to resolve");
    const all = await records(t);
    const firstNew = all.find((r) => Number(r.epoch) === Number(after.epoch))!;
    const elected = (
      await t.sql<{ at: number }>(
        "SELECT (extract(epoch FROM at) * 1000)::float8 AS at FROM medic_cluster_log WHERE cluster = $CLUSTER AND epoch = $1",
        [after.epoch],
      )
    )[0]!;
    console.log(
      `failover after kill -9: elected ${Math.round(elected.at - killedAt)} ms, first record ${Number(firstNew.at) - killedAt} ms`,
    );
    expect(elected.at - killedAt).toBeLessThan(5_000);

    // Every step recorded done ran once: "one" before the kill, the wait again (it is idempotent), "three" after.
    const words = lines(t.marker).filter((l) => l.what === "start");
    expect(words.map((l) => l.word)).toEqual(["one", "three"]);
    expect(words[1]!.pid).toBe(t.nodes.get(after.node)!.child.pid);
    expect(all.filter((r) => r.type === "step_finished" && r.index === 0)).toHaveLength(1);
    expect(all.filter((r) => r.type === "step_finished" && r.index === 2 && r.outcome === "ok")).toHaveLength(1);
    expect(all.filter((r) => r.type === "opened")).toHaveLength(1);
    expect(all.filter((r) => r.type === "resolved")).toHaveLength(1);
    expect(overlaps(t.marker)).toEqual([]);
    const acks = await t.sql<{ by: string }>(
      "SELECT record->>'by' AS by FROM medic_records WHERE cluster = $CLUSTER AND record->>'type' = 'acknowledged'",
    );
    expect(acks).toEqual([{ by: "alice" }]);

    // One page: one dedup key, triggered (perhaps again, deduplicated) before the resolve, nothing after it.
    const sent = await waitUntil(
      () => {
        const p = pages(since);
        return p.some((e) => e.action === "resolve") ? p : undefined;
      },
      20_000,
      "the resolve to reach PagerDuty",
    );
    expect(new Set(sent.map((e) => e.key)).size).toBe(1);
    expect(sent.at(-1)!.action).toBe("resolve");
    expect(sent.filter((e) => e.action === "resolve")).toHaveLength(1);
    expect(pd.alerts().get(sent[0]!.key)).toMatchObject({ status: "resolved", rang: 1 });

    // And the operator sees it: the new leader's metrics, any node's /api/cluster, and the CLI from the store.
    const leaderApi = await apiUrl(t.nodes.get(after.node)!);
    const metrics = await (await fetch(`${leaderApi}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(metrics).toMatch(new RegExp(`^medic_cluster_leader 1$`, "m"));
    expect(metrics).toMatch(new RegExp(`^medic_cluster_epoch ${after.epoch}$`, "m"));
    expect(metrics).toMatch(/^medic_cluster_elections_won 1$/m);
    const third = [...t.nodes.keys()].find((n) => n !== after.node && n !== before!.node)!;
    const cluster = (await (
      await fetch(`${await apiUrl(t.nodes.get(third)!)}/api/cluster`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()) as {
      leader: { node: string; epoch: number };
      self: { mode: string };
      changes: { node: string; detail: string }[];
    };
    expect(cluster.leader).toMatchObject({ node: after.node, epoch: Number(after.epoch) });
    expect(cluster.self.mode).toBe("follower");
    expect(cluster.changes[0]).toMatchObject({ node: after.node, detail: `took over from ${before!.node} (epoch ${before!.epoch})` });
    const status = await medic(["cluster", "status", "--config", t.config], {
      MEDIC_STORE_URL: t.url,
      NODE_NAME: "cli",
      PD_KEY: ROUTING_KEY,
    });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`cluster ${t.cluster}: ${after.node} leads at epoch ${after.epoch}`);
    // The killed node is still listed, its heartbeat going stale.
    expect(status.stdout).toMatch(new RegExp(`^${before!.node} +(follower|leader|connecting) +[\\d.]+s ago`, "m"));
    expect(status.stdout).not.toContain(STORE_PASSWORD);
    // History from any host: the CLI reads the cluster's store, not the node's state dir.
    const env = { MEDIC_STORE_URL: t.url, NODE_NAME: "cli", PD_KEY: ROUTING_KEY };
    const list = await medic(["incidents", "--config", t.config], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(incident);
    expect(list.stdout).toMatch(/resolved/);
    const postmortem = await medic(["incidents", "show", incident.slice(0, 6), "--format", "markdown", "--config", t.config], env);
    expect(postmortem.code).toBe(0);
    expect(postmortem.stdout).toMatch(/alice/);
    expect(postmortem.stdout).not.toContain(STORE_PASSWORD);
  }, 120_000);

  it("the leader is SIGSTOPped past its lease: a follower finishes the incident, the old leader wakes, acts on nothing and follows", async () => {
    const t = await setUp((m) => logged(m, "one", 0) + "  - wait: 2s\n" + logged(m, "three", 1500));
    process.kill(t.pid, "SIGKILL");
    await stepStarted(store, t.cluster, 1);
    const before = await t.leader();
    const stalled = t.nodes.get(before!.node)!;
    stalled.child.kill("SIGSTOP");
    const after = await waitUntil(
      async () => {
        const l = await t.leader();
        return l && l.node !== before!.node ? l : undefined;
      },
      20_000,
      "a new leader after the lease",
    );
    // Wake the old leader while the new one runs the last step: it must not run it too.
    await waitUntil(() => lines(t.marker).some((l) => l.word === "three"), 20_000, "the new leader to run the last step");
    stalled.child.kill("SIGCONT");
    await waitUntil(() => resolved(t), 40_000, "the incident to resolve");
    await waitUntil(
      () => stalled.stdout().includes("stepping down as leader") || stalled.stdout().includes("no longer the leader"),
      20_000,
      "the old leader to step down",
    );

    const starts = lines(t.marker).filter((l) => l.what === "start");
    expect(starts.map((l) => l.word)).toEqual(["one", "three"]);
    expect(starts[1]!.pid).toBe(t.nodes.get(after.node)!.child.pid);
    expect(overlaps(t.marker)).toEqual([]);
    const all = await records(t);
    // Nothing the old leader tried to write after the new one took over got in: every record of the old epoch comes first.
    const lastOld = Math.max(...all.filter((r) => Number(r.epoch) === Number(before!.epoch)).map((r) => Number(r.seq)));
    const firstNew = Math.min(...all.filter((r) => Number(r.epoch) === Number(after.epoch)).map((r) => Number(r.seq)));
    expect(lastOld).toBeLessThan(firstNew);
    expect(all.filter((r) => r.type === "resolved")).toHaveLength(1);
    // It rejoins as a follower: the cluster's nodes table says so within a heartbeat or two.
    await waitUntil(
      async () =>
        (
          await t.sql<{ mode: string }>("SELECT detail->>'mode' AS mode FROM medic_nodes WHERE cluster = $CLUSTER AND node = $1", [
            before!.node,
          ])
        )[0]?.mode === "follower",
      20_000,
      "the old leader to follow",
    );
  }, 120_000);

  it("PostgreSQL stops under the cluster: nobody acts, every node keeps probing and says so, one page; once it is back the cluster carries on", async () => {
    const t = await setUp((m) => logged(m, "fix", 0));
    const key = `medic:cluster:${t.cluster}:store`;
    const urls = await Promise.all([...t.nodes.values()].map((m) => apiUrl(m)));
    const statuses = () => Promise.all(urls.map((u) => fetch(`${u}/healthz`).then((r) => r.status)));
    const apiUp = () =>
      Promise.all(
        urls.map(
          async (u) =>
            (
              (await (await fetch(`${u}/api/targets`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
                targets: { up: boolean | null }[];
              }
            ).targets[0]?.up,
        ),
      );
    expect(await statuses()).toEqual([200, 200, 200]);

    await store.db.stop("fast");
    await waitUntil(async () => (await statuses()).every((s) => s === 503), 20_000, "every node to say it cannot reach the store");
    process.kill(t.pid, "SIGKILL");
    // Every node still probes (it sees the service go down), and none acts: nothing can be fenced.
    await waitUntil(async () => (await apiUp()).every((up) => up === false), 20_000, "every node to see the service down");
    await waitUntil(() => pd.alerts().get(key)?.status === "triggered", 30_000, "the page about the store");
    const health = (await (await fetch(`${urls[0]}/healthz`)).json()) as { checks: { name: string; detail: string }[] };
    expect(health.checks.find((c) => c.name === "cluster")?.detail).toMatch(/cannot reach the store, so this node acts on nothing/);
    expect(lines(t.marker)).toEqual([]);

    await store.db.start();
    // The cluster carries on by itself: a leader, the broken service fixed once, the page about the store resolved.
    await waitUntil(() => resolved(t).catch(() => false), 60_000, "the incident to resolve once the store is back");
    expect(lines(t.marker).filter((l) => l.what === "start")).toHaveLength(1);
    await waitUntil(() => pd.alerts().get(key)?.status === "resolved", 20_000, "the page about the store to resolve");
    // Three nodes paged under one key: one alert, which rang once.
    expect(pd.alerts().get(key)).toMatchObject({ rang: 1 });
    // Each node says it is healthy again once its own session is back (a follower retries every second).
    await waitUntil(async () => (await statuses()).every((s) => s === 200), 15_000, "every node to be healthy again");
  }, 120_000);

  it("a node's host goes away: one node_down incident pages, the service there waits under it, and when the node is back the leader has that node fix it", async () => {
    const since = Date.now();
    const t = await setUp((m) => logged(m, "fix", 0), { node: "n3" });
    // The host that goes away must not be the leader's (that is the failover test above).
    if ((await t.leader())!.node === "n3") {
      const n3 = t.nodes.get("n3")!;
      n3.child.kill("SIGTERM");
      await n3.exited;
      await waitUntil(async () => (await t.leader())?.node !== "n3", 10_000, "another leader");
      t.start("n3");
    }
    await waitUntil(
      async () =>
        (await t.sql("SELECT 1 FROM medic_nodes WHERE cluster = $CLUSTER AND node = 'n3' AND heartbeat_at > now() - interval '2 s'"))
          .length,
      20_000,
      "n3 to beat",
    );
    // The host dies: its medic and the service on it, together.
    t.nodes.get("n3")!.child.kill("SIGKILL");
    process.kill(t.pid, "SIGKILL");

    type Row = { id: string; target: string; kind: string; state: string; root: string | null };
    const incidents = () =>
      t.sql<Row>("SELECT id, target, fold->>'kind' AS kind, state, root FROM medic_incidents WHERE cluster = $CLUSTER ORDER BY opened_at");
    const down = await waitUntil(async () => (await incidents()).find((i) => i.kind === "node_down"), 30_000, "the node_down incident");
    expect(down).toMatchObject({ target: "medic", state: "escalated" });
    // The service's death is seen at once, its node's silence only after the limit: whichever came
    // first, the service's incident is filed under the node's, which explains it.
    const api = await waitUntil(
      async () => (await incidents()).find((i) => i.target === "api" && i.state === "suppressed"),
      30_000,
      "the service's incident under node_down",
    );
    expect(api.root).toBe(down.id);
    await waitUntil(() => pages(since).some((p) => p.key === down.id && p.action === "trigger"), 20_000, "the node_down page");

    // While n3 was gone nothing ran: no node but n3 acts on its host, and the service's incident says why it waits.
    expect(lines(t.marker)).toEqual([]);
    const why = await t.sql<{ reason: string }>(
      "SELECT record->>'reason' AS reason FROM medic_records WHERE cluster = $CLUSTER AND incident = $1 AND record->>'type' = 'suppressed'",
      [api.id],
    );
    // Said by whichever noticed first: the node watch (naming the cluster) or the step carrier.
    expect(why.at(-1)!.reason).toMatch(/node n3 (of cluster \S+ )?has sent no heartbeat for \d+ s/);

    // The node comes back; the service is still down: it gets its own incident, and the leader hands
    // the steps to n3, which carries them out on its host (the exec step logs its medic's pid).
    const back = t.start("n3");
    await waitUntil(async () => (await incidents()).find((i) => i.id === down.id)?.state === "resolved", 30_000, "node_down to resolve");
    const own = await waitUntil(
      async () => (await incidents()).find((i) => i.target === "api" && i.id !== api.id && i.state === "resolved"),
      40_000,
      "the service's own incident, fixed by n3",
    );
    const leader = (await t.leader())!.node;
    expect(leader).not.toBe("n3");
    expect(lines(t.marker).filter((l) => l.what === "start")).toEqual([expect.objectContaining({ word: "fix", pid: back.child.pid })]);
    const steps = await t.sql<{ index: number; outcome: string; detail: string; node: string }>(
      `SELECT (record->>'index')::int AS index, record->>'outcome' AS outcome, record->>'detail' AS detail, node
         FROM medic_records WHERE cluster = $CLUSTER AND incident = $1 AND record->>'type' = 'step_finished' ORDER BY seq`,
      [own.id],
    );
    // The leader journals both steps, each as n3 reported it.
    expect(steps.map((s) => [s.index, s.outcome, s.node])).toEqual([
      [0, "ok", leader],
      [1, "ok", leader],
    ]);
    for (const s of steps) expect(s.detail).toMatch(/^on node n3: /);
    expect(back.stdout()).toContain("carried out a step for the leader");
    expect((await incidents()).filter((i) => i.kind === "node_down")).toHaveLength(1);
    expect(await t.sql("SELECT 1 FROM medic_tasks WHERE cluster = $CLUSTER")).toEqual([]);
  }, 120_000);

  it("quorum 2: only the leader cannot reach the service, so it pages about the path and restarts nothing; when all see it down it is fixed once", async () => {
    const since = Date.now();
    const dead = await freePort();
    // n1 leads and probes a port nothing listens on: from its vantage point the service is down.
    const t = await setUp((m) => logged(m, "fix", 0), { quorum: 2, first: "n1", probePort: (node, port) => (node === "n1" ? dead : port) });
    type Row = { id: string; target: string; kind: string; state: string; root: string | null };
    const incidents = () =>
      t.sql<Row>("SELECT id, target, fold->>'kind' AS kind, state, root FROM medic_incidents WHERE cluster = $CLUSTER ORDER BY opened_at");
    const vantage = await waitUntil(
      async () => (await incidents()).find((i) => i.kind === "vantage_disagreement"),
      30_000,
      "the vantage_disagreement incident",
    );
    expect(vantage).toMatchObject({ target: "medic", state: "escalated" });
    const api = (await incidents()).find((i) => i.target === "api")!;
    expect(api).toMatchObject({ state: "suppressed", root: vantage.id });
    const evidence = await t.sql<{ evidence: string }>("SELECT fold->>'evidence' AS evidence FROM medic_incidents WHERE id = $1", [
      vantage.id,
    ]);
    expect(evidence[0]!.evidence).toBe("n1 sees api failing, but n2, n3 see it healthy: the network path is at fault, not api");
    await waitUntil(() => pages(since).some((p) => p.key === vantage.id && p.action === "trigger"), 20_000, "the page about the path");
    expect(lines(t.marker)).toEqual([]);

    // Now the service really dies: every node sees it, the nodes agree, and it is fixed once.
    process.kill(t.pid, "SIGKILL");
    await waitUntil(
      async () => (await incidents()).find((i) => i.id === vantage.id)?.state === "resolved",
      30_000,
      "the disagreement to end",
    );
    await waitUntil(async () => lines(t.marker).some((l) => l.what === "start"), 30_000, "the fix to run");
    const starts = lines(t.marker).filter((l) => l.what === "start");
    expect(starts).toHaveLength(1);
    expect(starts[0]!.pid).toBe(t.nodes.get("n1")!.child.pid);
    const guards = await t.sql<{ guards: string }>(
      "SELECT record->>'guards' AS guards FROM medic_records WHERE cluster = $CLUSTER AND record->>'type' = 'playbook_started'",
    );
    expect(guards).toEqual([{ guards: expect.stringMatching(/confirmed by [23] of 2 needed \(n1, n2/) }]);
  }, 120_000);

  it("an approval the leader asks for is given through a follower's API, by the token's name, and the step runs once", async () => {
    const t = await setUp((m) => logged(m, "gated", 0) + "    approval: { required: true, timeout: 5m }\n");
    process.kill(t.pid, "SIGKILL");
    const id = await waitUntil(
      async () =>
        (await t.sql<{ id: string }>("SELECT id FROM medic_incidents WHERE cluster = $CLUSTER AND state = 'awaiting_approval'"))[0]?.id,
      30_000,
      "the step to wait for approval",
    );
    expect(lines(t.marker)).toEqual([]);
    const leader = (await t.leader())!.node;
    const follower = [...t.nodes.keys()].find((n) => n !== leader)!;
    // The follower's view of the store catches up within a second; its API writes the answer to its own controls, shared with the leader.
    const res = await waitUntil(
      async () => {
        const r = await fetch(`${await apiUrl(t.nodes.get(follower)!)}/api/incidents/${id}/approve`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ note: "go" }),
        });
        return r.status === 202 ? r : undefined;
      },
      10_000,
      "the follower to take the approval",
    );
    expect(res.status).toBe(202);
    await waitUntil(() => resolved(t), 40_000, "the incident to resolve");
    const starts = lines(t.marker).filter((l) => l.what === "start");
    expect(starts.map((l) => l.word)).toEqual(["gated"]);
    expect(starts[0]!.pid).toBe(t.nodes.get((await t.leader())!.node)!.child.pid);
    const approved = await t.sql<{ by: string }>(
      "SELECT record->>'by' AS by FROM medic_records WHERE cluster = $CLUSTER AND record->>'type' = 'approved'",
    );
    expect(approved).toEqual([{ by: "alice" }]);
  }, 120_000);

  it("a pause made on a follower holds whichever node leads; resumed there, the leader acts", async () => {
    const t = await setUp((m) => logged(m, "fix", 0));
    const lead = (await t.leader())!.node;
    const follower = [...t.nodes.keys()].find((n) => n !== lead)!;
    const env = { MEDIC_STORE_URL: t.url, NODE_NAME: follower, PD_KEY: ROUTING_KEY };
    const on = ["--config", t.config, "--state-dir", join(t.dir, `state-${follower}`)];
    const paused = await medic(["pause", "api", "--for", "10m", "--reason", "deploying by hand", ...on], env);
    expect(paused.code).toBe(0);
    // Published by the follower and read by the leader within a second each.
    await waitUntil(
      async () =>
        (
          await t.sql<{ n: number }>(
            "SELECT jsonb_array_length(doc->'pauses') AS n FROM medic_controls WHERE cluster = $CLUSTER AND node = $1",
            [follower],
          )
        )[0]?.n === 1,
      10_000,
      "the pause in the store",
    );
    await new Promise((r) => setTimeout(r, 1_500));
    process.kill(t.pid, "SIGKILL");
    type Row = { id: string; state: string; hold: string | null };
    const api = await waitUntil(
      async () =>
        (
          await t.sql<Row>(
            "SELECT id, state, fold->'hold'->>'reason' AS hold FROM medic_incidents WHERE cluster = $CLUSTER AND target = 'api'",
          )
        )[0],
      20_000,
      "the incident",
    );
    await waitUntil(
      async () => (await t.sql<Row>("SELECT state FROM medic_incidents WHERE id = $1", [api.id]))[0]?.state === "held",
      20_000,
      "the incident to be held by the pause",
    );
    expect((await t.sql<Row>("SELECT fold->'hold'->>'reason' AS hold FROM medic_incidents WHERE id = $1", [api.id]))[0]!.hold).toMatch(
      /deploying by hand/,
    );
    await new Promise((r) => setTimeout(r, 1_500));
    expect(lines(t.marker)).toEqual([]);

    const resumed = await medic(["resume", "api", ...on], env);
    expect(resumed.code).toBe(0);
    await waitUntil(() => resolved(t), 40_000, "the incident to be fixed once the pause ended");
    expect(lines(t.marker).filter((l) => l.what === "start")).toHaveLength(1);
  }, 120_000);
});
