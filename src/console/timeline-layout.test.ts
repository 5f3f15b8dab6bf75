import { describe, expect, it } from "vitest";
import { layoutTimeline } from "./timeline-layout.js";
import type { IncidentDetail, TimelineRecord } from "./types.js";

const T0 = Date.UTC(2025, 0, 2, 12, 0, 0);
const at = (ms: number) => new Date(T0 + ms).toISOString();
const rec = (ms: number, type: string, extra: Record<string, unknown> = {}): TimelineRecord => ({
  at: at(ms),
  type,
  text: `${type} text`,
  ...extra,
});

function detail(timeline: TimelineRecord[], extra: Partial<IncidentDetail> = {}): IncidentDetail {
  return {
    id: "abcd1234",
    target: "web",
    kind: "server_down",
    severity: "P1",
    state: "resolved",
    openedAt: at(0),
    updatedAt: at(20_000),
    resolvedAt: at(20_000),
    evidence: "refused",
    occurrences: 2,
    runs: [
      {
        runId: "r1",
        playbook: "restart",
        startedAt: at(1_000),
        steps: [{ name: "restart", kind: "service.restart", description: "restart", status: "ok", durationMs: 4_000 }],
      },
    ],
    notifications: [
      { id: "n1", channel: "slack", event: "trigger", status: "sent", queuedAt: at(500) },
      { id: "n2", channel: "pagerduty", event: "trigger", status: "failed", queuedAt: at(500), detail: "401" },
    ],
    timeline,
    ...extra,
  };
}

describe("layoutTimeline", () => {
  const resolved = detail([
    rec(0, "opened"),
    rec(500, "notification_queued", { channel: "slack", event: "trigger" }),
    rec(500, "notification_queued", { channel: "pagerduty", event: "trigger" }),
    rec(800, "notification_sent", { id: "n1", channel: "slack" }),
    rec(900, "notification_failed", { id: "n2", channel: "pagerduty" }),
    rec(1_000, "held", { by: "blast_radius", reason: "2 running" }),
    rec(2_000, "playbook_started", { runId: "r1", playbook: "restart", guards: "flap guard: run 1 of 3" }),
    rec(2_000, "step_started", { runId: "r1", index: 0 }),
    rec(6_000, "step_finished", { runId: "r1", index: 0, outcome: "ok", durationMs: 4_000 }),
    rec(6_000, "verifying", { runId: "r1", withinMs: 30_000 }),
    rec(20_000, "resolved", { reason: "verified" }),
  ]);

  it("draws opened → guards → steps with durations → verification → notifications → resolved on one axis", () => {
    const l = layoutTimeline(resolved, T0 + 999_999);
    expect(l.lanes.map((x) => x.name)).toEqual(["incident", "guards", "steps", "verification", "notifications"]);
    const lane = (name: string) => l.lanes.find((x) => x.name === name)!.marks;
    expect(lane("incident").map((m) => m.label)).toEqual(["server_down P1", "resolved"]);
    expect(lane("guards").map((m) => [m.label, m.from, m.to])).toEqual([
      ["held: blast radius", 0.05, 0.1],
      ["allowed: flap guard: run 1 of 3", 0.1, undefined],
    ]);
    expect(lane("steps")).toMatchObject([{ label: "restart (4.0s)", from: 0.1, to: 0.3, tone: "ok" }]);
    expect(lane("verification")).toMatchObject([{ label: "verify: healthy", from: 0.3, to: 1, tone: "ok" }]);
    expect(lane("notifications").map((m) => [m.label, m.tone])).toEqual([
      ["slack trigger", "ok"],
      ["pagerduty trigger: NOT delivered", "bad"],
    ]);
    // The resolved point sits at the right edge: its label goes to the left of it.
    expect(lane("incident")[1]).toMatchObject({ from: 1, flip: true });
    expect(l.ticks.map((t) => t.label)).toEqual(["+0s", "+5s", "+10s", "+15s", "+20s"]);
    expect(l.now).toBeUndefined();
  });

  it("an open incident runs to now, with a running step and a now line; an approval gate gets its own lane", () => {
    const open = detail(
      [
        rec(0, "opened"),
        rec(1_000, "approval_requested", { step: 0 }),
        rec(5_000, "approved", { by: "alice" }),
        rec(5_000, "playbook_started", { runId: "r1", playbook: "restart" }),
        rec(5_000, "step_started", { runId: "r1", index: 0 }),
      ],
      { state: "remediating", resolvedAt: undefined, notifications: [] },
    );
    const l = layoutTimeline(open, T0 + 10_000);
    expect(l.lanes.map((x) => x.name)).toEqual(["incident", "approval", "steps"]);
    expect(l.lanes.find((x) => x.name === "approval")!.marks.map((m) => [m.label, m.from, m.to])).toEqual([
      ["awaiting approval", 0.1, 0.5],
      ["approved by alice", 0.5, undefined],
    ]);
    expect(l.lanes.find((x) => x.name === "steps")!.marks).toMatchObject([{ label: "restart running (5.0s)", tone: "running", to: 1 }]);
    expect(l.now).toBe(1);
  });

  it("puts marks whose labels would overlap on separate lines of their lane", () => {
    const l = layoutTimeline(
      detail([rec(0, "opened"), rec(100, "acknowledged", { by: "alice" }), rec(200, "escalated", { reason: "x" })], {
        state: "escalated",
        resolvedAt: undefined,
      }),
      T0 + 60_000,
    );
    expect(l.lanes[0]!.marks.map((m) => m.row)).toEqual([0, 1, 2]);
    expect(l.lanes[0]!.rows).toBe(3);
  });
});
