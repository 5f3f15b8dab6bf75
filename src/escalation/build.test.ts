import { describe, expect, it } from "vitest";
import { foldRecords } from "../incidents/fold.js";
import type { JournalRecord } from "../incidents/types.js";
import { buildNotification } from "./build.js";

const rec = (at: number, e: object) => ({ ...e, at, incident: "c3" }) as JournalRecord;

describe("buildNotification: artifacts", () => {
  it("carries each kept artifact as name, size and step (never its excerpt or path), the latest 10 at most", () => {
    const refs = Array.from({ length: 12 }, (_, i) => ({
      name: `logs-${i + 1}.txt`,
      path: `artifacts/c3/logs-${i + 1}.txt`,
      bytes: 100 + i,
      sha256: "f".repeat(64),
      truncated: false,
      excerpt: "password=[secret] and other lines",
    }));
    const incident = foldRecords([
      rec(0, { type: "opened", target: "api", kind: "memory_pressure", severity: "P2", evidence: "rss" }),
      rec(1, {
        type: "playbook_started",
        runId: "r",
        playbook: "p",
        steps: [{ name: "log tail", kind: "capture.logs", description: "d" }],
      }),
      rec(2, { type: "step_finished", runId: "r", index: 0, outcome: "ok", detail: "kept", durationMs: 1, artifacts: refs }),
    ]).get("c3")!;
    const n = buildNotification(incident, { channel: "slack", event: "trigger", reason: "opened" }, 3, "https://medic.example");
    expect(n.artifacts).toHaveLength(10);
    expect(n.artifacts![0]).toEqual({ name: "logs-3.txt", bytes: 102, step: "log tail" });
    expect(JSON.stringify(n)).not.toContain("password");
    expect(n.link).toBe("https://medic.example/#/incidents/c3");
    const none = foldRecords([rec(0, { type: "opened", target: "api", kind: "server_down", severity: "P1", evidence: "x" })]).get("c3")!;
    expect(buildNotification(none, { channel: "slack", event: "trigger", reason: "opened" }, 1)).not.toHaveProperty("artifacts");
  });
});
