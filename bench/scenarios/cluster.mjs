import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { drifts, startFarm } from "../lib/farmctl.mjs";
import { freePort, get } from "../lib/http.mjs";
import { OPEN_GUARDS, PLAYBOOKS, readJournal, startMedic } from "../lib/medic.mjs";
import { startPgServer } from "../lib/pg-server.mjs";
import { alive, cpuSeconds, killPid, now, readPid, sleep, stopChild, waitFor } from "../lib/proc.mjs";
import { percentile, summary } from "../lib/stats.mjs";
import { lateQuantile, scrape } from "./scale.mjs";

// medic as a cluster of three `medic run` processes on one PostgreSQL (issue 16, "Figures"):
// failover after kill -9 and after SIGSTOP of the leader mid-playbook, the database load of a
// cluster at rest watching 1,000 targets, and one node on the PostgreSQL store against one on the
// file store. Every node, the database and the targets run on this machine: one clock for all.

const SERVICE = fileURLToPath(new URL("../lib/service.mjs", import.meta.url));
const NODE = process.execPath;
const NODES = ["n1", "n2", "n3"];
const SCALE_INTERVAL_MS = 10_000;
/** The playbook's long step: the leader is killed or stopped while it runs. */
const WAIT_S = 5;

/** Everything the cluster scenario measures; one PostgreSQL for all of it. Returns the rows. */
export async function clusterMedic({ killReps = 20, stallReps = 5, loadMs = 120_000, reps = 5, driftMs = 60_000, log }) {
  const base = mkdtempSync(join(tmpdir(), "medic-bench-cluster-"));
  const db = await startPgServer();
  log(`  cluster: ${db.version.split(",")[0]} on 127.0.0.1:${db.port}`);
  const rows = [];
  try {
    // The machine may be shared: how busy it was when each part ended (1, 5 and 15 minute load averages).
    const add = (part) => rows.push(...[part].flat().map((r) => ({ ...r, loadavg: loadavg().map((x) => Math.round(x * 100) / 100) })));
    if (killReps > 0 || stallReps > 0) add(await failover(base, db, { killReps, stallReps, log }));
    if (loadMs > 0) add(await load(base, db, { loadMs, log }));
    if (reps > 0) for (const store of ["file", "postgres"]) add(await single(base, db, store, { reps, driftMs, log }));
    return rows;
  } finally {
    await db.stop().catch(() => {});
    if (!process.env.BENCH_KEEP) rmSync(base, { recursive: true, force: true });
  }
}

/** A node's config: the store and cluster sections as the README has them, the name and URL from the environment. */
function nodeConfig(cluster, rest) {
  return `store: { postgres: { url: "\${MEDIC_STORE_URL}" } }
cluster: { name: ${cluster}, node: "\${NODE_NAME}" }
${rest}`;
}

/** Starts node `name` (its own dir and state dir under base) and waits for its API. */
async function startNode(base, db, name, config) {
  const dir = join(base, name);
  mkdirSync(dir, { recursive: true });
  const m = await startMedic(dir, config, { env: { MEDIC_STORE_URL: db.medicUrl, NODE_NAME: name } });
  m.name = name;
  return m;
}

/** The cluster's leader row: node and epoch (undefined before anyone led). */
async function leaderOf(db, cluster) {
  const r = (await db.medicSql("SELECT node, epoch::int AS epoch FROM medic_leader WHERE cluster = $1", [cluster]))[0];
  return r?.node ? r : undefined;
}

/** An exec step that appends "start WORD PPID T" to the marker file (PPID: the medic that ran it), as test/e2e-cluster.test.ts does. */
const logged = (marker, word) =>
  `  - exec: { argv: [${JSON.stringify(NODE)}, "-e", ${JSON.stringify(
    `require("fs").appendFileSync(process.argv[1], "start " + process.argv[2] + " " + process.ppid + " " + Date.now() + "\\n")`,
  )}, ${JSON.stringify(marker)}, "${word}"] }\n`;

/** Lines "what word pid at" of the marker file. */
function markerLines(file) {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" "))
      .map(([what, word, pid, at]) => ({ what, word, pid: Number(pid), at: Number(at) }));
  } catch {
    return [];
  }
}

/** Lines "pid start-ms ppid" the victim service writes each time it starts. */
function starts(file) {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" ").map(Number))
      .map(([pid, at, ppid]) => ({ pid, at, ppid }));
  } catch {
    return [];
  }
}

