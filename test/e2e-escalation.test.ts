import { createHmac } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { JournalRecord } from "../src/incidents/types.js";
import { startPagerDutyReceiver } from "./fixtures/pagerduty-receiver.js";
import { startSlackReceiver } from "./fixtures/slack-receiver.js";
import {
  apiUrl,
  cleanup,
  freePort,
  journal,
  journalText,
  medic,
  onCleanup,
  SERVICE,
  startMedic,
  startService,
  tempDir,
  waitUntil,
  type MedicProcess,
  switchableTarget,
} from "./harness.js";

afterEach(cleanup);

const ROUTING_KEY = "0123456789abcdef0123456789abcdef";

async function receivers() {
  const slack = await startSlackReceiver();
  const pd = await startPagerDutyReceiver();
  onCleanup(() => slack.close());
  onCleanup(() => pd.close());
  return { slack, pd };
}

function config(dir: string, pd: { server: string; caFile: string }, targets: string, extra = ""): string {
  const file = join(dir, "medic.yaml");
  mkdirSync(join(dir, "playbooks"), { recursive: true });
  writeFileSync(
    file,
    `stateDir: ./state
playbooks: [./playbooks]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
notify:
  slack: { webhookUrl: "\${SLACK_URL}", timeout: 1s }
  pagerduty: { routingKey: "\${PD_KEY}", server: "${pd.server}", ca: ${JSON.stringify(pd.caFile)}, timeout: 1s }
  retry: { initial: 200ms, max: 1s, attempts: 100 }
  breaker: { failures: 1000, cooldown: 1s }
${extra}targets:
${targets}`,
  );
  return file;
}

const env = (slackUrl: string) => ({ SLACK_URL: slackUrl, PD_KEY: ROUTING_KEY });

/** Receivers, a switchable target "api", and a config watching it; `extra` is more top-level YAML. */
async function scenario(extra = "") {
  const { slack, pd } = await receivers();
  const api = await switchableTarget();
  const dir = tempDir();
  const file = config(dir, pd, `  - { name: api, probe: { http: { url: "${api.url}" } } }\n`, extra);
  return { slack, pd, api, dir, file, state: join(dir, "state"), env: env(slack.url) };
}
const started = (p: MedicProcess) => waitUntil(() => p.stdout().includes("medic started"), 10_000, "medic to start");
/** The Slack messages' headers, in the order they were posted. */
const headers = (slack: { posted(): { body: { blocks: { type: string; text: { text: string } }[] } }[] }) =>
  slack.posted().map((m) => m.body.blocks.find((b) => b.type === "header")?.text.text);

type PdEvent = { status: number; body: { event_action: string; dedup_key: string; payload?: { severity: string; summary: string } } };

/** No secret in what medic printed or journaled. */
function expectNoSecrets(stdout: string, stateDir: string, slackUrl: string): void {
  for (const text of [stdout, journalText(stateDir)]) {
    expect(text).not.toContain(ROUTING_KEY);
    expect(text).not.toContain(new URL(slackUrl).pathname);
  }
}

