import { describe, expect, it } from "vitest";
import { foldRecords } from "./fold.js";
import type { JournalRecord } from "./types.js";

const r = (at: number, e: Record<string, unknown>) => ({ at, incident: "i1", ...e }) as JournalRecord;

describe("foldRecords", () => {
  const records = [
    r(0, { type: "opened", target: "web", kind: "server_down", severity: "P1", evidence: "refused" }),
    r(1, {
      type: "playbook_started",
      runId: "i1-1",
      playbook: "restart",
      steps: [
        { name: "a", kind: "wait", description: "wait 1s" },
        { name: "b", kind: "exec", description: "x" },
      ],
    }),
    r(2, { type: "step_started", runId: "i1-1", index: 0 }),
    r(3, { type: "step_finished", runId: "i1-1", index: 0, outcome: "ok", detail: "waited 1s", durationMs: 1000 }),
    r(4, { type: "step_started", runId: "i1-1", index: 1 }),
  ];

  it("rebuilds state, runs and step status from the records", () => {
    const i = foldRecords(records).get("i1")!;
    expect(i).toMatchObject({ state: "remediating", target: "web", kind: "server_down", openedAt: 0, updatedAt: 4 });
    expect(i.runs[0]!.steps.map((s) => s.status)).toEqual(["ok", "running"]);
    expect(i.timeline).toHaveLength(5);
  });

  it("walks through verifying to resolved", () => {
    const more = [
      ...records,
      r(5, { type: "step_finished", runId: "i1-1", index: 1, outcome: "ok", detail: "", durationMs: 1 }),
      r(6, { type: "verifying", runId: "i1-1", withinMs: 30000 }),
      r(9, { type: "resolved", reason: "verified" }),
    ];
    const i = foldRecords(more).get("i1")!;
    expect(i.state).toBe("resolved");
    expect(i.resolvedAt).toBe(9);
    expect(i.runs[0]!.verify).toEqual({ startedAt: 6, withinMs: 30000 });
  });

  it("ends a run when the incident is resolved or escalated, not while a step is running", () => {
    expect(foldRecords(records).get("i1")!.runs[0]!.endedAt).toBeUndefined();
    const done = [
      ...records,
      r(5, { type: "step_finished", runId: "i1-1", index: 1, outcome: "failed", detail: "", durationMs: 1 }),
      r(6, { type: "escalated", reason: "x" }),
    ];
    expect(foldRecords(done).get("i1")!.runs[0]!.endedAt).toBe(6);
  });

  it("folds the safety decisions: held (with its hold), suppressed (with its root), would_run back to open", () => {
    const opened = r(0, { type: "opened", target: "web", kind: "server_down", severity: "P1", evidence: "refused" });
    const held = foldRecords([opened, r(1, { type: "held", by: "backoff", reason: "wait", until: 10 })]).get("i1")!;
    expect(held).toMatchObject({ state: "held", hold: { by: "backoff", reason: "wait", until: 10 } });
    const suppressed = foldRecords([
      opened,
      r(1, { type: "held", by: "backoff", reason: "wait" }),
      r(2, { type: "suppressed", root: "d1", reason: "db" }),
    ]).get("i1")!;
    expect(suppressed).toMatchObject({ state: "suppressed", root: "d1" });
    expect(suppressed.hold).toBeUndefined();
    expect(foldRecords([{ ...opened, root: "d1" } as JournalRecord]).get("i1")).toMatchObject({ state: "suppressed", root: "d1" });
    expect(foldRecords([opened, r(1, { type: "would_run", plan: [], guards: "" })]).get("i1")!.state).toBe("open");
  });

  it("ignores records of an incident whose opening is missing", () => {
    expect(foldRecords([r(1, { type: "escalated", reason: "x" })]).size).toBe(0);
  });
});
