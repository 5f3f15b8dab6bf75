import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cases, rng, SEED } from "./chaos-common.js";
import { startPagerDutyReceiver, type PagerDutyReceiver } from "./fixtures/pagerduty-receiver.js";
import { startPgProxy, type PgProxy } from "./fixtures/pg-proxy.js";
import { startStoreDb, type StoreDb } from "./fixtures/store-db.js";
import { cleanup, freePort, killOnCleanup, onCleanup, startMedic, startService, tempDir, waitUntil, type MedicProcess } from "./harness.js";

// A cluster of three medics under random faults: one incident after another, and while each is
// being fixed a random node is killed -9, stopped past its lease, or cut off from the store (its
// own TCP proxy to PostgreSQL stalls or drops). Pass: no two nodes act in overlapping time (seen
// from the actions' own log), no step recorded done runs again, one page per incident (one dedup
// key, nothing after its resolve), every incident ends. `npm run chaos` runs 50; `npm test` 3.

const INCIDENTS = cases(3, 50);
const NODE = JSON.stringify(process.execPath);
const ROUTING_KEY = "CHAOSKEY0123456789abcdef01234567";
const NODES = ["n1", "n2", "n3"];
let store: StoreDb;
let pd: PagerDutyReceiver;

beforeAll(async () => {
  store = await startStoreDb();
  pd = await startPagerDutyReceiver();
}, 60_000);
afterAll(async () => {
  await pd?.close();
  await store?.db.destroy();
});
afterEach(cleanup);

const sql = <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => store.sql<R>(text, values);

