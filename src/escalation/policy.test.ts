import { describe, expect, it } from "vitest";
import { foldRecords } from "../incidents/fold.js";
import type { Incident, JournalRecord } from "../incidents/types.js";
import { DEFAULT_POLICY, dueNotifications, type ChannelFacts, type PolicyOptions } from "./policy.js";
import type { Notification, NotificationEvent } from "./types.js";

const all = new Set<NotificationEvent>(["trigger", "acknowledge", "resolve"]);
const channels: ChannelFacts = {
  accepts: new Map([
    ["slack", new Set<NotificationEvent>(["trigger", "resolve"])],
    ["pagerduty", all],
    ["console", all],
  ]),
  acknowledgeOnRemediation: new Set(["pagerduty"]),
  pages: new Set(["pagerduty"]),
};
const MIN = 60_000;
/** What the default policy owes an incident, at its current severity. */
const dueDefault = (i: Incident, facts: ChannelFacts, now: number, opts?: PolicyOptions) =>
  dueNotifications(i, DEFAULT_POLICY[i.severity], facts, now, opts);

function incident(severity: string, ...events: Record<string, unknown>[]): Incident {
  const records = [{ at: 0, type: "opened", target: "web", kind: "server_down", severity, evidence: "refused" }, ...events];
  return foldRecords(records.map((r) => ({ incident: "i1", ...r }) as unknown as JournalRecord)).get("i1")!;
}
let ids = 0;
const queued = (at: number, channel: string, event: NotificationEvent, extra: Partial<Notification> = {}) => {
  const notification = { id: `${channel}-${event}-${++ids}`, channel, event, incident: "i1", ...extra } as Notification;
  return { at, type: "notification_queued", notification };
};
/** Journals what is due at `at`, as the runtime would. */
const queueDue = (i: Incident, at: number, opts?: PolicyOptions) =>
  dueDefault(i, channels, at, opts).map((d) =>
    queued(at, d.channel, d.event, { ...(d.key && { key: d.key }), ...(d.escalation && { escalation: d.escalation }) }),
  );
