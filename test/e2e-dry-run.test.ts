import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isAlive, readPidFile } from "../src/lib/proc.js";
import { docker, runHttpContainer, type TestContainer } from "./docker-harness.js";
import {
  engineEvents,
  logLines,
  procStartTime,
  readOnly,
  recordingApp,
  refused,
  serverLog,
  STATEMENT_LOGGING,
  treeSnapshot,
  type LogLine,
} from "./fixtures/dry-run-evidence.js";
import { startPagerDutyReceiver } from "./fixtures/pagerduty-receiver.js";
import { startSlackReceiver } from "./fixtures/slack-receiver.js";
import { cleanup, freePort, onCleanup, SERVICE, SHIPPED_PLAYBOOKS, startMedic, startService, tempDir, waitUntil } from "./harness.js";
import { startCluster, SUPERUSER_PASSWORD, type Cluster } from "./pg-cluster.js";

afterEach(cleanup);

const MIB = 1024 ** 2;
const ROUTING_KEY = "0123456789abcdef0123456789abcdef";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Every shipped playbook, copied: only the session age filters are shortened from 5m to 1s, so the
 * database playbooks would act on this test's sessions (and previews name them) if medic acted.
 */
function shippedPlaybooks(dir: string): string {
  const out = join(dir, "playbooks");
  mkdirSync(out);
  for (const name of readdirSync(SHIPPED_PLAYBOOKS).filter((f) => f.endsWith(".yaml"))) {
    writeFileSync(join(out, name), readFileSync(join(SHIPPED_PLAYBOOKS, name), "utf8").replaceAll("olderThan: 5m", "olderThan: 1s"));
  }
  return out;
}

/** medic.yaml: the copied shipped playbooks, short intervals, Slack and PagerDuty told of every P1 and P2 at once. */
function configYaml(dir: string, o: { slack: string; pd: { server: string; caFile: string }; targets: string[] }): string {
  return `stateDir: ./state
playbooks: [${JSON.stringify(shippedPlaybooks(dir))}]
defaults: { interval: 300ms, timeout: 2s, failureThreshold: 2, successThreshold: 2 }
notify:
  slack: { webhookUrl: "\${SLACK_URL}", timeout: 1s }
  pagerduty: { routingKey: "\${PD_KEY}", server: "${o.pd.server}", ca: ${JSON.stringify(o.pd.caFile)}, timeout: 1s }
  retry: { initial: 200ms, max: 1s, attempts: 100 }
escalation:
  P1: [ { after: 0s, notify: [slack, pagerduty] } ]
  P2: [ { after: 0s, notify: [slack, pagerduty] } ]
targets:
${o.targets.join("")}`;
}

/** The demo service as a medic process service, as the process e2e tests run it. */
function processTarget(name: string, port: number, serviceDir: string, pidFile: string): string {
  return `  - name: ${name}
    probe: { http: { url: "http://127.0.0.1:${port}/health" } }
    service:
      process:
        start: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SERVICE)}, "${port}", ${JSON.stringify(serviceDir)}]
        pidFile: ${pidFile}
        stopTimeout: 2s
`;
}

/** A container target, as the Docker e2e tests write it. */
function containerTarget(c: TestContainer): string {
  return `  - name: ${c.name}
    labels: { runtime: docker }
    probe: { docker: { container: ${c.name} } }
    service: { docker: { container: ${c.name}, stopTimeout: 2s } }
`;
}

/** A cluster (destroyed at cleanup) that logs every statement, with a plain `app` role and a table to lock. */
async function cluster(settings: Record<string, string | number> = {}): Promise<Cluster> {
  const c = await startCluster({ ...STATEMENT_LOGGING, ...settings });
  onCleanup(() => c.destroy());
  await c.sql("CREATE ROLE app LOGIN PASSWORD 'app-pw'; CREATE TABLE orders (id int); GRANT ALL ON orders TO app");
  return c;
}

const pids = async (c: Cluster, list: number[]) =>
  await c.sql<{ pid: number; state: string }>("select pid, state from pg_stat_activity where pid = any($1) order by pid", [list]);
const postmasterStart = async (c: Cluster) => String((await c.sql<{ t: Date }>("select pg_postmaster_start_time() as t"))[0]!.t.getTime());

