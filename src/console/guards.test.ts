import { describe, expect, it } from "vitest";
import { guardDecisions } from "./guards.js";
import type { IncidentDetail, TimelineRecord } from "./types.js";

const rec = (type: string, extra: Record<string, unknown> = {}): TimelineRecord => ({
  at: "2025-01-02T12:00:00.000Z",
  type,
  text: `${type} line`,
  ...extra,
});

describe("guardDecisions", () => {
  it("says why medic acted or held back, from the records, in order, and leaves the rest out", () => {
    const d = {
      timeline: [
        rec("opened"),
        rec("suppressed", { root: "db1", reason: "orders-db is down" }),
        rec("held", { by: "blast_radius", reason: "2 of 2 running" }),
        rec("playbook_started", { playbook: "restart", guards: "flap guard: run 2 of 3 in 1h" }),
        rec("step_finished"),
        rec("escalated", { by: "flap_guard", reason: "3 runs in 1h" }),
        rec("approval_requested"),
        rec("rejected"),
        rec("would_run", { guards: "dry run" }),
      ],
    } as IncidentDetail;
    expect(guardDecisions(d).map((x) => [x.what, x.why, x.tone])).toEqual([
      ["suppressed under incident db1", "orders-db is down", "info"],
      ["held by blast radius", "2 of 2 running", "warn"],
      ["ran playbook restart", "flap guard: run 2 of 3 in 1h", "ok"],
      ["flap guard tripped", "3 runs in 1h", "bad"],
      ["asked a person first", "approval_requested line", "warn"],
      ["rejected", "rejected line", "bad"],
      ["dry run: acted on nothing", "dry run", "info"],
    ]);
  });
});
