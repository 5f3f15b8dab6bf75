import { describe, expect, it } from "vitest";
import { applyRecord } from "../incidents/fold.js";
import type { Incident, IncidentEvent, JournalRecord } from "../incidents/types.js";
import { recordEffects, type MetricEffect } from "./records.js";

/** Feeds events through the fold, as the daemon's onRecord sees them, and collects each record's effects. */
function replay(events: [number, string, IncidentEvent][]): MetricEffect[][] {
  const incidents = new Map<string, Incident>();
  return events.map(([at, incident, event]) => {
    const record = { ...event, at, incident } as JournalRecord;
    applyRecord(incidents, record);
    return recordEffects(record, incidents.get(incident));
  });
}

const steps = [{ name: "restart", kind: "service.restart", description: "restart process" }];
const opened: IncidentEvent = { type: "opened", target: "api", kind: "server_down", severity: "P1", evidence: "refused" };

describe("recordEffects", () => {
  it("a verified recovery: opened, one step, the run counted as recovered and the time to recovery observed", () => {
    const effects = replay([
      [1_000, "i1", opened],
      [2_000, "i1", { type: "playbook_started", runId: "i1-1", playbook: "restart-api", steps }],
      [2_000, "i1", { type: "step_started", runId: "i1-1", index: 0 }],
      [3_500, "i1", { type: "step_finished", runId: "i1-1", index: 0, outcome: "ok", detail: "restarted", durationMs: 1_500 }],
      [3_500, "i1", { type: "verifying", runId: "i1-1", withinMs: 20_000 }],
      [7_000, "i1", { type: "resolved", reason: "verified: healthy 2 rounds" }],
    ]);
    expect(effects).toEqual([
      [{ metric: "opened", kind: "server_down", severity: "P1" }],
      [],
      [],
      [{ metric: "step", kind: "service.restart", outcome: "ok", seconds: 1.5 }],
      [],
      [
        { metric: "run", playbook: "restart-api", outcome: "recovered" },
        { metric: "recovery", kind: "server_down", remediated: true, seconds: 6 },
      ],
    ]);
  });

  it("a failed run counts once as failed; the later self-recovery is not a run but is a recovery", () => {
    const effects = replay([
      [0, "i2", opened],
      [1_000, "i2", { type: "playbook_started", runId: "i2-1", playbook: "restart-api", steps }],
      [2_000, "i2", { type: "step_finished", runId: "i2-1", index: 0, outcome: "failed", detail: "exit 1", durationMs: 900 }],
      [2_000, "i2", { type: "escalated", reason: "step failed", severity: "P1" }],
      [60_000, "i2", { type: "resolved", reason: "healthy for 2 rounds" }],
    ]);
    expect(effects[3]).toEqual([{ metric: "run", playbook: "restart-api", outcome: "failed" }]);
    expect(effects[4]).toEqual([{ metric: "recovery", kind: "server_down", remediated: false, seconds: 60 }]);
  });

  it("guard trips: the flap guard per target, the blast radius as medic's own incident; holds by cause", () => {
    const effects = replay([
      [0, "i3", opened],
      [1, "i3", { type: "held", by: "backoff", reason: "waiting 10s", until: 10_001 }],
      [2, "i3", { type: "escalated", reason: "flap guard: 3 runs", by: "flap_guard" }],
      [3, "b1", { type: "opened", target: "medic", kind: "blast_radius", severity: "P1", evidence: "holding back" }],
      [9, "b1", { type: "resolved", reason: "nothing is held back" }],
    ]);
    expect(effects[1]).toEqual([{ metric: "held", by: "backoff" }]);
    expect(effects[2]).toEqual([{ metric: "trip", guard: "flap_guard", target: "api" }]);
    expect(effects[3]).toEqual([
      { metric: "opened", kind: "blast_radius", severity: "P1" },
      { metric: "trip", guard: "blast_radius", target: "medic" },
    ]);
    // medic's own incident is no recovery of a service.
    expect(effects[4]).toEqual([]);
  });

  it("notifications by channel, failures with their reason; a target that went away is no recovery", () => {
    const effects = replay([
      [0, "i4", opened],
      [1, "i4", { type: "notification_sent", id: "n1", channel: "slack" }],
      [2, "i4", { type: "notification_failed", id: "n2", channel: "pagerduty", reason: "unauthorized", detail: "401" }],
      [3, "i4", { type: "resolved", reason: "no longer watched: container removed" }],
    ]);
    expect(effects.slice(1)).toEqual([
      [{ metric: "sent", channel: "slack" }],
      [{ metric: "failed", channel: "pagerduty", reason: "unauthorized" }],
      [],
    ]);
  });
});