/** What the test reads about a container before and after: any start, restart or update changes it. */
async function containerState(c: TestContainer) {
  const i = await c.inspect();
  return {
    status: i.State.Status,
    startedAt: i.State.StartedAt,
    finishedAt: i.State.FinishedAt,
    exitCode: i.State.ExitCode,
    restartCount: i.RestartCount,
    memory: i.HostConfig.Memory,
    memorySwap: i.HostConfig.MemorySwap,
  };
}

describe("medic run --dry-run against real services", () => {
  it("detects every breakage, says which playbook it would run and whom it would tell, and changes nothing", async () => {
    const dir = tempDir("medic-dry-run-");
    const t0 = Date.now();

    // --- Break everything, the way the other e2e suites do, in parallel where it can be.
    const [txDb, poolDb, downDb, killed, stopped, oom, slack, pd] = await Promise.all([
      cluster(),
      cluster({ max_connections: 20 }),
      cluster(),
      runHttpContainer(),
      runHttpContainer(),
      runHttpContainer({ memory: 32 * MIB, cmd: ["/bin/busybox", "sh", "-c", 'x=$(head -c 30000000 /dev/zero | tr "\\0" a); sleep 3600'] }),
      startSlackReceiver(),
      startPagerDutyReceiver(),
    ]);
    onCleanup(() => slack.close());
    onCleanup(() => pd.close());

    // Process services: one killed outright, one alive and answering 503 (its database "down").
    const [deadPort, sickPort] = await Promise.all([freePort(), freePort()]);
    const deadDir = join(dir, "dead");
    const sickDir = join(dir, "sick");
    mkdirSync(deadDir);
    mkdirSync(sickDir);
    const deadPid = await startService(deadDir, deadPort, join(dir, "dead.pid"));
    const sickPid = await startService(sickDir, sickPort, join(dir, "sick.pid"));
    writeFileSync(join(sickDir, "db-broken"), "");
    process.kill(deadPid, "SIGKILL");

    // Containers: killed, stopped, OOM-killed.
    await docker.getContainer(killed.id).kill();
    await docker.getContainer(stopped.id).stop({ t: 1 });
    await waitUntil(async () => (await oom.inspect()).State.OOMKilled, 15_000, "the OOM kill");

    // PostgreSQL: a session idle in transaction holding a lock, with a session blocked behind it.
    const holder = await txDb.client("app", "app-pw");
    await holder.query("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE");
    const holderPid = (await holder.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
    const blocked = await txDb.client("app", "app-pw");
    const blockedPid = (await blocked.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
    let blockedDone = false;
    const blockedQuery = blocked.query("select count(*) as n from orders").then(
      () => (blockedDone = true),
      () => (blockedDone = true),
    );
    // PostgreSQL: 15 idle sessions of 17 client slots, the pool-exhaustion case.
    const idle = await Promise.all(Array.from({ length: 15 }, () => poolDb.client("app", "app-pw")));
    const idlePids = await Promise.all(
      idle.map(async (c) => (await c.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid),
    );
    const idleSince = Date.now();
    await poolDb.client(); // a superuser session: the pool-exhaustion e2e's load, and never a candidate
    // PostgreSQL: a cluster shut down with pg_ctl.
    await downDb.stop("fast");
    // An application that reports its pool saturated; it records every request it gets.
    const app = await recordingApp({ status: "healthy", database_status: "connected", connection_pool: { pool_utilization: 0.95 } });

    const config = join(dir, "medic.yaml");
    // The state dir exists, so a write needs no mkdir to succeed: any file that appears in it is medic's.
    const stateDir = join(dir, "state");
    mkdirSync(stateDir);
    writeFileSync(
      config,
      configYaml(dir, {
        slack: slack.url,
        pd,
        targets: [
          processTarget("api-dead", deadPort, deadDir, "dead.pid"),
          processTarget("api-sick", sickPort, sickDir, "sick.pid"),
          ...[killed, stopped, oom].map(containerTarget),
          `  - name: db-tx
    labels: { role: database }
    probe: { postgres: { url: "\${TX_URL}" } }
    thresholds: { idleInTransaction: 2s, queryDuration: 1h }
  - name: db-pool
    labels: { role: database }
    probe: { postgres: { url: "\${POOL_URL}" } }
  - name: db-down
    labels: { role: database }
    probe: { postgres: { url: "\${DOWN_URL}" } }
    service:
      process:
        start: ${JSON.stringify(downDb.serviceArgv)}
        pidFile: db-down.pid
        logFile: db-down.log
  - name: db-ok
    probe: { postgres: { url: "\${TX_URL}" } }
    thresholds: { idleInTransaction: 1h, queryDuration: 1h }
  - name: orders-app
    labels: { pool_resize: enabled, pool_admin_url: "${app.url}", pool_max_size: "40" }
    dependsOn: [db-ok]
    probe: { http: { url: "${app.url}/health" } }
`,
        ],
      }),
    );

    // --- What must not change, read before medic starts.
    const containers = [killed, stopped, oom];
    const before = {
      tree: treeSnapshot(dir),
      sickStart: procStartTime(sickPid),
      containers: await Promise.all(containers.map(containerState)),
      txPostmaster: await postmasterStart(txDb),
      poolPostmaster: await postmasterStart(poolDb),
    };
    expect(before.sickStart).toBeDefined();
    expect(before.containers.map((c) => c.status)).toEqual(["exited", "exited", "exited"]);
    const states = async () => Object.fromEntries((await pids(txDb, [holderPid, blockedPid])).map((r) => [r.pid, r.state]));
    expect(await states()).toEqual({ [holderPid]: "idle in transaction", [blockedPid]: "active" });
    expect(await pids(poolDb, idlePids)).toHaveLength(15);
    console.log(`dry-run e2e: everything broken in ${Date.now() - t0} ms`);

    // --- One dry run over all of it, once the idle sessions are past the playbooks' 1s age filter.
    await sleep(idleSince + 1500 - Date.now());
    const medicStartedAt = Date.now();
    const daemon = startMedic(["run", "--dry-run", "--config", config], {
      SLACK_URL: slack.url,
      PD_KEY: ROUTING_KEY,
      TX_URL: txDb.url(),
      POOL_URL: poolDb.url(),
      DOWN_URL: downDb.url(),
    });
    const expected: Record<string, RegExp[]> = {
      "api-dead": [/restart-on-server-down/, /service\.restart/],
      "api-sick": [/restart-app-on-db-disconnect/],
      [killed.name]: [/restart-container/, /docker\.restart/],
      [stopped.name]: [/restart-container/, /docker\.restart/],
      [oom.name]: [
        /raise-container-memory/,
        /would capture the state and last healthchecks of container /,
        /would set memory 32MiB -> 64MiB/,
      ],
      "db-tx": [/end-idle-transactions/, new RegExp(`would terminate pid ${holderPid}\\b`)],
      // The snapshot says what it would capture; the empty state dir below shows it kept nothing.
      "db-pool": [
        /free-idle-connections/,
        /would capture pg_stat_activity, lock waits and the longest transactions of /,
        ...idlePids.map((p) => new RegExp(`would terminate pid ${p}\\b`)),
      ],
      "db-down": [/start-database/, new RegExp(`start process \\[runuser .* -D ${downDb.dataDir} `)],
      "orders-app": [/free-connections-then-resize-pool/, /\/admin\/pool\/resize/],
    };
    const lines = () => logLines(daemon.stdout());
    const targetOf = (l: LogLine) =>
      (l.target as string | undefined) ??
      (lines().find((o) => o.msg === "incident opened" && o.incident === l.incident)?.target as string | undefined);
    const wouldRun = () => lines().filter((l) => /dry run: would run/.test(l.msg));
    const wouldNotify = () => lines().filter((l) => /dry run: would notify/.test(l.msg));
    const opened = () => lines().filter((l) => l.msg === "incident opened");
    const everyIncidentToldBoth = () =>
      opened().every((o) => ["slack", "pagerduty"].every((ch) => wouldNotify().some((n) => n.incident === o.incident && n.channel === ch)));
    await waitUntil(
      () => {
        const seen = new Set(wouldRun().map(targetOf));
        return Object.keys(expected).every((t) => seen.has(t)) && everyIncidentToldBoth();
      },
      45_000,
      `a dry-run plan for each of ${Object.keys(expected).join(", ")} and both notifications for each incident`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- medic stdout:\n${daemon.stdout().slice(-6000)}\n--- stderr:\n${daemon.stderr()}`);
    });
    console.log(`dry-run e2e: every plan and notification logged ${Date.now() - medicStartedAt} ms after medic started`);
    // Long enough for a playbook, a verify or a retried send to show itself, had medic started one.
    await sleep(2500);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    const log = lines();

    // --- It saw everything, and said what it would have done.
    for (const [target, patterns] of Object.entries(expected)) {
      const plans = wouldRun().filter((l) => targetOf(l) === target);
      expect(plans.length, `would-run lines for ${target}`).toBeGreaterThanOrEqual(1);
      const text = JSON.stringify(plans);
      for (const p of patterns) expect(text, `${target}'s dry-run plan`).toMatch(p);
    }
    // One incident per broken target, none for the healthy db-ok; Slack and PagerDuty would hear of each.
    expect(
      opened()
        .map((o) => o.target)
        .sort(),
    ).toEqual(Object.keys(expected).sort());
    expect(everyIncidentToldBoth()).toBe(true);
    // Saying what it would do leaks no secret: not the routing key, the webhook's path or the database password.
    for (const secret of [ROUTING_KEY, new URL(slack.url).pathname, SUPERUSER_PASSWORD]) expect(daemon.stdout()).not.toContain(secret);
    expect(
      log
        .filter((l) => /running playbook|incident (resolved|escalated)|notification (not delivered|failed)|internal error/.test(l.msg))
        .map((l) => l.msg),
    ).toEqual([]);

    // --- Nothing written: no journal, lock or controls in the state dir, no pid or log file, nothing else in the config's folder.
    expect(readdirSync(stateDir)).toEqual([]);
    expect(treeSnapshot(dir)).toEqual(before.tree);

    // --- No notification sent.
    expect(slack.messages).toEqual([]);
    expect(pd.events).toEqual([]);

    // --- No HTTP request but probes: the app was only ever asked for its health.
    expect(app.requests.length).toBeGreaterThanOrEqual(2);
    expect(new Set(app.requests)).toEqual(new Set(["GET /health"]));

    // --- No process signalled or started.
    expect(await readPidFile(join(dir, "dead.pid"))).toBe(deadPid);
    expect(await isAlive(deadPid)).toBe(false);
    expect(await refused(deadPort)).toBe(true);
    expect(await readPidFile(join(dir, "sick.pid"))).toBe(sickPid);
    expect(await isAlive(sickPid)).toBe(true);
    expect(procStartTime(sickPid)).toBe(before.sickStart);
    expect((await fetch(`http://127.0.0.1:${sickPort}/health`)).status).toBe(503);

    // --- No container touched: same state, and the engine logged no event for them while medic ran.
    expect(await Promise.all(containers.map(containerState))).toEqual(before.containers);
    expect(
      await engineEvents(
        containers.map((c) => c.id),
        medicStartedAt,
      ),
    ).toEqual([]);

    // --- No SQL that writes or signals; every session still there, the stopped cluster still down.
    expect(await states()).toEqual({ [holderPid]: "idle in transaction", [blockedPid]: "active" });
    expect(blockedDone).toBe(false); // neither cancelled nor let through
    expect((await pids(poolDb, idlePids)).map((r) => r.pid)).toEqual([...idlePids].sort((a, b) => a - b));
    expect(await postmasterStart(txDb)).toBe(before.txPostmaster);
    expect(await postmasterStart(poolDb)).toBe(before.poolPostmaster);
    for (const c of [txDb, poolDb]) {
      const { text, statements } = serverLog(join(c.dir, "log"));
      const medics = statements.filter((s) => s.app === "medic" || s.app === "medic-probe");
      // Not vacuous: the probe and the previews did query this cluster.
      expect(medics.some((s) => s.app === "medic-probe")).toBe(true);
      expect(medics.some((s) => s.app === "medic")).toBe(true);
      expect(medics.filter((s) => !readOnly(s.sql)).map((s) => s.sql)).toEqual([]);
      expect(text).not.toMatch(/terminating connection due to administrator command|canceling statement due to user request/);
    }
    expect(existsSync(join(downDb.dataDir, "postmaster.pid"))).toBe(false);
    expect(await refused(downDb.port)).toBe(true);

    await holder.query("ROLLBACK");
    await blockedQuery;
    expect(blockedDone).toBe(true);
    console.log(
      `dry-run e2e: ${Object.keys(expected).length} broken targets, ${wouldRun().length} would-run and ${wouldNotify().length} would-notify lines, total ${Date.now() - t0} ms`,
    );
  }, 120_000);
});