/**
 * Parts 1 and 2: three nodes (leaseTtl 10 s, the default) on one target whose playbook runs a
 * 5 s wait; the victim is killed, and while the wait runs the leader is killed -9 (then started
 * again as a follower) or SIGSTOPped (then SIGCONTed once the new leader has acted).
 */
async function failover(base, db, { killReps, stallReps, log }) {
  const dir = join(base, "failover");
  mkdirSync(join(dir, "playbooks"), { recursive: true });
  const cluster = "failover";
  const port = await freePort();
  const pidFile = join(dir, "web.pid");
  const startsFile = join(dir, "starts.log");
  const marker = join(dir, "marker.log");
  const url = `http://127.0.0.1:${port}/health`;
  const startArgv = [NODE, SERVICE, String(port), pidFile, startsFile];
  writeFileSync(
    join(dir, "playbooks", "recover.yaml"),
    `name: recover\non: [server_down]\nsteps:\n${logged(marker, "one")}  - wait: ${WAIT_S}s\n${logged(marker, "three")}  - service.start:\nverify: { within: 20s }\n`,
  );
  const config = nodeConfig(
    cluster,
    `playbooks: [${JSON.stringify(join(dir, "playbooks"))}]
defaults: { interval: 1s, timeout: 1s, failureThreshold: 1, successThreshold: 1 }
${OPEN_GUARDS}targets:
  - name: web
    probe: { http: { url: "${url}" } }
    service:
      process:
        start: [${startArgv.map((a) => JSON.stringify(a)).join(", ")}]
        pidFile: ${JSON.stringify(pidFile)}
        stopTimeout: 1s
`,
  );
  const healthy = async () => (await get(url, 300)).status === 200;
  // Exactly the target's start command: medic acts on a pid file it did not write only when the process runs exactly that.
  spawn(startArgv[0], startArgv.slice(1), { detached: true, stdio: "ignore" }).unref();
  await waitFor("the victim to answer", healthy, 10_000, 50);

  const nodes = new Map();
  for (const name of NODES) nodes.set(name, await startNode(base, db, name, config));
  const rows = [];
  const records = (afterSeq) =>
    db.medicSql(
      `SELECT seq::int AS seq, epoch::int AS epoch, node, at::float8 AS at, record->>'type' AS type, (record->>'index')::int AS index
         FROM medic_records WHERE cluster = $1 AND seq > $2 ORDER BY seq`,
      [cluster, afterSeq],
    );
  const lastSeq = async () =>
    Number((await db.medicSql("SELECT coalesce(max(seq), 0)::int AS s FROM medic_records WHERE cluster = $1", [cluster]))[0].s);
  try {
    await waitFor("a leader", () => leaderOf(db, cluster), 30_000, 100);
    const runs = [...Array(killReps).fill("kill"), ...Array(stallReps).fill("stall")];
    for (const [i, kind] of runs.entries()) {
      const rep = kind === "kill" ? i + 1 : i - killReps + 1;
      await waitFor("the victim healthy before the run", healthy, 60_000, 100);
      await sleep(1500); // a few healthy rounds, so the next failure opens a new incident
      const seq0 = await lastSeq();
      // A fresh incident: kill the victim; the leader opens it and runs the playbook up to the wait.
      const victimPid = readPid(pidFile);
      killPid(victimPid, "SIGKILL");
      const waitStarted = await waitFor(
        "the wait step to start",
        async () => (await records(seq0)).find((r) => r.type === "step_started" && r.index === 1),
        30_000,
        50,
      );
      const incidentRecs = await records(seq0);
      await sleep(200 + Math.random() * 1000); // lands anywhere in the first part of the 5 s wait
      const before = await leaderOf(db, cluster);
      const old = nodes.get(before.node);
      const stillWaiting = !(await records(seq0)).some((r) => r.type === "step_finished" && r.index === 1);
      const logsAtStop = old.logs().length; // what it says from here on is about this run
      const t0 = now();
      old.child.kill(kind === "kill" ? "SIGKILL" : "SIGSTOP");
      const after = await waitFor(
        "a new leader",
        async () => {
          const l = await leaderOf(db, cluster);
          return l && l.epoch > before.epoch ? l : undefined;
        },
        60_000,
        50,
      );
      const firstNew = await waitFor(
        "the new leader's first record",
        async () => (await records(seq0)).find((r) => r.epoch === after.epoch),
        60_000,
        50,
      );
      let contAt;
      if (kind === "stall") {
        contAt = now();
        old.child.kill("SIGCONT");
      }
      const elected = (
        await db.medicSql(
          "SELECT (extract(epoch FROM at) * 1000)::float8 AS at, detail FROM medic_cluster_log WHERE cluster = $1 AND epoch = $2 AND event = 'elected'",
          [cluster, after.epoch],
        )
      )[0];
      const resolved = await waitFor(
        "the incident to resolve",
        async () => {
          const rs = await records(seq0);
          return rs.some((r) => r.type === "resolved" || r.type === "escalated") && rs;
        },
        60_000,
        100,
      ).catch(() => records(seq0));
      const firstStep = resolved.find((r) => r.epoch === after.epoch && r.type === "step_started");
      const row = {
        scenario: "cluster",
        part: "failover",
        kind,
        rep,
        ttlMs: 10_000,
        waitStepRunning: stillWaiting,
        killedAfterWaitStartMs: t0 - waitStarted.at,
        from: before.node,
        to: after.node,
        epoch: after.epoch,
        electedMs: elected ? elected.at - t0 : NaN,
        firstActionMs: firstNew.at - t0,
        firstActionType: firstNew.type,
        firstStepMs: firstStep ? firstStep.at - t0 : NaN,
        outcome: resolved.some((r) => r.type === "resolved")
          ? "resolved"
          : resolved.some((r) => r.type === "escalated")
            ? "escalated"
            : "open",
        oldEpochRecords: incidentRecs.length,
      };
      if (kind === "kill") {
        // Started again as a follower, same name and state dir.
        await new Promise((r) => (old.child.exitCode !== null || old.child.signalCode !== null ? r() : old.child.once("exit", r)));
        nodes.set(before.node, await startNode(base, db, before.node, config));
      } else {
        // It steps down on waking and rejoins: the nodes table says follower.
        const followed = await waitFor(
          "the woken leader to follow",
          async () =>
            (
              await db.medicSql("SELECT detail->>'mode' AS mode FROM medic_nodes WHERE cluster = $1 AND node = $2", [cluster, before.node])
            )[0]?.mode === "follower",
          30_000,
          200,
        ).catch(() => false);
        Object.assign(row, {
          rejoinedAsFollower: followed,
          steppedDownLogged: /stepping down as leader|no longer the leader/.test(old.logs().slice(logsAtStop)),
        });
      }
      // Side effects, not medic's journal: what each medic process did, by its pid, during this run.
      const all = await records(seq0);
      const thisRun = markerLines(marker).filter((l) => l.at >= incidentRecs[0].at - 1);
      const oldPid = old.pid;
      const newPid = nodes.get(after.node).pid;
      const victimStarts = starts(startsFile).filter((s) => s.at >= waitStarted.at);
      const lastOld = Math.max(...all.filter((r) => r.epoch === before.epoch).map((r) => r.seq));
      Object.assign(row, {
        oneRuns: thisRun.filter((l) => l.word === "one").length,
        threeRuns: thisRun.filter((l) => l.word === "three").length,
        threeByNewLeader: thisRun.filter((l) => l.word === "three" && l.pid === newPid).length,
        // Actions of the stopped or killed leader after t0: its exec steps and the services it started.
        oldLeaderActionsAfter:
          thisRun.filter((l) => l.pid === oldPid && l.at >= t0).length + victimStarts.filter((s) => s.ppid === oldPid).length,
        victimStarts: victimStarts.length,
        victimStartedByNewLeader: victimStarts.filter((s) => s.ppid === newPid).length,
        oldEpochWritesAfterNew: lastOld > firstNew.seq ? all.filter((r) => r.epoch === before.epoch && r.seq > firstNew.seq).length : 0,
        ...(contAt !== undefined && { contAfterStopMs: contAt - t0 }),
      });
      rows.push(row);
      log(
        `  cluster ${kind} ${rep}: ${row.from} -> ${row.to} (epoch ${row.epoch}): elected +${Math.round(row.electedMs)} ms, first action (${row.firstActionType}) +${Math.round(row.firstActionMs)} ms, step +${Math.round(row.firstStepMs)} ms; ${row.outcome}; one ${row.oneRuns}, three ${row.threeRuns}, victim starts ${row.victimStarts}, old leader acted ${row.oldLeaderActionsAfter}, old-epoch writes after ${row.oldEpochWritesAfterNew}${kind === "stall" ? `, follower again ${row.rejoinedAsFollower}` : ""}`,
      );
    }
  } finally {
    for (const m of nodes.values()) {
      if (alive(m.pid)) killPid(m.pid, "SIGCONT");
      await stopChild(m.child, 10_000);
    }
    const pid = readPid(pidFile);
    if (pid && alive(pid)) killPid(pid, "SIGKILL");
  }
  return rows;
}