describe("escalation to local Slack and PagerDuty receivers", () => {
  it("a P1 that medic cannot fix pages at once; when it recovers, the page resolves with the same dedup_key", async () => {
    const { slack, pd, api, dir, file } = await scenario();
    const daemon = startMedic(["run", "--config", file], env(slack.url));
    await started(daemon);
    api.set(500);
    const state = join(dir, "state");
    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened"), 10_000, "the incident");
    await waitUntil(() => pd.events.length >= 1 && slack.posted().length >= 1, 10_000, "the page and the Slack message");
    expect(pd.events[0]!.body).toMatchObject({ event_action: "trigger", dedup_key: opened.incident, payload: { severity: "critical" } });
    api.set(200);
    await waitUntil(() => pd.alerts().get(opened.incident)?.status === "resolved", 15_000, "the page to resolve");
    await waitUntil(() => slack.posted().length >= 2, 10_000, "the Slack resolve");
    expect((pd.events as PdEvent[]).map((e) => [e.body.event_action, e.body.dedup_key])).toEqual([
      ["trigger", opened.incident],
      ["resolve", opened.incident],
    ]);
    expect(JSON.stringify(slack.posted()[1]!.body)).toContain(opened.incident);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expectNoSecrets(daemon.stdout(), state, slack.url);
  }, 60_000);

  it("a P1 remediated: trigger, acknowledge when the playbook starts, resolve, all with the incident id as dedup_key", async () => {
    const { slack, pd, api, dir, file } = await scenario();
    writeFileSync(join(dir, "playbooks", "fix.yaml"), "name: fix\non: [server_down]\nsteps:\n  - wait: 1s\nverify: { within: 10s }\n");
    const daemon = startMedic(["run", "--config", file], env(slack.url));
    await started(daemon);
    api.set(500);
    const state = join(dir, "state");
    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened"), 10_000, "the incident");
    await waitUntil(() => journal(state).some((r) => r.type === "playbook_started"), 5_000, "the playbook");
    api.set(200); // "the playbook fixed it"
    await waitUntil(() => pd.alerts().get(opened.incident)?.status === "resolved", 15_000, "the page to resolve");
    expect((pd.events as PdEvent[]).map((e) => [e.body.event_action, e.body.dedup_key])).toEqual([
      ["trigger", opened.incident],
      ["acknowledge", opened.incident],
      ["resolve", opened.incident],
    ]);
    await slack.waitForMessages(2);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);

  it("a P2 still open after the configured delay is paged too, and both resolve later", async () => {
    const { slack, pd, api, dir, file } = await scenario(`rules:
  - { kind: queue_backlog, severity: P2, when: "[BODY].queue.depth > 1000" }
escalation:
  P2: [ { after: 0s, notify: [slack] }, { after: 2s, notify: [pagerduty] } ]
`);
    writeFileSync(
      join(dir, "playbooks", "backlog.yaml"),
      "name: drain\non: [queue_backlog]\nsteps:\n  - wait: 5s\nverify: { within: 20s }\n",
    );
    const daemon = startMedic(["run", "--config", file], env(slack.url));
    await started(daemon);
    api.set(200, { status: "UP", queue: { depth: 5000 } });
    const state = join(dir, "state");
    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened"), 10_000, "the incident");
    await waitUntil(() => slack.posted().length >= 1, 5_000, "Slack at once");
    expect(pd.events).toHaveLength(0);
    await waitUntil(() => pd.events.length >= 1, 6_000, "the page after 2 s");
    expect(pd.events[0]!.at - opened.at).toBeGreaterThanOrEqual(1_900);
    expect((pd.events[0] as PdEvent).body.payload).toMatchObject({ severity: "error" });
    api.set(200, { status: "UP", queue: { depth: 0 } });
    await waitUntil(() => pd.alerts().get(opened.incident)?.status === "resolved", 20_000, "the page to resolve");
    await waitUntil(() => slack.posted().length >= 2, 10_000, "the Slack resolve");
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);

  it("receivers down for a while: everything is delivered when they return, in order, none lost", async () => {
    const { slack, pd, api, dir, file } = await scenario();
    slack.setMode("error");
    pd.setMode("error");
    const daemon = startMedic(["run", "--config", file], env(slack.url));
    await started(daemon);
    api.set(500);
    const state = join(dir, "state");
    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened"), 10_000, "the incident");
    await new Promise((r) => setTimeout(r, 1500));
    api.set(200);
    await waitUntil(() => journal(state).some((r) => r.type === "resolved"), 10_000, "recovery");
    await new Promise((r) => setTimeout(r, 1000));
    slack.setMode("ok");
    pd.setMode("ok");
    await waitUntil(() => pd.alerts().get(opened.incident)?.status === "resolved", 15_000, "the page to arrive and resolve");
    await waitUntil(() => headers(slack).includes("Resolved: P1 server_down on api"), 10_000, "the Slack resolve");
    const accepted = (pd.events as PdEvent[]).filter((e) => e.body.dedup_key === opened.incident).map((e) => e.body.event_action);
    expect(accepted.at(-1)).toBe("resolve");
    expect(accepted.indexOf("trigger")).toBeLessThan(accepted.lastIndexOf("resolve"));
    expect(journal(state).filter((r) => r.type === "notification_failed")).toEqual([]);
    // Slack's trigger went out before the resolve, or (still unsent when the resolve came) was superseded by it and journaled so.
    const records = journal(state);
    const outcome = (id: string) =>
      records.find((r) => (r.type === "notification_sent" || r.type === "notification_superseded") && r.id === id)?.type;
    const toSlack = records.flatMap((r) =>
      r.type === "notification_queued" && r.notification.channel === "slack" ? [r.notification] : [],
    );
    const sentOrSuperseded = expect.stringMatching(/^notification_(sent|superseded)$/);
    expect(toSlack.map((n) => outcome(n.id) ?? "owed")).toEqual(
      toSlack.map((n) => (n.event === "resolve" ? "notification_sent" : sentOrSuperseded)),
    );
    expect(headers(slack).at(-1)).toBe("Resolved: P1 server_down on api");
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);

  it("kill -9 between queueing and sending, and between sending and acknowledgement: one alert, eventually resolved", async () => {
    const { slack, pd, api, dir, file } = await scenario();
    const state = join(dir, "state");

    pd.setMode("error"); // queued and written, never accepted
    let daemon = startMedic(["run", "--config", file], env(slack.url));
    await started(daemon);
    api.set(500);
    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened"), 10_000, "the incident");
    await waitUntil(
      () => journal(state).some((r) => r.type === "notification_queued" && r.notification.channel === "pagerduty"),
      5_000,
      "the page queued",
    );
    daemon.child.kill("SIGKILL");
    await daemon.exited;

    pd.setMode("hang"); // the receiver takes it but never answers
    daemon = startMedic(["run", "--config", file], env(slack.url));
    await waitUntil(() => pd.events.some((e) => (e as PdEvent).body.event_action === "trigger"), 10_000, "the owed page to be sent");
    daemon.child.kill("SIGKILL");
    await daemon.exited;

    pd.setMode("ok");
    daemon = startMedic(["run", "--config", file], env(slack.url));
    await started(daemon);
    api.set(200);
    await waitUntil(() => pd.alerts().get(opened.incident)?.status === "resolved", 20_000, "the page to resolve");
    expect([...pd.alerts().keys()]).toEqual([opened.incident]);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);

  it("a 400 from PagerDuty is not retried, is surfaced, and Slack is told", async () => {
    const { slack, pd, api, dir, file } = await scenario();
    pd.setMode("bad_request");
    const daemon = startMedic(["run", "--config", file], env(slack.url));
    await started(daemon);
    api.set(500);
    const state = join(dir, "state");
    const failed = await waitUntil(() => journal(state).find((r) => r.type === "notification_failed"), 10_000, "the failure");
    expect(failed).toMatchObject({ channel: "pagerduty", reason: "bad_request" });
    await waitUntil(
      () => slack.posted().some((m) => JSON.stringify(m.body).includes("could not notify pagerduty")),
      10_000,
      "Slack to hear of it",
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(pd.events).toHaveLength(1);
    const listed = await medic(["incidents", "--config", file], env(slack.url));
    expect(listed.stdout).toContain("1 FAILED");
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expectNoSecrets(daemon.stdout(), state, slack.url);
  }, 60_000);

  it("dry-run sends nothing; the log says what would have been sent", async () => {
    const { slack, pd, api, file } = await scenario();
    const daemon = startMedic(["run", "--dry-run", "--config", file], env(slack.url));
    await started(daemon);
    api.set(500);
    await waitUntil(() => (daemon.stdout().match(/dry run: would notify/g) ?? []).length >= 2, 10_000, "the would-notify lines");
    await new Promise((r) => setTimeout(r, 1000));
    expect(slack.messages).toEqual([]);
    expect(pd.events).toEqual([]);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);
});

describe("when medic gives up", () => {
  it("a failed fix pages the on-call again on an alert that rings, Slack hears why; killed mid-page, medic pages once more to the same alert; the human's fix resolves every alert", async () => {
    const { slack, pd } = await receivers();
    const dir = tempDir();
    const port = await freePort();
    const pid = await startService(dir, port, join(dir, "api.pid"));
    const file = config(
      dir,
      pd,
      `  - name: api
    probe: { http: { url: "http://127.0.0.1:${port}/health" } }
    service: { process: { start: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SERVICE)}, "${port}", ${JSON.stringify(dir)}], pidFile: api.pid, stopTimeout: 2s } }
`,
    );
    writeFileSync(
      join(dir, "playbooks", "restart.yaml"),
      "name: restart\non: [server_down]\nsteps:\n  - service.restart:\nverify: { within: 2s }\n",
    );
    const state = join(dir, "state");
    let daemon = startMedic(["run", "--config", file], env(slack.url));
    await started(daemon);
    // Whatever answers on the port from now on hangs: the restart medic tries cannot fix it.
    writeFileSync(join(dir, "hang"), "");
    process.kill(pid, "SIGKILL");

    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened"), 10_000, "the incident");
    const id = opened.incident;
    await waitUntil(() => pd.alerts().get(id)?.status === "acknowledged", 10_000, "medic's acknowledge while its playbook works");
    pd.setMode("hang"); // PagerDuty will take the page after the failed fix, and never answer
    const escalated = await waitUntil(() => journal(state).find((r) => r.type === "escalated"), 20_000, "the fix to fail");
    expect(escalated.type === "escalated" && escalated.reason).toMatch(/^verification/);
    const reason = `escalated: ${escalated.type === "escalated" && escalated.reason}`;
    await waitUntil(
      () => (pd.events as PdEvent[]).some((e) => e.body.dedup_key === `${id}:2`),
      10_000,
      "the page after the failed fix to reach PagerDuty",
    );
    const failed = await waitUntil(
      () => slack.posted().find((m) => JSON.stringify(m.body).includes("fix failed")),
      10_000,
      "Slack to hear the fix failed",
    );
    expect(failed.body.blocks[0].text.text).toBe("Medic's fix failed: P1 server_down on api");
    expect(JSON.stringify(failed.body)).toContain(reason);
    const slackSent = (r: JournalRecord) => r.type === "notification_sent" && r.channel === "slack";
    await waitUntil(() => journal(state).filter(slackSent).length === 2, 10_000, "Slack's messages journaled as sent");

    // and then? medic is killed before PagerDuty answered, and started again: the owed page goes out again, to the
    // same alert, which PagerDuty merges; nothing new is owed, nothing is paged twice.
    daemon.child.kill("SIGKILL");
    await daemon.exited;
    pd.setMode("ok");
    const queuedBefore = journal(state).filter((r) => r.type === "notification_queued").length;
    daemon = startMedic(["run", "--config", file], env(slack.url));
    await started(daemon); // the start reviews every incident before it says so
    expect(journal(state).filter((r) => r.type === "notification_queued")).toHaveLength(queuedBefore);
    // Actively paged: a new alert that rings, and the acknowledged one resolved, so one alert stays open.
    await waitUntil(
      () => pd.alerts().get(`${id}:2`)?.status === "triggered" && pd.alerts().get(id)?.status === "resolved",
      10_000,
      "the page to ring",
    );
    expect(pd.alerts().get(`${id}:2`)?.rang).toBe(1);
    const repages = (pd.events as PdEvent[]).filter((e) => e.body.event_action === "trigger" && e.body.dedup_key === `${id}:2`);
    expect(repages.filter((e) => e.status === 0).length).toBeGreaterThanOrEqual(1); // sent before the kill, never answered
    expect(repages.filter((e) => e.status === 202)).toHaveLength(1);
    expect((pd.events as PdEvent[]).find((e) => e.status === 202 && e.body.dedup_key === `${id}:2`)?.body.payload?.summary).toMatch(
      /^P1 server_down on api \(medic's fix failed\)/,
    );

    // and then? the human fixes it: every alert ever triggered for the incident is resolved, and Slack hears it.
    rmSync(join(dir, "hang"));
    await waitUntil(() => pd.alerts().get(`${id}:2`)?.status === "resolved", 20_000, "the page to resolve");
    await waitUntil(() => slack.posted().length >= 3, 10_000, "the Slack resolve");
    const accepted = (pd.events as PdEvent[]).filter((e) => e.status === 202);
    expect(accepted.map((e) => `${e.body.event_action} ${e.body.dedup_key}`)).toEqual([
      `trigger ${id}`,
      `acknowledge ${id}`,
      `trigger ${id}:2`,
      `resolve ${id}`,
      `resolve ${id}:2`,
    ]);
    expect([...pd.alerts().values()].map((a) => [a.status, a.rang])).toEqual([
      ["resolved", 1],
      ["resolved", 1],
    ]);
    expect(headers(slack)).toEqual([
      "P1 server_down on api",
      "Medic's fix failed: P1 server_down on api",
      "Resolved: P1 server_down on api",
    ]);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);

  it("with a page grace, a P1 fixed within it wakes nobody, and one whose fix fails is paged at once, well before the grace is over", async () => {
    const { slack, pd, api, dir, file } = await scenario(`escalation: { pageGrace: 30s }
safety: { flapGuard: { backoff: { initial: 0s, max: 0s } } }
`);
    writeFileSync(join(dir, "playbooks", "fix.yaml"), "name: fix\non: [server_down]\nsteps:\n  - wait: 200ms\nverify: { within: 3s }\n");
    const state = join(dir, "state");
    const daemon = startMedic(["run", "--config", file], env(slack.url));
    await started(daemon);

    api.set(500);
    const first = await waitUntil(() => journal(state).find((r) => r.type === "opened"), 10_000, "the first incident");
    await waitUntil(() => journal(state).some((r) => r.type === "playbook_started"), 5_000, "the playbook");
    api.set(200); // the playbook fixed it
    await waitUntil(
      () => journal(state).some((r) => r.type === "resolved" && r.incident === first.incident),
      10_000,
      "the fix to be verified",
    );
    await waitUntil(() => slack.posted().length >= 2, 10_000, "Slack's trigger and resolve");
    expect(journal(state).filter((r) => r.type === "notification_queued" && r.notification.channel === "pagerduty")).toEqual([]);
    expect(JSON.stringify(slack.posted()[0]!.body)).toContain("pagerduty held for up to 30s while medic tries to fix it");

    api.set(500); // broken again, and this time the playbook cannot fix it
    const second = await waitUntil(
      () => journal(state).find((r) => r.type === "opened" && r.incident !== first.incident),
      10_000,
      "the second incident",
    );
    await waitUntil(() => journal(state).find((r) => r.type === "escalated" && r.incident === second.incident), 15_000, "the fix to fail");
    await waitUntil(() => pd.events.length >= 1, 10_000, "the page");
    const page = pd.events[0]!.body;
    expect(page).toMatchObject({ event_action: "trigger", dedup_key: second.incident });
    expect(page.payload.custom_details.reason).toMatch(/^escalated: verification/);
    expect(pd.events[0]!.at).toBeLessThan(second.at + 30_000); // paged by the failure, not by the grace running out
    expect([...pd.alerts().keys()]).toEqual([second.incident]);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);
});

describe("a person's acknowledgement in PagerDuty, learned through its signed v3 webhook", () => {
  it("stops the climb: the later step never fires; a forged or unsigned delivery and medic's own acknowledgement change nothing", async () => {
    const secret = "pd-webhook-signing-secret-0123456789";
    const s = await scenario(`api: { listen: "127.0.0.1:0" }
escalation:
  P1: [{ after: 0s, notify: [pagerduty] }, { after: 8s, notify: [lead] }]
`);
    const lead = await startSlackReceiver();
    onCleanup(() => lead.close());
    const file = s.file;
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(
        `timeout: 1s }\n  retry`,
        `timeout: 1s, webhookSecret: "\${PD_HOOK}" }\n  channels:\n    lead: { slack: { webhookUrl: "\${LEAD_URL}" } }\n  retry`,
      ),
    );
    const daemon = startMedic(["run", "--config", file], { ...s.env, PD_HOOK: secret, LEAD_URL: lead.url });
    const url = await apiUrl(daemon);
    s.api.set(500);
    const opened = await waitUntil(() => journal(s.state).find((r) => r.type === "opened"), 10_000, "the incident");
    await waitUntil(() => s.pd.events.some((e) => e.body.event_action === "trigger"), 10_000, "the page");
    const delivery = (agent: object) =>
      JSON.stringify({
        event: {
          id: "01DEMO",
          event_type: "incident.acknowledged",
          resource_type: "incident",
          occurred_at: new Date().toISOString(),
          agent,
          data: { id: "PGR0VU2", type: "incident", status: "acknowledged", incident_key: opened.incident, title: "x" },
        },
      });
    const post = (body: string, signature?: string) =>
      fetch(`${url}/api/pagerduty/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(signature && { "x-pagerduty-signature": signature }) },
        body,
      });
    const sign = (body: string, key = secret) => `v1=${createHmac("sha256", key).update(body).digest("hex")}`;
    const jane = delivery({ id: "PLH1HKV", type: "user_reference", summary: "Jane Doe" });
    expect((await post(jane)).status).toBe(401);
    expect((await post(jane, sign(jane, "not-the-secret-at-all-0000"))).status).toBe(401);
    expect((await post(jane.replace("Jane", "Mallory"), sign(jane))).status).toBe(401);
    const integration = delivery({ id: "PINT", type: "service_reference", summary: "medic integration" });
    expect(await (await post(integration, sign(integration))).json()).toMatchObject({ done: "ignored" });
    // PagerDuty may sign with two secrets while one is rotated: any one that matches will do.
    const answer = await post(jane, `v1=${"0".repeat(64)},${sign(jane)}`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ done: "acknowledged", incident: opened.incident, by: "Jane Doe (PagerDuty)" });
    await waitUntil(
      () => journal(s.state).some((r) => r.type === "acknowledged" && r.incident === opened.incident),
      10_000,
      "the acknowledgement in the journal",
    );
    // Past the lead's step (8 s after the incident opened): the lead is never told; the alert gets medic's acknowledge.
    const acked = journal(s.state).find((r) => r.type === "acknowledged") as JournalRecord & { by: string };
    expect(acked.at - opened.at, "the acknowledgement came before the lead's step was due").toBeLessThan(8_000);
    await new Promise((r) => setTimeout(r, Math.max(0, opened.at + 9_000 - Date.now())));
    expect(lead.messages).toEqual([]);
    expect(s.pd.events.map((e) => e.body.event_action)).toEqual(["trigger", "acknowledge"]);
    expect(acked.by).toBe("Jane Doe (PagerDuty)");
    daemon.child.kill("SIGTERM");
    await daemon.exited;
    for (const text of [daemon.stdout(), journalText(s.state)]) expect(text).not.toContain(secret);
  }, 40_000);
});
