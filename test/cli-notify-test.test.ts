import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, medic, onCleanup, tempDir } from "./harness.js";
import { startPagerDutyReceiver, type PagerDutyReceiver } from "./fixtures/pagerduty-receiver.js";
import { startSlackReceiver, type SlackReceiver } from "./fixtures/slack-receiver.js";

// `medic notify test CHANNEL` as a user runs it: the built CLI, a config with named channels, and
// receivers on 127.0.0.1 that speak Slack's and PagerDuty's protocols.

const KEY = "notifytestroutingkey000000000000";
let slack: SlackReceiver;
let pd: PagerDutyReceiver;
let config: string;

beforeAll(async () => {
  slack = await startSlackReceiver();
  pd = await startPagerDutyReceiver();
  onCleanup(() => slack.close());
  onCleanup(() => pd.close());
  const dir = tempDir();
  config = join(dir, "medic.yaml");
  writeFileSync(
    config,
    `stateDir: ${join(dir, "state")}
targets: [{ name: api, probe: { tcp: { port: 1 } } }]
notify:
  retry: { initial: 200ms, max: 2s }
  channels:
    team-slack: { slack: { webhookUrl: "\${TEAM_SLACK_URL}" } }
    dba-pager: { pagerduty: { routingKey: "\${DBA_KEY}", server: "${pd.server}", ca: ${JSON.stringify(pd.caFile)}, timeout: 2s } }
`,
  );
});
afterAll(cleanup);

const run = (...args: string[]) => medic(["-c", config, "notify", "test", ...args], { TEAM_SLACK_URL: slack.url, DBA_KEY: KEY });

describe("medic notify test", () => {
  it("posts a marked test message to a named Slack channel and prints Slack's answer", async () => {
    const before = slack.posted().length;
    const r = await run("team-slack");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^team-slack trigger: accepted: posted to Slack \(127\.0\.0\.1:\d+\)\nteam-slack resolve: accepted: posted to Slack/,
    );
    const [trigger, resolve] = slack.posted().slice(before);
    expect(JSON.stringify(trigger!.body)).toContain("TEST from medic notify test");
    expect(JSON.stringify(trigger!.body)).toContain("notify_test");
    expect(JSON.stringify(resolve!.body)).toContain("resolving the test");
    // The webhook URL is the secret: never printed.
    expect(r.stdout + r.stderr).not.toContain(new URL(slack.url).pathname);
  });

  it("pages and at once resolves on PagerDuty, so the test alert stops ringing", async () => {
    const before = pd.events.length;
    const r = await run("dba-pager");
    expect(r.code).toBe(0);
    const sent = pd.events.slice(before).map((e) => [e.body.routing_key, e.body.event_action, e.status]);
    expect(sent).toEqual([
      [KEY, "trigger", 202],
      [KEY, "resolve", 202],
    ]);
    const key = pd.events[before]!.body.dedup_key as string;
    expect(pd.alerts().get(key)).toMatchObject({ status: "resolved", rang: 1 });
    expect(r.stdout).not.toContain(KEY);
  });

  it("honours a 429's Retry-After and says so, then succeeds", async () => {
    slack.setMode("rate_limited", { retryAfterSeconds: 1, times: 1 });
    const r = await run("team-slack");
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/attempt 1 failed \(rate_limited: Slack \(127\.0\.0\.1:\d+\) answered 429/);
    expect(r.stdout).toMatch(/team-slack trigger: accepted/);
  });

  it("a receiver that refuses for good: exit 1 with its answer and a hint, no retry, no secret", async () => {
    slack.setMode("no_service");
    onCleanup(() => slack.setMode("ok"));
    const r = await run("team-slack");
    slack.setMode("ok");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/team-slack trigger: NOT accepted: not_found: Slack \(127\.0\.0\.1:\d+\) answered 404 "no_service" \(hint: /);
    expect(r.stdout).not.toMatch(/resolve/);
    expect(r.stderr).not.toMatch(/attempt/);
    expect(r.stdout + r.stderr).not.toContain(new URL(slack.url).pathname);
  });

  it("an unknown channel: exit 2 naming the configured ones", async () => {
    const r = await run("team-slak");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no channel named "team-slak" is configured (hint: one of team-slack, dba-pager, console)');
  });
});