/** pg_stat_database's counters of the medic database, and per table of it (pg_stat_user_tables). */
async function counters(db) {
  const [d] = await db.sql(
    `SELECT xact_commit::float8 AS commits, xact_rollback::float8 AS rollbacks, tup_inserted::float8 AS inserted,
       tup_updated::float8 AS updated, tup_deleted::float8 AS deleted, tup_fetched::float8 AS fetched, tup_returned::float8 AS returned
       FROM pg_stat_database WHERE datname = 'medic'`,
  );
  return d;
}
async function tableCounters(db) {
  const rows = await db.medicSql(
    "SELECT relname, n_tup_ins::float8 AS ins, n_tup_upd::float8 AS upd, n_tup_hot_upd::float8 AS hot, n_tup_del::float8 AS del FROM pg_stat_user_tables",
  );
  return Object.fromEntries(rows.map((r) => [r.relname, r]));
}

/** Statements on the medic database in the server's log, per application_name (log_statement = all, log_line_prefix '%m|%d|%a|'). */
function statementsByApp(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const m = /^[^|]*\|medic\|([^|]*)\|(?:LOG: {2}(?:statement|execute [^:]*):)/.exec(line);
    if (m) out[m[1] || "(none)"] = (out[m[1] || "(none)"] ?? 0) + 1;
  }
  return out;
}

