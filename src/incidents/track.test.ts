import { describe, expect, it } from "vitest";
import type { Finding } from "../classify/types.js";
import { foldRecords } from "./fold.js";
import { OBSERVED_EVERY_MS, OBSERVED_UNCHANGED_MS, trackRound, type TargetTrack } from "./track.js";
import type { Incident, JournalRecord } from "./types.js";

const down: Finding = { target: "web", kind: "server_down", severity: "P1", evidence: "connection refused" };
const slow: Finding = { target: "web", kind: "high_latency", severity: "P2", evidence: "latency 3000ms over 2000ms" };
const fresh: TargetTrack = { failStreak: 0, okStreak: 0 };

function incident(records: Record<string, unknown>[]): Incident {
  return foldRecords(records.map((r) => ({ ...r, incident: "i1" }) as unknown as JournalRecord)).get("i1")!;
}
const opened = (at = 0) =>
  ({ type: "opened", target: "web", kind: "server_down", severity: "P1", evidence: "connection refused", at }) as const;

function rounds(findings: (Finding | undefined)[], open: Incident[] = [], f = 3, s = 2) {
  let track = fresh;
  return findings.map((finding, i) => {
    const r = trackRound({ track, finding, open, failureThreshold: f, successThreshold: s, now: i * 1000 });
    track = r.track;
    return r.decisions;
  });
}

describe("trackRound", () => {
  it("opens only after failureThreshold consecutive failing rounds", () => {
    expect(rounds([down, down, down]).map((d) => d.map((x) => x.type))).toEqual([[], [], ["open"]]);
    expect(rounds([down, down, undefined, down, down]).flat()).toEqual([]);
  });

  it("counts failing rounds of any kind and opens with the latest kind", () => {
    const last = rounds([down, slow, slow]).at(-1)!;
    expect(last).toEqual([{ type: "open", finding: slow }]);
  });

  it("merges repeats into the open incident of the same kind", () => {
    const open = incident([opened()]);
    const d = trackRound({
      track: { failStreak: 5, okStreak: 0 },
      finding: down,
      open: [open],
      failureThreshold: 3,
      successThreshold: 2,
      now: 5000,
    });
    expect(d.decisions).toEqual([{ type: "repeat", incident: "i1", evidence: down.evidence, occurrences: 2, journal: false }]);
  });

  it("journals a repeat when the evidence changed and the last entry is old enough", () => {
    const open = incident([opened()]);
    const other = { ...down, evidence: "HTTP 503" };
    const early = trackRound({ track: fresh, finding: other, open: [open], failureThreshold: 3, successThreshold: 2, now: 1000 });
    const late = trackRound({
      track: fresh,
      finding: other,
      open: [open],
      failureThreshold: 3,
      successThreshold: 2,
      now: OBSERVED_EVERY_MS,
    });
    expect(early.decisions[0]).toMatchObject({ journal: false });
    expect(late.decisions[0]).toMatchObject({ journal: true, evidence: "HTTP 503" });
  });

  it("counts every repeat without touching the incident: the count waits in the track until it is journaled", () => {
    const open = incident([opened()]);
    let track: TargetTrack = { failStreak: 3, okStreak: 0 };
    const counts: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const r = trackRound({ track, finding: down, open: [open], failureThreshold: 3, successThreshold: 2, now: i * 1000 });
      track = r.track;
      counts.push(r.decisions[0]!.type === "repeat" ? r.decisions[0]!.occurrences : -1);
    }
    expect(counts).toEqual([2, 3, 4, 5]);
    expect(open.occurrences).toBe(1);
    expect(track.unjournaled).toEqual({ i1: 5 });
    // A healthy round keeps what is not journaled yet; a journaled repeat takes it out.
    track = trackRound({ track, finding: undefined, open: [open], failureThreshold: 3, successThreshold: 2, now: 5000 }).track;
    expect(track.unjournaled?.i1).toBe(5);
    const late = trackRound({ track, finding: down, open: [open], failureThreshold: 3, successThreshold: 2, now: OBSERVED_UNCHANGED_MS });
    expect(late.decisions[0]).toMatchObject({ journal: true, occurrences: 6 });
    expect(late.track.unjournaled).toBeUndefined();
  });

  it("journals the same evidence only every OBSERVED_UNCHANGED_MS, and forgets counts of incidents no longer open", () => {
    const open = incident([opened()]);
    const at = (now: number) =>
      trackRound({ track: fresh, finding: down, open: [open], failureThreshold: 3, successThreshold: 2, now }).decisions[0];
    expect(at(OBSERVED_EVERY_MS)).toMatchObject({ journal: false });
    expect(at(OBSERVED_UNCHANGED_MS)).toMatchObject({ journal: true });
    const stale: TargetTrack = { failStreak: 0, okStreak: 0, unjournaled: { gone: 9 } };
    expect(
      trackRound({ track: stale, finding: undefined, open: [open], failureThreshold: 3, successThreshold: 2, now: 1 }).track.unjournaled,
    ).toBeUndefined();
  });

  it("opens a second incident for another kind on the same target", () => {
    const open = incident([opened()]);
    expect(rounds([slow, slow, slow], [open]).at(-1)).toEqual([{ type: "open", finding: slow }]);
  });

  it("opens nothing new while a playbook acts on the target", () => {
    const busy = incident([opened(), { type: "playbook_started", runId: "r1", playbook: "p", steps: [], at: 1 }]);
    expect(rounds([slow, slow, slow, slow], [busy]).flat()).toEqual([]);
  });

  it("resolves open and escalated incidents after successThreshold healthy rounds, not remediating ones", () => {
    const open = incident([opened()]);
    expect(rounds([undefined, undefined], [open]).map((d) => d.map((x) => x.type))).toEqual([[], ["resolve"]]);
    const escalated = incident([opened(), { type: "escalated", reason: "x", at: 1 }]);
    expect(rounds([undefined, undefined], [escalated]).flat()).toHaveLength(1);
    const busy = incident([opened(), { type: "playbook_started", runId: "r1", playbook: "p", steps: [], at: 1 }]);
    expect(rounds([undefined, undefined, undefined], [busy]).flat()).toEqual([]);
  });
});

