import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { findPostgresBin, INSTALL_HINT, startDemoPostgres, type DemoPostgres } from "../demo/postgres-server.js";
import { describeRecord } from "../incidents/describe.js";
import type { JournalRecord } from "../incidents/types.js";
import { sleep } from "../lib/clock.js";
import { formatDuration } from "../lib/duration.js";
import { describeError } from "../lib/errors.js";
import { isAlive, readCmdline, readPidFile } from "../lib/proc.js";
import { freePort } from "./demo.js";
import { EXIT, print, printError } from "./output.js";

const MEDIC = fileURLToPath(new URL("./main.js", import.meta.url));
const SERVICE_SCRIPT = fileURLToPath(new URL("../demo/service.js", import.meta.url));
const NODES = ["node-1", "node-2", "node-3"];

/**
 * `medic demo cluster`: three medics as one, on a throwaway PostgreSQL. A service breaks; the
 * leader starts fixing it and is killed -9 in the middle of the playbook; a follower takes over,
 * finishes the fix without repeating what was done, and the on-call gets one page.
 */
export async function demoClusterCommand(opts: { verbose?: boolean }): Promise<number> {
  const bin = findPostgresBin();
  if (!bin) {
    printError(`medic demo cluster needs PostgreSQL's server programs (pg_ctl, initdb), and found none (hint: ${INSTALL_HINT})\n`);
    return EXIT.unhealthy;
  }
  const out = (line = "") => print(line + "\n");
  const dir = mkdtempSync(join(tmpdir(), "medic-demo-cluster-"));
  const children: ChildProcess[] = [];
  let db: DemoPostgres | undefined;
  let client: pg.Client | undefined;
  let receiver: Server | undefined;
  try {
    const [dbPort, apiPort, hookPort] = [await freePort(), await freePort(), await freePort()];
    out(`medic demo cluster: a throwaway PostgreSQL (${bin}) on 127.0.0.1:${dbPort}, three medics, one demo service`);
    db = await startDemoPostgres(bin, dir, dbPort);
    client = await connect(`postgres://postgres@127.0.0.1:${dbPort}/postgres`);
    await client.query("CREATE ROLE medic LOGIN");
    await client.query("CREATE DATABASE medic OWNER medic");
    await client.end();
    client = await connect(`postgres://medic@127.0.0.1:${dbPort}/medic`);

    // The on-call's pager: a local receiver that speaks Slack's webhook protocol and counts what it gets.
    const pages: { text: string }[] = [];
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        pages.push({ text: (JSON.parse(body) as { text?: string }).text ?? "" });
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((resolve) => receiver!.listen(hookPort, "127.0.0.1", resolve));

    const service = spawn(process.execPath, [SERVICE_SCRIPT, String(apiPort), dir], { stdio: "ignore", detached: true });
    children.push(service);
    writeFileSync(join(dir, "demo-api.pid"), `${service.pid}\n`);
    writeFileSync(join(dir, "medic.yaml"), demoConfig(dir, apiPort, dbPort, hookPort));
    writeFileSync(join(dir, "playbooks.yaml"), PLAYBOOK);
    const nodes = new Map<string, ChildProcess>();
    const start = (name: string) => {
      const log = opts.verbose ? "inherit" : openSync(join(dir, `${name}.log`), "a");
      const child = spawn(
        process.execPath,
        [MEDIC, "run", "--config", join(dir, "medic.yaml"), "--state-dir", join(dir, name), "--api-listen", "off"],
        {
          env: { ...process.env, NODE_NAME: name, MEDIC_LOG_LEVEL: process.env.MEDIC_LOG_LEVEL ?? "info" },
          stdio: ["ignore", log, log],
        },
      );
      children.push(child);
      nodes.set(name, child);
    };
    for (const name of NODES) start(name);
    const leader = async () =>
      (
        await client!
          .query<{ node: string; epoch: string }>("SELECT node, epoch FROM medic_leader WHERE cluster = 'demo'")
          .catch(() => ({ rows: [] }))
      ).rows[0];
    const first = await until(async () => (await leader())?.node, 30_000, "a leader");
    out(`  ${first} leads (epoch ${(await leader())!.epoch}); the others follow and probe too`);
    await sleep(1_500);

    const narrate = narrator(client, out);
    out();
    out(`Break: kill -9 the demo service (pid ${service.pid}); the playbook waits 4 s, then starts it`);
    const broke = Date.now();
    process.kill(service.pid!, "SIGKILL");
    await until(async () => (await narrate()).some((r) => r.type === "step_started" && r.index === 0), 30_000, "the playbook to start");
    await sleep(1_000);
    const killedAt = Date.now();
    nodes.get(first)!.kill("SIGKILL");
    out(`  --- kill -9 ${first}, the leader, in the middle of the playbook ---`);
    const next = await until(
      async () => {
        const l = await leader();
        return l && l.node !== first ? l : undefined;
      },
      30_000,
      "a new leader",
    );
    out(`  ${next.node} took over at epoch ${next.epoch} ${formatDuration(Date.now() - killedAt)} after the kill`);
    const resolved = await until(async () => (await narrate()).find((r) => r.type === "resolved"), 60_000, "the incident to resolve");
    await until(async () => pages.length >= 2 || undefined, 15_000, "the resolve to reach the pager");
    await narrate();
    out();
    const triggers = pages.filter((p) => !/resolved/i.test(p.text)).length;
    out(
      `Summary: broken to verified healthy in ${formatDuration(resolved.at - broke)} across a failover; ` +
        `the on-call got ${triggers === 1 ? "one page" : `${triggers} pages`} and its resolve (${pages.length} messages), ` +
        `and no step that was done ran twice.`,
    );
    if (triggers !== 1) throw new Error(`expected one page, the pager got ${triggers}`);
    return EXIT.ok;
  } catch (err) {
    printError(`medic demo cluster failed: ${describeError(err)} (the nodes' logs were in ${dir}; --verbose shows them)\n`);
    return EXIT.unhealthy;
  } finally {
    for (const c of children) if (c.pid && (await isAlive(c.pid))) c.kill("SIGKILL");
    // The service as the cluster restarted it is no child of ours: its pid file says which it is.
    const restarted = await readPidFile(join(dir, "demo-api.pid"));
    // Only if it is still that service (its command line names this demo's dir): a reused pid is someone else's.
    if (restarted !== undefined && (await readCmdline(restarted))?.includes(dir)) process.kill(restarted, "SIGKILL");
    await client?.end().catch(() => {});
    receiver?.close();
    await db?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Prints each record the cluster stores as it comes, with the node and epoch that wrote it.
function narrator(client: pg.Client, out: (line: string) => void): () => Promise<JournalRecord[]> {
  const seen: JournalRecord[] = [];
  let since = 0;
  let first: number | undefined;
  return async () => {
    const { rows } = await client.query<{ seq: string; node: string; epoch: string; record: JournalRecord }>(
      "SELECT seq, node, epoch, record FROM medic_records WHERE cluster = 'demo' AND seq > $1 ORDER BY seq",
      [since],
    );
    for (const r of rows) {
      since = Number(r.seq);
      first ??= r.record.at;
      seen.push(r.record);
      out(`  +${formatDuration(r.record.at - first).padStart(6)}  [${r.node} e${r.epoch}]  ${describeRecord(r.record)}`);
    }
    return seen;
  };
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, statement_timeout: 5_000 });
  client.on("error", () => {});
  await client.connect();
  return client;
}

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const PLAYBOOK = `name: restart-demo
on: [server_down]
steps:
  - wait: 4s
  - service.start: {}
verify: { within: 20s }
`;

function demoConfig(dir: string, apiPort: number, dbPort: number, hookPort: number): string {
  return `# generated by medic demo cluster
playbooks: [./playbooks.yaml]
store: { postgres: { url: "postgres://medic@127.0.0.1:${dbPort}/medic" } }
cluster: { name: demo, node: "\${NODE_NAME}", leaseTtl: 3s }
defaults: { interval: 250ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
notify:
  slack: { webhookUrl: "http://127.0.0.1:${hookPort}/pager" }
escalation: { P1: [ { after: 0s, notify: [slack] } ] }
targets:
  - name: demo-api
    probe: { http: { url: "http://127.0.0.1:${apiPort}/health" } }
    service:
      process:
        start: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SERVICE_SCRIPT)}, "${apiPort}", ${JSON.stringify(dir)}]
        pidFile: demo-api.pid
        stopTimeout: 2s
`;
}
