import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatIssue } from "../config/issues.js";
import { loadConfig } from "../config/load.js";
import { openDaemon } from "../daemon/open.js";
import { liveTarget } from "../targets.js";
import { describeRecord } from "../incidents/describe.js";
import type { JournalRecord } from "../incidents/types.js";
import { sleep } from "../lib/clock.js";
import { formatDuration } from "../lib/duration.js";
import { describeError } from "../lib/errors.js";
import { createLogger } from "../lib/log.js";
import { isAlive, readPidFile } from "../lib/proc.js";
import { EXIT, print, printError } from "./output.js";

const SHIPPED_PLAYBOOKS = fileURLToPath(new URL("../../playbooks", import.meta.url));
const SERVICE_SCRIPT = fileURLToPath(new URL("../demo/service.js", import.meta.url));
const INTERVAL = "250ms";

/**
 * `medic demo`: the whole loop on a demo service, self-contained. Starts a small HTTP service,
 * watches it with a generated config and the shipped playbooks, kills it (medic restarts it),
 * then breaks its database (a restart cannot fix that: medic escalates), and cleans up.
 */
export async function demoCommand(opts: { verbose?: boolean }): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "medic-demo-"));
  const out = (line = "") => print(line + "\n");
  const port = await freePort();
  const configFile = join(dir, "medic.yaml");
  writeFileSync(configFile, demoConfig(dir, port));
  const loaded = await loadConfig(configFile);
  if (!loaded.ok) {
    for (const issue of loaded.issues) printError(formatIssue(issue) + "\n");
    return EXIT.badConfig;
  }
  const config = loaded.config;
  const service = liveTarget(config.targets[0]!, config.baseDir).service!;
  const pidFile = join(dir, "demo-api.pid");

  const records: JournalRecord[] = [];
  const waiters = new Set<() => void>();
  const log = createLogger({ level: opts.verbose ? "info" : "silent", pretty: true, destination: process.stderr });
  let since = 0;
  const daemon = await openDaemon({
    config,
    log,
    onRecord: (record, incident) => {
      records.push(record);
      out(`  +${formatDuration(record.at - since).padStart(6)}  ${describeRecord(record, incident)}`);
      for (const wake of waiters) wake();
    },
  });
  const waitFor = async (what: string, pred: (r: JournalRecord) => boolean, timeoutMs: number): Promise<JournalRecord> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = records.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const wake = () => (waiters.delete(wake), resolve());
        waiters.add(wake);
        setTimeout(wake, 200);
      });
    }
  };

  try {
    const started = await service.start(AbortSignal.timeout(10_000));
    if (!started.ok) throw new Error(`the demo service did not start: ${started.detail}`);
    const pid = (await readPidFile(pidFile))!;
    out(`medic demo: watching a demo HTTP service (pid ${pid}) at http://127.0.0.1:${port}/health every ${INTERVAL}`);
    out(`  config ${configFile}`);
    out(`  playbooks ${SHIPPED_PLAYBOOKS}`);
    await daemon.start();
    await sleep(1000);

    out();
    out(`Break 1: kill -9 the service (pid ${pid}); the shipped server_down playbook restarts it`);
    since = Date.now();
    process.kill(pid, "SIGKILL");
    const opened1 = await waitFor("the incident to open", (r) => r.type === "opened", 15_000);
    const resolved1 = await waitFor("the incident to resolve", (r) => r.type === "resolved" && r.incident === opened1.incident, 40_000);
    await daemon.idle();
    const detect1 = opened1.at - since;
    const healthy1 = resolved1.at - since;
    out(`  => detected in ${formatDuration(detect1)}, healthy again (verified) ${formatDuration(healthy1)} after the kill`);

    out();
    out("Break 2: the service's database goes away; restarting the service cannot fix that");
    await sleep(1000);
    since = Date.now();
    writeFileSync(join(dir, "db-broken"), "");
    const opened2 = await waitFor("the second incident", (r) => r.type === "opened" && r.incident !== opened1.incident, 15_000);
    await waitFor("the escalation", (r) => r.type === "escalated" && r.incident === opened2.incident, 45_000);
    await waitFor("the page", (r) => r.type === "notification_sent" && r.incident === opened2.incident, 5_000);
    out("  => medic gave up and paged (console notifier); a human fixes the database");
    rmSync(join(dir, "db-broken"));
    await waitFor("the recovery", (r) => r.type === "resolved" && r.incident === opened2.incident, 15_000);
    await daemon.idle();

    out();
    out(
      `Summary: detection ${formatDuration(detect1)} (interval ${INTERVAL}, ${config.targets[0]!.failureThreshold} failed rounds), ` +
        `kill to verified healthy ${formatDuration(healthy1)}, nobody paged; the unfixable break was paged and resolved once fixed.`,
    );
    return EXIT.ok;
  } catch (err) {
    printError(`medic demo failed: ${describeError(err)}\n`);
    return EXIT.unhealthy;
  } finally {
    await daemon.stop().catch(() => {});
    await service.stop(AbortSignal.timeout(10_000));
    const left = await readPidFile(pidFile);
    if (left !== undefined && (await isAlive(left))) process.kill(left, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

function demoConfig(dir: string, port: number): string {
  return `# generated by medic demo
stateDir: ${JSON.stringify(join(dir, "state"))}
playbooks: [${JSON.stringify(SHIPPED_PLAYBOOKS)}]
defaults: { interval: ${INTERVAL}, timeout: 1s, failureThreshold: 3, successThreshold: 2 }
# Page (here: the console notifier, medic's log) only for what medic cannot fix within a minute.
escalation: { P1: [ { after: 1m, notify: [console] } ] }
targets:
  - name: demo-api
    probe: { http: { url: "http://127.0.0.1:${port}/health" } }
    service:
      process:
        start: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SERVICE_SCRIPT)}, "${port}", ${JSON.stringify(dir)}]
        pidFile: demo-api.pid
        logFile: demo-api.log
        stopTimeout: 2s
`;
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
