import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, onCleanup, ROOT, waitUntil } from "./harness.js";
import { inProcessPerTest, type InProcess } from "./fixtures/in-process.js";
import { startPagerDutyReceiver, type PagerDutyReceiver } from "./fixtures/pagerduty-receiver.js";
import { startSlackReceiver, type SlackReceiver } from "./fixtures/slack-receiver.js";

// The runbook's escalation matrix as shipped (docs/examples/escalation-matrix.yaml), walked on a
// manual clock by the real daemon, every page sent over HTTP to a PagerDuty receiver (one
// integration key per rung) and a Slack receiver on 127.0.0.1.

const medic = inProcessPerTest();
const EXAMPLE = readFileSync(join(ROOT, "docs/examples/escalation-matrix.yaml"), "utf8");
const MIN = 60_000;
const RUNGS = ["PRIMARY_ONCALL_KEY", "SECONDARY_ONCALL_KEY", "TEAM_LEAD_KEY", "ENG_MANAGER_KEY", "INCIDENT_COMMAND_KEY"] as const;
const keyOf = (rung: (typeof RUNGS)[number]) => `${rung.toLowerCase().replaceAll("_", "")}`.padEnd(32, "x").slice(0, 32);
const rungOf = new Map(RUNGS.map((r) => [keyOf(r), r]));

let pd: PagerDutyReceiver;
let slack: SlackReceiver;
beforeAll(async () => {
  pd = await startPagerDutyReceiver();
  slack = await startSlackReceiver();
  onCleanup(() => pd.close());
  onCleanup(() => slack.close());
});
afterAll(cleanup);

/** The example as the harness takes it (it sets stateDir and playbooks: none, so medic gives up at once), aimed at the receivers. */
async function matrix(): Promise<InProcess> {
  const yaml = EXAMPLE.replace(/^(stateDir|playbooks):.*$/gm, "")
    .replace(/routingKey: "(\$\{\w+\})"/g, `routingKey: "$1", server: "${pd.server}", ca: ${JSON.stringify(pd.caFile)}, timeout: 2s`)
    .replace("https://medic.example.com", "http://127.0.0.1:1/medic");
  const env = { SLACK_WEBHOOK_URL: slack.url, ...Object.fromEntries(RUNGS.map((r) => [r, keyOf(r)])) };
  return medic(yaml, { env });
}

/** "RUNG event" for each event the receiver accepted since `from`. */
const paged = (from = 0) =>
  pd.events
    .slice(from)
    .filter((e) => e.status === 202)
    .map((e) => `${rungOf.get(e.body.routing_key) ?? e.body.routing_key} ${e.body.event_action}`);

/** Moves the clock to `minutes` after the first incident opened (before that: by 30 s), then waits until the outbox delivered what came due. */
async function at(m: InProcess, minutes: number): Promise<void> {
  if (m.of("opened").length === 0) await m.advance(30_000);
  const opened = m.of("opened")[0]?.at;
  if (opened !== undefined) await m.advance(opened + minutes * MIN - m.clock.now());
  await m.daemon.idle();
}

