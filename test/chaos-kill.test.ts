import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseJournal } from "../src/incidents/journal-read.js";
import type { JournalRecord } from "../src/incidents/types.js";
import { readPidFile, isAlive } from "../src/lib/proc.js";
import { cases, rng, SEED } from "./chaos-common.js";
import { startPagerDutyReceiver, type PagerDutyReceiver } from "./fixtures/pagerduty-receiver.js";
import { startSlackReceiver, type SlackReceiver } from "./fixtures/slack-receiver.js";
import {
  cleanup,
  freePort,
  journal,
  journalText,
  killOnCleanup,
  serviceConfig,
  startMedic,
  startService,
  tempDir,
  waitUntil,
} from "./harness.js";

afterEach(cleanup);

const ROUTING_KEY = "0123456789abcdef0123456789abcdef";
const NODE = JSON.stringify(process.execPath);
let slack: SlackReceiver;
let pd: PagerDutyReceiver;
beforeAll(async () => {
  slack = await startSlackReceiver();
  pd = await startPagerDutyReceiver();
});
afterAll(async () => {
  await slack?.close();
  await pd?.close();
});

/** One run: an incident with a playbook (a non-idempotent exec, a wait, a restart) and P1 escalation; medic kill -9ed at `killAfterMs`. */
async function run(killAfterMs: number, label: string): Promise<void> {
  const dir = tempDir();
  const port = await freePort();
  const marker = join(dir, "marker");
  mkdirSync(join(dir, "playbooks"));
  const exec = `require("fs").appendFileSync(process.argv[1], "one " + process.pid + "\\n")`;
  writeFileSync(
    join(dir, "playbooks/restart.yaml"),
    `name: chaos-restart
on: [server_down]
steps:
  - exec: { argv: [${NODE}, "-e", ${JSON.stringify(exec)}, ${JSON.stringify(marker)}] }
  - wait: 1s
  - service.restart:
verify: { within: 20s }
`,
  );
  const config = join(dir, "medic.yaml");
  writeFileSync(
    config,
    serviceConfig(dir, port, { playbooks: join(dir, "playbooks") }) +
      `notify:
  slack: { webhookUrl: "${slack.url}", timeout: 1s }
  pagerduty: { routingKey: "${ROUTING_KEY}", server: "${pd.server}", ca: ${JSON.stringify(pd.caFile)}, timeout: 1s }
  retry: { initial: 200ms, max: 1s, attempts: 100 }
`,
  );
  const pidFile = join(dir, "api.pid");
  killOnCleanup(pidFile);
  const servicePid = await startService(dir, port, pidFile);
  const stateDir = join(dir, "state");

  const first = startMedic(["run", "--config", config]);
  await waitUntil(() => first.stdout().includes("medic started"), 10_000, "medic to start");
  process.kill(-servicePid, "SIGKILL");
  await new Promise((r) => setTimeout(r, killAfterMs));
  first.child.kill("SIGKILL");
  await first.exited;

  const second = startMedic(["run", "--config", config]);
  await waitUntil(() => second.stdout().includes("medic started"), 10_000, "medic to start again");
  // A crash inside the non-idempotent exec leaves it to a human: one restarts the service by hand.
  const resolved = await waitUntil(
    async () => {
      const records = journal(stateDir);
      if (records.some((r) => r.type === "escalated" && /not safe to run again/.test(r.reason))) {
        const pid = await readPidFile(pidFile);
        if (!pid || !(await isAlive(pid))) await startService(dir, port, pidFile);
      }
      return records.find((r) => r.type === "resolved");
    },
    45_000,
    `${label}: the incident to resolve`,
  );
  // Every notification the journal queued is delivered (or superseded by a later one, never sent) before medic says so.
  await waitUntil(
    () => {
      const records = journal(stateDir);
      const queued = records.filter((r) => r.type === "notification_queued");
      const done = (id: string) =>
        records.some((s) => (s.type === "notification_sent" || s.type === "notification_superseded") && s.id === id);
      return queued.length >= 4 && queued.every((q) => q.type === "notification_queued" && done(q.notification.id));
    },
    20_000,
    `${label}: every notification sent`,
  );
  second.child.kill("SIGTERM");
  expect(await second.exited, label).toBe(0);

  const text = journalText(stateDir);
  const parsed = parseJournal(text);
  expect(parsed.skipped, `${label}: journal readable`).toBe(0);
  const records: JournalRecord[] = parsed.records;
  const incident = resolved.incident;
  expect(
    records.filter((r) => r.type === "opened"),
    label,
  ).toHaveLength(1);
  expect(
    records.filter((r) => r.type === "resolved"),
    label,
  ).toHaveLength(1);

  // PagerDuty: one page per alert. A kill between PagerDuty's 202 and the journal's notification_sent
  // sends that event again on restart (at least once, never lost); it carries the same dedup_key, so
  // PagerDuty merges it. A crash inside the exec escalates ("not safe to run again"): the alert medic
  // acknowledged cannot ring again, so the page after it goes to <id>:2. What must never happen: a
  // key beyond that, or a trigger after a key's resolve (that would page again).
  const ours = pd.events.filter(
    (e) => e.status === 202 && typeof e.body === "object" && String(e.body.dedup_key).startsWith(incident.slice(0, 8)),
  );
  const keys = [...new Set(ours.map((e) => String(e.body.dedup_key)))];
  const escalated = records.some((r) => r.type === "escalated");
  expect(keys, `${label}: PD dedup keys`).toEqual(escalated && keys.length > 1 ? [incident, `${incident}:2`] : [incident]);
  for (const key of keys) {
    const actions = ours.filter((e) => e.body.dedup_key === key).map((e) => e.body.event_action);
    expect(actions.filter((a) => a === "trigger").length, `${label}: PD triggers of ${key}`).toBeGreaterThanOrEqual(1);
    expect(actions.filter((a) => a === "resolve").length, `${label}: PD resolves of ${key}`).toBeGreaterThanOrEqual(1);
    expect(actions.lastIndexOf("trigger"), `${label}: PD trigger after the resolve of ${key}`).toBeLessThan(actions.indexOf("resolve"));
    // A resend is the exception, not the rule: each action at most twice.
    expect(actions.length, `${label}: PD events of ${key} (${actions.join(", ")})`).toBeLessThanOrEqual(4);
  }
  expect(
    [...pd.alerts()].filter(([k, a]) => keys.includes(k) && a.status !== "resolved"),
    `${label}: PD alerts left open`,
  ).toEqual([]);
  // Slack: every message the journal holds as sent was posted (at least once) and names the incident.
  const slackSent = records.filter((r) => r.type === "notification_sent" && r.channel === "slack").length;
  const posted = slack.posted().filter((m) => JSON.stringify(m.body).includes(incident));
  expect(slackSent, label).toBeGreaterThanOrEqual(2);
  expect(posted.length, `${label}: slack messages posted`).toBeGreaterThanOrEqual(slackSent);

  // No step the journal recorded done ran again (a step cut off by the crash may start again if idempotent).
  const starts = records.filter((r) => r.type === "step_started");
  const done = new Set<string>();
  const again: string[] = [];
  for (const r of records) {
    if (r.type === "step_finished" && r.outcome === "ok") done.add(`${r.runId}/${r.index}`);
    if (r.type === "step_started" && done.has(`${r.runId}/${r.index}`)) again.push(`${r.runId}/${r.index}`);
  }
  expect(again, `${label}: steps started again after the journal recorded them done`).toEqual([]);
  // The non-idempotent exec ran at most as often as the journal says it started.
  let ran = 0;
  try {
    ran = readFileSync(marker, "utf8").trim().split("\n").filter(Boolean).length;
  } catch {
    /* never ran */
  }
  expect(ran, label).toBeLessThanOrEqual(starts.filter((r) => r.type === "step_started" && r.index === 0).length);
}

describe("chaos: medic kill -9ed at a random instant during an incident", () => {
  const n = cases(3, 50);
  it(
    `${n} runs: one page per alert (a second key only after a failed fix, no trigger after a resolve), every notification delivered, no step run twice (seed ${SEED})`,
    async () => {
      const r = rng(SEED);
      for (let i = 0; i < n; i++) {
        // From before detection to after the resolve: the whole life of the incident.
        const killAfterMs = 100 + r.int(6000);
        await run(killAfterMs, `seed ${SEED} run ${i} (kill after ${killAfterMs} ms)`);
        await cleanup();
      }
    },
    cases(180_000, 3_600_000),
  );
});
