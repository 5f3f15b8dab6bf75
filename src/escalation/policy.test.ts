import { describe, expect, it } from "vitest";
import { foldRecords } from "../incidents/fold.js";
import type { Incident, JournalRecord } from "../incidents/types.js";
import { DEFAULT_POLICY, dueNotifications, type ChannelFacts } from "./policy.js";
import type { Notification, NotificationEvent } from "./types.js";

const all = new Set<NotificationEvent>(["trigger", "acknowledge", "resolve"]);
const channels: ChannelFacts = {
  accepts: new Map([["slack", new Set<NotificationEvent>(["trigger", "resolve"])], ["pagerduty", all], ["console", all]]),
  acknowledgeOnRemediation: new Set(["pagerduty"]),
};
const MIN = 60_000;

function incident(severity: string, ...events: Record<string, unknown>[]): Incident {
  const records = [{ at: 0, type: "opened", target: "web", kind: "server_down", severity, evidence: "refused" }, ...events];
  return foldRecords(records.map((r) => ({ incident: "i1", ...r }) as unknown as JournalRecord)).get("i1")!;
}
const queued = (at: number, channel: string, event: NotificationEvent) =>
  ({ at, type: "notification_queued", notification: { id: `${channel}-${event}`, channel, event } as Notification });
const pairs = (i: Incident, now: number) => dueNotifications(i, DEFAULT_POLICY, channels, now).map((d) => `${d.channel}:${d.event}`);

describe("dueNotifications with the default policy", () => {
  it("P1 pages and posts at once", () => {
    expect(pairs(incident("P1"), 0)).toEqual(["pagerduty:trigger", "slack:trigger"]);
  });

  it("P2 posts at once and pages after 30 minutes unresolved", () => {
    expect(pairs(incident("P2"), 0)).toEqual(["slack:trigger"]);
    const posted = incident("P2", queued(1, "slack", "trigger"));
    expect(pairs(posted, 29 * MIN)).toEqual([]);
    expect(pairs(posted, 30 * MIN)).toEqual(["pagerduty:trigger"]);
    expect(dueNotifications(posted, DEFAULT_POLICY, channels, 30 * MIN)[0]!.reason).toBe("still open after 30m");
  });

  it("an escalated P2 pages at once, with the reason", () => {
    const failed = incident("P2", queued(1, "slack", "trigger"), { at: 2, type: "escalated", reason: "verification: not recovered" });
    const due = dueNotifications(failed, DEFAULT_POLICY, channels, 5_000);
    expect(due).toEqual([{ channel: "pagerduty", event: "trigger", reason: "escalated: verification: not recovered" }]);
  });

  it("a severity raised on escalation uses the higher severity's steps", () => {
    const raised = incident("P3", queued(1, "slack", "trigger"), { at: 2, type: "escalated", reason: "x", severity: "P1" });
    expect(pairs(raised, 5_000)).toEqual(["pagerduty:trigger"]);
  });

  it("acknowledges a paged incident when a playbook starts on it, once", () => {
    const started = incident("P1", queued(1, "pagerduty", "trigger"), queued(1, "slack", "trigger"),
      { at: 2, type: "playbook_started", runId: "r", playbook: "restart", steps: [] });
    expect(pairs(started, 3)).toEqual(["pagerduty:acknowledge"]);
    const acked = incident("P1", queued(1, "pagerduty", "trigger"), queued(1, "slack", "trigger"),
      { at: 2, type: "playbook_started", runId: "r", playbook: "restart", steps: [] }, queued(3, "pagerduty", "acknowledge"));
    expect(pairs(acked, 4)).toEqual([]);
  });

  it("resolves every channel that was triggered and nothing else", () => {
    const resolved = incident("P2", queued(1, "slack", "trigger"), { at: 5, type: "resolved", reason: "verified" });
    expect(dueNotifications(resolved, DEFAULT_POLICY, channels, 40 * MIN)).toEqual([{ channel: "slack", event: "resolve", reason: "verified" }]);
    expect(pairs(incident("P2", { at: 5, type: "resolved", reason: "x" }), 40 * MIN)).toEqual([]);
  });

  it("skips channels that are not configured, and falls back to the log when a step has none", () => {
    const slackOnly: ChannelFacts = { accepts: new Map([["slack", all], ["console", all]]), acknowledgeOnRemediation: new Set() };
    expect(dueNotifications(incident("P1"), DEFAULT_POLICY, slackOnly, 0).map((d) => d.channel)).toEqual(["slack"]);
    const posted = incident("P2", queued(1, "slack", "trigger"));
    expect(dueNotifications(posted, DEFAULT_POLICY, slackOnly, 30 * MIN).map((d) => d.channel)).toEqual(["console"]);
    const none: ChannelFacts = { accepts: new Map([["console", all]]), acknowledgeOnRemediation: new Set() };
    expect(dueNotifications(incident("P1"), DEFAULT_POLICY, none, 0).map((d) => d.channel)).toEqual(["console"]);
  });

  it("P4 goes to the log only", () => {
    expect(pairs(incident("P4"), 0)).toEqual(["console:trigger"]);
  });
});

describe("dueNotifications after an acknowledge", () => {
  it("sends an acknowledge to the channels that were triggered and take one, and pages nobody more", () => {
    const records = [
      { at: 0, incident: "a1", type: "opened", target: "web", kind: "pool_exhaustion", severity: "P2", evidence: "95%" },
      { at: 1, incident: "a1", type: "notification_queued", notification: { id: "n1", channel: "pagerduty", event: "trigger" } },
      { at: 2, incident: "a1", type: "notification_queued", notification: { id: "n2", channel: "slack", event: "trigger" } },
      { at: 3, incident: "a1", type: "acknowledged", by: "alice", note: "on it" },
    ] as unknown as JournalRecord[];
    const incident = foldRecords(records).get("a1")!;
    const facts = { accepts: new Map([["pagerduty", new Set(["trigger", "acknowledge", "resolve"])], ["slack", new Set(["trigger", "resolve"])]]), acknowledgeOnRemediation: new Set<string>() } as ChannelFacts;
    // An hour later the P2's 30-minute page would be due; acknowledged, it is not.
    expect(dueNotifications(incident, DEFAULT_POLICY, facts, 3_600_000)).toEqual([{ channel: "pagerduty", event: "acknowledge", reason: "acknowledged by alice: on it" }]);
  });
});