/** "channel:event key #escalation", the facts a test checks. */
const owed = (i: Incident, now: number, opts?: PolicyOptions) =>
  dueDefault(i, channels, now, opts).map((d) => `${d.channel}:${d.event} ${d.key ?? "i1"}${d.escalation ? ` #${d.escalation}` : ""}`);
const started = (at: number, runId = "r1") => ({ at, type: "playbook_started", runId, playbook: "restart", steps: [] });
const escalated = (at: number, reason = "verification: not recovered within 2s") => ({ at, type: "escalated", reason });
const pairs = (i: Incident, now: number) => dueDefault(i, channels, now).map((d) => `${d.channel}:${d.event}`);

describe("dueNotifications with the default policy", () => {
  it("P1 pages and posts at once", () => {
    expect(pairs(incident("P1"), 0)).toEqual(["pagerduty:trigger", "slack:trigger"]);
  });

  it("P2 posts at once and pages after 30 minutes unresolved", () => {
    expect(pairs(incident("P2"), 0)).toEqual(["slack:trigger"]);
    const posted = incident("P2", queued(1, "slack", "trigger"));
    expect(pairs(posted, 29 * MIN)).toEqual([]);
    expect(pairs(posted, 30 * MIN)).toEqual(["pagerduty:trigger"]);
    expect(dueDefault(posted, channels, 30 * MIN)[0]!.reason).toBe("still open after 30m");
  });

  it("an escalated P2 pages at once, and Slack hears it failed, with the reason", () => {
    const failed = incident("P2", queued(1, "slack", "trigger"), { at: 2, type: "escalated", reason: "verification: not recovered" });
    const due = dueDefault(failed, channels, 5_000);
    expect(due).toEqual([
      { channel: "slack", event: "trigger", reason: "escalated: verification: not recovered", escalation: 1 },
      { channel: "pagerduty", event: "trigger", reason: "escalated: verification: not recovered", escalation: 1 },
    ]);
  });

  it("a severity raised on escalation uses the higher severity's steps", () => {
    const raised = incident("P3", queued(1, "slack", "trigger"), { at: 2, type: "escalated", reason: "x", severity: "P1" });
    expect(pairs(raised, 5_000)).toEqual(["pagerduty:trigger", "slack:trigger"]);
  });

  it("acknowledges a paged incident when a playbook starts on it, once", () => {
    const started = incident("P1", queued(1, "pagerduty", "trigger"), queued(1, "slack", "trigger"), {
      at: 2,
      type: "playbook_started",
      runId: "r",
      playbook: "restart",
      steps: [],
    });
    expect(pairs(started, 3)).toEqual(["pagerduty:acknowledge"]);
    const acked = incident(
      "P1",
      queued(1, "pagerduty", "trigger"),
      queued(1, "slack", "trigger"),
      { at: 2, type: "playbook_started", runId: "r", playbook: "restart", steps: [] },
      queued(3, "pagerduty", "acknowledge"),
    );
    expect(pairs(acked, 4)).toEqual([]);
  });

  it("resolves every channel that was triggered and nothing else", () => {
    const resolved = incident("P2", queued(1, "slack", "trigger"), { at: 5, type: "resolved", reason: "verified" });
    expect(dueDefault(resolved, channels, 40 * MIN)).toEqual([{ channel: "slack", event: "resolve", reason: "verified" }]);
    expect(pairs(incident("P2", { at: 5, type: "resolved", reason: "x" }), 40 * MIN)).toEqual([]);
  });

  it("skips channels that are not configured, and falls back to the log when a step has none", () => {
    const slackOnly: ChannelFacts = {
      accepts: new Map([
        ["slack", all],
        ["console", all],
      ]),
      acknowledgeOnRemediation: new Set(),
    };
    expect(dueDefault(incident("P1"), slackOnly, 0).map((d) => d.channel)).toEqual(["slack"]);
    const posted = incident("P2", queued(1, "slack", "trigger"));
    expect(dueDefault(posted, slackOnly, 30 * MIN).map((d) => d.channel)).toEqual(["console"]);
    const none: ChannelFacts = { accepts: new Map([["console", all]]), acknowledgeOnRemediation: new Set() };
    expect(dueDefault(incident("P1"), none, 0).map((d) => d.channel)).toEqual(["console"]);
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
    const facts = {
      accepts: new Map([
        ["pagerduty", new Set(["trigger", "acknowledge", "resolve"])],
        ["slack", new Set(["trigger", "resolve"])],
      ]),
      acknowledgeOnRemediation: new Set<string>(),
    } as ChannelFacts;
    // An hour later the P2's 30-minute page would be due; acknowledged, it is not.
    expect(dueDefault(incident, facts, 3_600_000)).toEqual([
      { channel: "pagerduty", event: "acknowledge", reason: "acknowledged by alice: on it" },
    ]);
  });
});

describe("dueNotifications after a failed fix", () => {
  // Paged at open, acknowledged by medic while its playbook worked, then the fix failed.
  const acked = () => [queued(1, "pagerduty", "trigger"), queued(1, "slack", "trigger"), started(2), queued(2, "pagerduty", "acknowledge")];

  it("pages again on a new alert (the acknowledged one cannot ring), resolves the old one after it, and tells Slack why", () => {
    const failed = incident("P1", ...acked(), escalated(9));
    expect(owed(failed, 9)).toEqual(["pagerduty:trigger i1:2 #1", "slack:trigger i1 #1", "pagerduty:resolve i1"]);
    const due = dueDefault(failed, channels, 9);
    expect(due.find((d) => d.channel === "slack")?.reason).toBe("escalated: verification: not recovered within 2s");
    expect(due.find((d) => d.event === "resolve")?.reason).toBe("superseded by a new page (i1:2): medic could not fix it");
  });

  it("owes it once: nothing more on later ticks, an hour later either", () => {
    const failed = incident("P1", ...acked(), escalated(9));
    const told = incident("P1", ...acked(), escalated(9), ...queueDue(failed, 9));
    expect(owed(told, 10)).toEqual([]);
    expect(owed(told, 3_600_000)).toEqual([]);
  });

  it("a medic killed between the escalation and the page owes it after the restart; killed half-way, only the rest", () => {
    // The journal is all a restarted medic has: the escalation with nothing queued after it.
    const killed = incident("P1", ...acked(), escalated(9));
    expect(owed(killed, 60_000)).toEqual(["pagerduty:trigger i1:2 #1", "slack:trigger i1 #1", "pagerduty:resolve i1"]);
    const halfWay = incident("P1", ...acked(), escalated(9), queued(9, "pagerduty", "trigger", { key: "i1:2", escalation: 1 }));
    expect(owed(halfWay, 60_000)).toEqual(["slack:trigger i1 #1", "pagerduty:resolve i1"]);
  });

  it("a page nobody acknowledged goes to the same alert: it is still ringing, or reopens if someone resolved it in PagerDuty", () => {
    const paged = [queued(1, "pagerduty", "trigger"), queued(1, "slack", "trigger")];
    const noPlaybook = incident("P1", ...paged, escalated(2, "no playbook matches server_down on web"));
    expect(owed(noPlaybook, 2)).toEqual(["pagerduty:trigger i1 #1", "slack:trigger i1 #1"]);
  });

  it("once a person acknowledged, nobody more is paged, but Slack still hears that the fix failed", () => {
    const human = incident("P1", ...acked(), { at: 5, type: "acknowledged", by: "alice" }, escalated(9));
    expect(owed(human, 9)).toEqual(["slack:trigger i1 #1"]);
    const paged = [queued(1, "pagerduty", "trigger"), queued(1, "slack", "trigger")];
    const humanFirst = incident("P1", ...paged, { at: 5, type: "acknowledged", by: "alice" }, escalated(9));
    expect(owed(humanFirst, 9)).toEqual(["pagerduty:acknowledge i1", "slack:trigger i1 #1"]);
  });

  it("pages once per escalation: a second failed run after a flap-guard reset pages on a third alert", () => {
    const first = incident("P1", ...acked(), escalated(9));
    const records = [...acked(), escalated(9), ...queueDue(first, 9), started(20, "r2")];
    const second = incident("P1", ...records);
    expect(owed(second, 20)).toEqual(["pagerduty:acknowledge i1:2"]);
    const failedAgain = incident("P1", ...records, ...queueDue(second, 20), escalated(30, "flap guard: 3 runs did not hold"));
    expect(owed(failedAgain, 30)).toEqual(["pagerduty:trigger i1:3 #2", "slack:trigger i1 #2", "pagerduty:resolve i1:2"]);
    const told = incident("P1", ...records, ...queueDue(second, 20), escalated(30), ...queueDue(failedAgain, 30));
    expect(owed(told, 31)).toEqual([]);
  });

  it("when it is fixed at last, every alert still open is resolved, and Slack once", () => {
    const failed = incident("P1", ...acked(), escalated(9));
    const healthy = { at: 50, type: "resolved", reason: "healthy for 2 rounds" };
    const fixed = incident("P1", ...acked(), escalated(9), ...queueDue(failed, 9), healthy);
    expect(owed(fixed, 50)).toEqual(["pagerduty:resolve i1:2", "slack:resolve i1"]);
    // Killed before the old alert's resolve was queued: the fix resolves both.
    const halfWay = incident("P1", ...acked(), escalated(9), queued(9, "pagerduty", "trigger", { key: "i1:2", escalation: 1 }), healthy);
    expect(owed(halfWay, 50)).toEqual(["pagerduty:resolve i1", "pagerduty:resolve i1:2", "slack:resolve i1"]);
  });
});

describe("dueNotifications with a page grace", () => {
  const grace = { pageGraceMs: 2 * MIN };

  it("holds the page while a playbook works, and tells Slack at once that it does", () => {
    const opened = incident("P1");
    expect(owed(opened, 0, grace)).toEqual(["slack:trigger i1"]);
    expect(dueDefault(opened, channels, 0, grace)[0]!.reason).toBe("opened; pagerduty held for up to 2m while medic tries to fix it");
    const working = incident("P1", queued(0, "slack", "trigger"), started(1));
    expect(owed(working, 2 * MIN - 1, grace)).toEqual([]);
  });

  it("fixed within the grace: nobody is woken, and the resolve goes to Slack only", () => {
    const fixed = incident("P1", queued(0, "slack", "trigger"), started(1), { at: 30_000, type: "resolved", reason: "verified" });
    expect(owed(fixed, 30_000, grace)).toEqual(["slack:resolve i1"]);
  });

  it("the fix failed within the grace: paged at once, on the incident's first alert", () => {
    const failed = incident("P1", queued(0, "slack", "trigger"), started(1), escalated(30_000));
    expect(owed(failed, 30_000, grace)).toEqual(["pagerduty:trigger i1 #1", "slack:trigger i1 #1"]);
  });

  it("the grace ran out with the playbook still working: paged then, and not acknowledged by that run", () => {
    const slow = incident("P1", queued(0, "slack", "trigger"), started(1), {
      at: 5_000,
      type: "verifying",
      runId: "r1",
      withinMs: 600_000,
    });
    expect(owed(slow, 2 * MIN, grace)).toEqual(["pagerduty:trigger i1"]);
    expect(dueDefault(slow, channels, 2 * MIN, grace)[0]!.reason).toBe(
      "still not fixed after the 2m grace (playbook restart is still working)",
    );
    const paged = incident("P1", queued(0, "slack", "trigger"), started(1), queued(2 * MIN, "pagerduty", "trigger"));
    expect(owed(paged, 2 * MIN + 1, grace)).toEqual([]);
  });

  it("no playbook at work (held back by a guard): paged at once", () => {
    const held = incident("P1", { at: 0, type: "held", by: "backoff", reason: "waiting 10s after the last run" });
    expect(owed(held, 0, grace)).toEqual(["pagerduty:trigger i1", "slack:trigger i1"]);
  });

  it("a person acknowledged within the grace: never paged", () => {
    const human = incident("P1", queued(0, "slack", "trigger"), started(1), { at: 10_000, type: "acknowledged", by: "alice" });
    expect(owed(human, 10 * MIN, grace)).toEqual([]);
  });

  it("applies to timed pages too: a P2's 30-minute page waits while a playbook works", () => {
    const working = incident("P2", queued(0, "slack", "trigger"), started(29 * MIN));
    expect(owed(working, 31 * MIN, grace)).toEqual([]);
    expect(owed(working, 32 * MIN, grace)).toEqual(["pagerduty:trigger i1"]);
  });

  it("0s, the default, pages at once", () => {
    expect(owed(incident("P1"), 0, { pageGraceMs: 0 })).toEqual(["pagerduty:trigger i1", "slack:trigger i1"]);
    expect(owed(incident("P1"), 0)).toEqual(["pagerduty:trigger i1", "slack:trigger i1"]);
  });
});