/**
 * Part 3: three nodes watching 1,000 healthy HTTP targets (interval 10 s, as in part 2) for loadMs:
 * the medic database's transactions and rows written, from PostgreSQL's own counters.
 */
async function load(base, db, { loadMs, log }) {
  const targets = 1000;
  const farm = await startFarm(targets, 0);
  const cluster = "load";
  const lines = [
    "playbooks: []",
    `defaults: { interval: ${SCALE_INTERVAL_MS}ms, timeout: 1s, failureThreshold: 1, successThreshold: 1 }`,
    "targets:",
  ];
  for (let i = 0; i < targets; i++) lines.push(`  - { name: t${i}, probe: { http: { url: "${farm.url(i)}" } } }`);
  const config = nodeConfig(cluster, lines.join("\n") + "\n");
  const nodes = [];
  try {
    for (const name of NODES) nodes.push(await startNode(join(base, "load"), db, name, config));
    const leader = await waitFor("a leader", () => leaderOf(db, cluster), 30_000, 100);
    await sleep(SCALE_INTERVAL_MS + 5000); // past every target's first round and a few heartbeats
    const t0s = await tableCounters(db);
    const c0 = await counters(db);
    const log0 = db.logOffset();
    const cpu0 = nodes.map((n) => cpuSeconds(n.pid));
    const w0 = now();
    await sleep(loadMs);
    const seconds = (now() - w0) / 1000;
    const c1 = await counters(db);
    const log1 = db.logOffset();
    const cpu1 = nodes.map((n) => cpuSeconds(n.pid));
    const t1s = await tableCounters(db);
    const after = await leaderOf(db, cluster);
    const perHour = (x) => (x * 3600) / seconds;
    const apps = statementsByApp(db.logSince(log0, log1));
    const perTable = {};
    for (const [name, t] of Object.entries(t1s)) {
      const b = t0s[name] ?? { ins: 0, upd: 0, del: 0 };
      const d = { insertedPerHour: perHour(t.ins - b.ins), updatedPerHour: perHour(t.upd - b.upd), deletedPerHour: perHour(t.del - b.del) };
      if (d.insertedPerHour || d.updatedPerHour || d.deletedPerHour) perTable[name] = d;
    }
    const row = {
      scenario: "cluster",
      part: "load",
      nodes: NODES.length,
      targets,
      intervalMs: SCALE_INTERVAL_MS,
      windowMs: seconds * 1000,
      leader: leader.node,
      leaderChanged: after?.epoch !== leader.epoch,
      xactPerSec: (c1.commits + c1.rollbacks - c0.commits - c0.rollbacks) / seconds,
      rollbacksPerSec: (c1.rollbacks - c0.rollbacks) / seconds,
      insertedPerHour: perHour(c1.inserted - c0.inserted),
      updatedPerHour: perHour(c1.updated - c0.updated),
      deletedPerHour: perHour(c1.deleted - c0.deleted),
      fetchedPerSec: (c1.fetched - c0.fetched) / seconds,
      perTable,
      statementsPerSecByApp: Object.fromEntries(Object.entries(apps).map(([a, n]) => [a, n / seconds])),
      cpuCoresByNode: Object.fromEntries(nodes.map((n, i) => [n.name, (cpu1[i] - cpu0[i]) / seconds])),
    };
    row.writtenPerHour = row.insertedPerHour + row.updatedPerHour + row.deletedPerHour;
    log(
      `  cluster load: ${row.xactPerSec.toFixed(1)} transactions/s for the cluster (${(row.xactPerSec / 3).toFixed(1)} per node), rows written ${Math.round(row.writtenPerHour)}/h (${Math.round(row.writtenPerHour / 3)} per node); statements/s by app ${JSON.stringify(Object.fromEntries(Object.entries(row.statementsPerSecByApp).map(([a, v]) => [a, Math.round(v * 10) / 10])))}`,
    );
    return row;
  } finally {
    for (const m of nodes) await stopChild(m.child, 10_000);
    await stopChild(farm.child);
  }
}