describe("trackRound with an event-confirmed failure", () => {
  it("opens at the first failing round the event triggered", () => {
    const d = trackRound({ track: fresh, finding: down, open: [], failureThreshold: 3, successThreshold: 2, now: 0, confirmed: true });
    expect(d.decisions).toEqual([{ type: "open", finding: down }]);
  });

  it("still needs a failing round: an event followed by a healthy probe opens nothing", () => {
    const d = trackRound({ track: fresh, finding: undefined, open: [], failureThreshold: 3, successThreshold: 2, now: 0, confirmed: true });
    expect(d.decisions).toEqual([]);
  });
});

describe("trackRound with incidents raised from outside", () => {
  const alertIncident = (extra: Record<string, unknown>[]) =>
    foldRecords([
      {
        at: 0,
        incident: "a1",
        type: "opened",
        target: "web",
        kind: "error_rate",
        severity: "P2",
        evidence: "alert",
        source: "alertmanager:f1",
      },
      ...extra.map((e, i) => ({ at: i + 1, incident: "a1", ...e })),
    ] as JournalRecord[]).get("a1")!;
  const healthy = (open: Incident[]) =>
    trackRound({ track: { failStreak: 0, okStreak: 5 }, finding: undefined, open, failureThreshold: 2, successThreshold: 2, now: 10 });

  it("healthy rounds do not resolve it while its source fires (the probe may not see what the alert sees)", () => {
    expect(healthy([alertIncident([])]).decisions).toEqual([]);
  });

  it("once its source stopped firing, healthy rounds resolve it like any other", () => {
    const incident = alertIncident([{ type: "source_resolved", detail: "the alert resolved, but the probe still failed" }]);
    expect(healthy([incident]).decisions).toEqual([{ type: "resolve", incident: "a1", reason: "healthy for 6 rounds" }]);
  });
});