describe("the runbook's escalation matrix, walked with a clock", () => {
  it("climbs from the primary on-call to the secondary, the team lead, the engineering manager and incident command, each once, on time", async () => {
    const from = pd.events.length;
    const slackFrom = slack.posted().length;
    const m = await matrix();
    m.targets.get("payments-api")!.up = false;
    await at(m, 2);
    const [opened] = m.of("opened");
    expect(opened).toMatchObject({ target: "payments-api", severity: "P1" });
    // No playbook: medic gave up at once; the rung due so far (the primary) and the team's Slack hear.
    await waitUntil(() => paged(from).length >= 1 && slack.posted().length > slackFrom, 10_000, "the first page");
    expect(paged(from)).toEqual(["PRIMARY_ONCALL_KEY trigger"]);
    await at(m, 4.9);
    expect(paged(from)).toEqual(["PRIMARY_ONCALL_KEY trigger"]);
    const climb: [number, string][] = [
      [5, "SECONDARY_ONCALL_KEY"],
      [15, "TEAM_LEAD_KEY"],
      [30, "ENG_MANAGER_KEY"],
      [60, "INCIDENT_COMMAND_KEY"],
    ];
    const expected = ["PRIMARY_ONCALL_KEY trigger"];
    for (const [minute, rung] of climb) {
      await at(m, minute - 0.1);
      expect(paged(from), `nobody new just before ${minute} min`).toEqual(expected);
      await at(m, minute);
      expected.push(`${rung} trigger`);
      await waitUntil(() => paged(from).length === expected.length, 10_000, `${rung} paged at ${minute} min`);
      expect(paged(from)).toEqual(expected);
    }
    await at(m, 180);
    expect(paged(from)).toEqual(expected);
    // Each rung's page carries the reason it came.
    const lead = pd.events.slice(from).find((e) => e.body.routing_key === keyOf("TEAM_LEAD_KEY"));
    expect(JSON.stringify(lead!.body)).toContain("still open after 15m");

    // Fixed at last: every rung that was paged is resolved, and Slack hears it once.
    m.targets.get("payments-api")!.up = true;
    await at(m, 182);
    await waitUntil(() => paged(from).filter((p) => p.endsWith("resolve")).length === 5, 10_000, "the resolves");
    expect(paged(from).slice(expected.length).sort()).toEqual(RUNGS.map((r) => `${r} resolve`).sort());
  });

  it("an acknowledgement stops the climb; the resolve still goes to every channel that was told", async () => {
    const from = pd.events.length;
    const m = await matrix();
    m.targets.get("payments-api")!.up = false;
    await at(m, 6);
    await waitUntil(() => paged(from).length === 2, 10_000, "the primary and the secondary paged");
    expect(paged(from)).toEqual(["PRIMARY_ONCALL_KEY trigger", "SECONDARY_ONCALL_KEY trigger"]);
    const [opened] = m.of("opened");
    expect(m.daemon.acknowledge(opened!.incident, "alice", "looking")?.acknowledged?.by).toBe("alice");
    await at(m, 7);
    await waitUntil(() => paged(from).length === 4, 10_000, "the acknowledges");
    expect(paged(from).slice(2).sort()).toEqual(["PRIMARY_ONCALL_KEY acknowledge", "SECONDARY_ONCALL_KEY acknowledge"]);
    // Past every later rung: nobody more is woken.
    await at(m, 120);
    expect(paged(from)).toHaveLength(4);
    m.targets.get("payments-api")!.up = true;
    await at(m, 122);
    await waitUntil(() => paged(from).length === 6, 10_000, "the resolves");
    expect(paged(from).slice(4).sort()).toEqual(["PRIMARY_ONCALL_KEY resolve", "SECONDARY_ONCALL_KEY resolve"]);
    const toSlack = m.of("notification_queued", opened!.incident).filter((r) => r.notification.channel === "slack");
    expect(toSlack.map((r) => `${r.notification.event}: ${r.notification.reason}`)).toEqual([
      "trigger: opened",
      "trigger: escalated: no playbook handles server_down on payments-api",
      "resolve: healthy for 2 rounds",
    ]);
  });

  it("a reload that removes a rung's channel still resolves the alert it paged there, and triggers nothing new on it", async () => {
    const from = pd.events.length;
    const m = await matrix();
    m.targets.get("payments-api")!.up = false;
    await at(m, 6);
    await waitUntil(() => paged(from).length === 2, 10_000, "the primary and the secondary paged");
    const { notify, escalation } = m.config;
    const matrixPolicy = escalation.policies["payments-matrix"]!;
    m.daemon.reload({
      ...m.config,
      notify: { ...notify, channels: notify.channels.filter((c) => c.name !== "payments-secondary") },
      escalation: {
        ...escalation,
        policies: { "payments-matrix": { ...matrixPolicy, P1: matrixPolicy.P1!.filter((s) => !s.notify.includes("payments-secondary")) } },
      },
    });
    await at(m, 16);
    await waitUntil(() => paged(from).length === 3, 10_000, "the lead paged");
    m.targets.get("payments-api")!.up = true;
    await at(m, 18);
    await waitUntil(() => paged(from).filter((p) => p.endsWith("resolve")).length === 3, 10_000, "the resolves");
    expect(paged(from).sort()).toEqual(
      [
        "PRIMARY_ONCALL_KEY trigger",
        "SECONDARY_ONCALL_KEY trigger",
        "TEAM_LEAD_KEY trigger",
        "PRIMARY_ONCALL_KEY resolve",
        "SECONDARY_ONCALL_KEY resolve",
        "TEAM_LEAD_KEY resolve",
      ].sort(),
    );
    expect(m.of("notification_failed")).toEqual([]);
  });

  it("an incident no route takes follows the default policy: incident command and Slack at once, nobody climbs", async () => {
    const from = pd.events.length;
    const m = await matrix();
    m.targets.get("orders-api")!.up = false;
    await at(m, 2);
    await waitUntil(() => paged(from).length === 1, 10_000, "the page");
    await at(m, 90);
    expect(paged(from)).toEqual(["INCIDENT_COMMAND_KEY trigger"]);
  });
});