describe("a cluster under random kill -9, SIGSTOP and partitions", () => {
  it(
    `${INCIDENTS} incidents: no overlapping actions, no step re-run after done, one page each, every one ends (seed ${SEED})`,
    async () => {
      const random = rng(SEED);
      const dir = tempDir();
      const port = await freePort();
      const marker = join(dir, "marker");
      mkdirSync(join(dir, "playbooks"));
      // Each exec logs its start, a tick every 20 ms while it runs, and its end, with the pid of the
      // medic that ran it (taken at the start: a medic killed -9 leaves its child to finish under
      // another parent). An exec cut off by a medic that lost the lead is killed: its last tick is
      // when it stopped acting.
      const exec = (word: string) =>
        `  - exec: { argv: [${NODE}, "-e", ${JSON.stringify(
          `const fs = require("fs"); const by = process.ppid; const log = (w) => fs.appendFileSync(process.argv[1], w + " ${word} " + by + " " + Date.now() + "\\n");` +
            ` log("start"); const t = setInterval(() => log("tick"), 20); setTimeout(() => (clearInterval(t), log("end")), 300);`,
        )}, ${JSON.stringify(marker)}] }\n`;
      writeFileSync(
        join(dir, "playbooks", "fix.yaml"),
        `name: fix\non: [server_down]\nsteps:\n${exec("before")}  - wait: 1s\n  - service.start:\nverify: { within: 15s }\n`,
      );
      const config = join(dir, "medic.yaml");
      writeFileSync(
        config,
        `playbooks: [./playbooks]
store: { postgres: { url: "\${MEDIC_STORE_URL}", statementTimeout: 2s } }
cluster: { name: chaos, node: "\${NODE_NAME}", leaseTtl: 3s }
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
safety: { flapGuard: { maxRuns: 1000, window: 1h, backoff: { initial: 1s, max: 1s } }, blastRadius: { maxRuns: 1000, window: 1h } }
notify:
  pagerduty: { routingKey: "\${PD_KEY}", server: "${pd.server}", ca: ${JSON.stringify(pd.caFile)}, timeout: 1s }
  retry: { initial: 200ms, max: 1s, attempts: 1000 }
escalation:
  P1: [ { after: 0s, notify: [pagerduty] } ]
targets:
  - name: api
    probe: { http: { url: "http://127.0.0.1:${port}/health" } }
    service:
      process:
        start: [${NODE}, ${JSON.stringify(join(import.meta.dirname, "..", "dist/demo/service.js"))}, "${port}", ${JSON.stringify(dir)}]
        pidFile: api.pid
        stopTimeout: 2s
`,
      );
      killOnCleanup(join(dir, "api.pid"));
      await startService(dir, port, join(dir, "api.pid"));

      // Each node reaches the store through a proxy of its own: a partition cuts one node off.
      const proxies = new Map<string, PgProxy>();
      const nodes = new Map<string, MedicProcess>();
      for (const name of NODES) {
        const proxy = await startPgProxy(store.db.port);
        proxies.set(name, proxy);
        onCleanup(() => proxy.close());
      }
      const start = (name: string) => {
        const url = store.url.replace(`:${store.db.port}/`, `:${proxies.get(name)!.port}/`);
        nodes.set(
          name,
          startMedic(["run", "--config", config, "--state-dir", join(dir, `state-${name}`)], {
            MEDIC_STORE_URL: url,
            NODE_NAME: name,
            PD_KEY: ROUTING_KEY,
          }),
        );
      };
      for (const name of NODES) start(name);
      const leader = async () =>
        (await sql<{ node: string }>("SELECT node FROM medic_leader WHERE cluster = 'chaos'").catch(() => []))[0]?.node;
      await waitUntil(leader, 30_000, "a leader");

      const faults: string[] = [];
      const since = Date.now();
      try {
        for (let n = 0; n < INCIDENTS; n++) {
          const pid = Number(readFileSync(join(dir, "api.pid"), "utf8"));
          const openedBefore = (await sql<{ n: number }>("SELECT count(*)::int AS n FROM medic_incidents WHERE cluster = 'chaos'"))[0]!.n;
          process.kill(pid, "SIGKILL");
          await new Promise((r) => setTimeout(r, 200 + random.int(2_300)));
          const lead = await leader();
          const victim = lead && random.next() < 0.67 ? lead : random.pick(NODES);
          const fault = random.pick(["kill", "stop", "stall", "drop"] as const);
          faults.push(`${n}: ${fault} ${victim}${victim === lead ? " (leader)" : ""}`);
          const m = nodes.get(victim)!;
          if (fault === "kill") {
            m.child.kill("SIGKILL");
            await m.exited;
            await new Promise((r) => setTimeout(r, 1_000));
            start(victim);
          } else if (fault === "stop") {
            m.child.kill("SIGSTOP");
            await new Promise((r) => setTimeout(r, 4_500));
            m.child.kill("SIGCONT");
          } else {
            const proxy = proxies.get(victim)!;
            if (fault === "stall") proxy.stall();
            else proxy.drop();
            await new Promise((r) => setTimeout(r, 4_500));
            proxy.heal();
          }
          // Every incident ends: resolved by the cluster, or, when it escalated (a step that is not
          // idempotent was cut off), by a person who starts the service, as the page asks.
          type Row = { id: string; state: string };
          const mine = () =>
            sql<Row>("SELECT id, state FROM medic_incidents WHERE cluster = 'chaos' ORDER BY opened_at OFFSET $1", [openedBefore]);
          await waitUntil(
            async () => {
              const rows = await mine().catch(() => []);
              const healthy = () =>
                fetch(`http://127.0.0.1:${port}/health`).then(
                  (r) => r.ok,
                  () => false,
                );
              if (rows.some((r) => r.state === "escalated") && !(await healthy())) await startService(dir, port, join(dir, "api.pid"));
              return rows.length > 0 && rows.every((r) => r.state === "resolved");
            },
            60_000,
            `incident ${n} to end (${faults.at(-1)})`,
          );
        }
      } catch (err) {
        throw new Error(`${(err as Error).message}; seed ${SEED}; faults so far: ${faults.join("; ")}`, { cause: err });
      }

      // No two medics acted in overlapping time, from the actions' own log.
      const runs: { pid: number; from: number; to: number; ended: boolean }[] = [];
      for (const line of readFileSync(marker, "utf8").trim().split("\n")) {
        const [what, , ppid, at] = line.split(" ");
        const open = runs.findLast((r) => r.pid === Number(ppid) && !r.ended);
        if (what === "start") runs.push({ pid: Number(ppid), from: Number(at), to: Number(at), ended: false });
        else if (open) {
          open.to = Number(at);
          open.ended = what === "end";
        }
      }
      const overlaps = runs.flatMap((a) =>
        runs.filter((b) => a.pid < b.pid && a.from < b.to && b.from < a.to).map((b) => `${a.pid}/${b.pid} at ${b.from}`),
      );
      expect(overlaps, `seed ${SEED}; ${faults.join("; ")}`).toEqual([]);

      // No step the journal recorded as done started again.
      const records = await sql<{ incident: string; type: string; run: string; index: number; outcome: string | null }>(
        `SELECT incident, record->>'type' AS type, record->>'runId' AS run, (record->>'index')::int AS index, record->>'outcome' AS outcome
         FROM medic_records WHERE cluster = 'chaos' AND record->>'type' IN ('step_started', 'step_finished') ORDER BY seq`,
      );
      const done = new Set<string>();
      const rerun: string[] = [];
      for (const r of records) {
        const key = `${r.incident}/${r.run}/${r.index}`;
        if (r.type === "step_started" && done.has(key)) rerun.push(key);
        if (r.type === "step_finished" && (r.outcome === "ok" || r.outcome === "skipped")) done.add(key);
      }
      expect(rerun, `seed ${SEED}`).toEqual([]);

      // One page per incident: one dedup key each, rung once, no trigger after its resolve.
      const incidents = (await sql<{ id: string }>("SELECT id FROM medic_incidents WHERE cluster = 'chaos' AND target = 'api'")).map(
        (r) => r.id,
      );
      expect(incidents.length).toBeGreaterThanOrEqual(INCIDENTS);
      const events = pd.events.filter((e) => e.at >= since && e.body?.routing_key === ROUTING_KEY);
      for (const id of incidents) {
        const mine = events.filter((e) => e.body.dedup_key === id).map((e) => e.body.event_action as string);
        expect(mine.filter((a) => a === "trigger").length, `incident ${id}: ${mine.join(",")}`).toBeGreaterThanOrEqual(1);
        expect(
          mine.slice(mine.indexOf("resolve") + 1).filter((a) => a === "trigger"),
          `incident ${id}: ${mine.join(",")}`,
        ).toEqual([]);
        expect(pd.alerts().get(id)?.rang, `incident ${id}`).toBe(1);
      }
      console.log(`chaos cluster: ${INCIDENTS} incidents, seed ${SEED}: ${faults.join("; ")}`);
    },
    60_000 + INCIDENTS * 75_000,
  );
});