/**
 * Part 4: one node on the file store, then one on the PostgreSQL store (a cluster of one), each
 * watching the same 1,000 healthy HTTP targets at 10 s plus one process target at 1 s that is
 * killed `reps` times: schedule drift over driftMs (as part 2 measures it) and kill-to-healthy (as part 1).
 */
async function single(base, db, store, { reps, driftMs, log }) {
  const dir = join(base, `single-${store}`);
  mkdirSync(dir, { recursive: true });
  const targets = 1000;
  const farm = await startFarm(targets, 0);
  const port = await freePort();
  const pidFile = join(dir, "web.pid");
  const url = `http://127.0.0.1:${port}/health`;
  const startArgv = [NODE, SERVICE, String(port), pidFile];
  const cluster = "single";
  const lines = [
    `playbooks: [${JSON.stringify(PLAYBOOKS)}]`,
    `defaults: { interval: ${SCALE_INTERVAL_MS}ms, timeout: 1s, failureThreshold: 1, successThreshold: 1 }`,
    OPEN_GUARDS.trimEnd(),
    "targets:",
    `  - name: web
    interval: 1s
    probe: { http: { url: "${url}" } }
    service:
      process:
        start: [${startArgv.map((a) => JSON.stringify(a)).join(", ")}]
        pidFile: ${JSON.stringify(pidFile)}
        stopTimeout: 1s`,
  ];
  for (let i = 0; i < targets; i++) lines.push(`  - { name: t${i}, probe: { http: { url: "${farm.url(i)}" } } }`);
  const body = lines.join("\n") + "\n";
  const healthy = async () => (await get(url, 300)).status === 200;
  spawn(startArgv[0], startArgv.slice(1), { detached: true, stdio: "ignore" }).unref();
  await waitFor("the service to answer", healthy, 10_000, 50);
  let medic;
  const opened = async (t0) =>
    store === "file"
      ? readJournal(medic.journal).find((r) => r.type === "opened" && r.target === "web" && r.at >= t0 - 1)
      : (
          await db.medicSql(
            "SELECT at::float8 AS at FROM medic_records WHERE cluster = $1 AND record->>'type' = 'opened' AND record->>'target' = 'web' AND at >= $2",
            [cluster, Math.floor(t0 - 1)],
          )
        )[0];
  const resolvedAt = async (t0) =>
    store === "file"
      ? readJournal(medic.journal).find((r) => (r.type === "resolved" || r.type === "escalated") && r.at >= t0 - 1)
      : (
          await db.medicSql(
            "SELECT at::float8 AS at, record->>'type' AS type FROM medic_records WHERE cluster = $1 AND record->>'type' IN ('resolved', 'escalated') AND at >= $2",
            [cluster, Math.floor(t0 - 1)],
          )
        )[0];
  // The first step's record: the action, once the records before it are durable (fsync of a segment, or COMMIT).
  const stepAt = async (t0) =>
    store === "file"
      ? readJournal(medic.journal).find((r) => r.type === "step_started" && r.at >= t0 - 1)
      : (
          await db.medicSql(
            "SELECT at::float8 AS at FROM medic_records WHERE cluster = $1 AND record->>'type' = 'step_started' AND at >= $2 ORDER BY seq LIMIT 1",
            [cluster, Math.floor(t0 - 1)],
          )
        )[0];
  const rows = [];
  try {
    medic = await startMedic(dir, store === "file" ? body : nodeConfig(cluster, body), {
      env: { MEDIC_STORE_URL: db.medicUrl, NODE_NAME: "solo" },
    });
    if (store === "postgres") await waitFor("the node to lead", () => medic.logs().includes("leading: daemon started"), 30_000, 50);
    const first = await scrape(medic.port);
    const w0 = now();
    const cpu0 = cpuSeconds(medic.pid);
    await sleep(SCALE_INTERVAL_MS + 2000); // past every target's first round
    for (let rep = 1; rep <= reps; rep++) {
      await waitFor("the service healthy", healthy, 60_000, 50);
      await sleep(1200 + Math.random() * 1000);
      const t0 = now();
      killPid(readPid(pidFile), "SIGKILL");
      const o = await waitFor("medic to open an incident", () => opened(t0), 30_000, 10).catch(() => undefined);
      const healthyAt = await waitFor("the service healthy after the kill", async () => ((await healthy()) ? now() : 0), 60_000, 20).catch(
        () => NaN,
      );
      const r = await waitFor("medic to resolve it", () => resolvedAt(t0), 60_000, 50).catch(() => undefined);
      const step = await stepAt(t0);
      const row = {
        scenario: "cluster",
        part: "single-recovery",
        store,
        rep,
        detectMs: o ? o.at - t0 : NaN,
        actionMs: step ? step.at - t0 : NaN,
        healthyMs: healthyAt - t0,
        verifiedMs: r?.type === "resolved" ? r.at - t0 : NaN,
      };
      rows.push(row);
      log(
        `  cluster single ${store} kill ${rep}: detect ${Math.round(row.detectMs)} ms, first step ${Math.round(row.actionMs)} ms, healthy ${Math.round(row.healthyMs)} ms, verified ${Math.round(row.verifiedMs)} ms`,
      );
    }
    if (now() < w0 + driftMs) await sleep(w0 + driftMs - now());
    const last = await scrape(medic.port);
    const cpu = (cpuSeconds(medic.pid) - cpu0) / ((now() - w0) / 1000);
    const arrivals = await farm.stats();
    const d = drifts(arrivals, SCALE_INTERVAL_MS, w0 + SCALE_INTERVAL_MS);
    const row = {
      scenario: "cluster",
      part: "single-drift",
      store,
      targets: targets + 1,
      intervalMs: SCALE_INTERVAL_MS,
      windowMs: now() - w0,
      rounds: d.length,
      driftP50Ms: percentile(d, 50),
      driftP99Ms: percentile(d, 99),
      driftMaxMs: percentile(d, 100),
      lateP50Ms: lateQuantile(first.late, last.late, 50),
      lateP99Ms: lateQuantile(first.late, last.late, 99),
      loopP99Ms: last.loop.p99,
      cpuCores: cpu,
      startupMs: medic.startupMs,
    };
    rows.push(row);
    const h = summary(rows.filter((r) => r.part === "single-recovery").map((r) => r.healthyMs));
    log(
      `  cluster single ${store}: drift p50 ${row.driftP50Ms?.toFixed(1)} p99 ${row.driftP99Ms?.toFixed(1)} max ${row.driftMaxMs?.toFixed(1)} ms, late p99 <= ${row.lateP99Ms} ms; kill -> healthy median ${Math.round(h.median)} ms`,
    );
    return rows;
  } finally {
    await stopChild(medic?.child, 10_000);
    await stopChild(farm.child);
    const pid = readPid(pidFile);
    if (pid && alive(pid)) killPid(pid, "SIGKILL");
  }
}
