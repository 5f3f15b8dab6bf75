import { describe, expect, it } from "vitest";
import { parseCondition, type Condition } from "../classify/conditions.js";
import type { Target } from "../config/types.js";
import type { IncidentEvent } from "../incidents/types.js";
import type { Observation } from "../probes/types.js";
import type { RenderedStep } from "./plan.js";
import { runPlaybook } from "./run.js";
import { waitStep } from "./steps/wait.js";

const target: Target = {
  name: "orders-api", labels: {}, probe: { kind: "http", params: {} }, intervalMs: 10, timeoutMs: 100,
  failureThreshold: 3, successThreshold: 1, dependsOn: [],
  thresholds: { latencyMs: 2000, poolUtilization: 0.9, memoryUtilization: 0.9, idleInTransactionMs: 300_000, queryMs: 300_000 },
};
const cond = (text: string): Condition => {
  const parsed = parseCondition(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.condition;
};
const step = (index: number, onlyIf?: string): RenderedStep => ({
  index, name: `wait ${index}`, kind: "wait", step: waitStep, rendered: { forMs: 1 }, description: "wait 1ms", timeoutMs: 1000,
  ...(onlyIf && { onlyIf: [cond(onlyIf)] }),
});
const observation = (utilization: number): Observation => ({
  target: "orders-api", at: 0, ok: true, latencyMs: 1, facts: { status: 200, body: { connection_pool: { pool_utilization: utilization } } },
});

async function run(steps: RenderedStep[], utilization: number) {
  const events: IncidentEvent[] = [];
  const outcome = await runPlaybook({
    record: (e) => void events.push(e), runId: "r1", steps, verifyWithinMs: 1000, target, baseDir: "/", targets: new Map(),
    check: async () => undefined, observe: async () => observation(utilization),
    stop: new AbortController().signal, signal: new AbortController().signal,
  });
  return { outcome, finished: events.filter((e) => e.type === "step_finished") };
}

describe("runPlaybook with onlyIf", () => {
  it("runs a step whose condition holds on a fresh probe", async () => {
    const { outcome, finished } = await run([step(0), step(1, "[BODY].connection_pool.pool_utilization >= 0.9")], 0.95);
    expect(outcome).toEqual({ outcome: "recovered" });
    expect(finished.map((e) => e.type === "step_finished" && e.outcome)).toEqual(["ok", "ok"]);
  });

  it("skips it, saying why, when the condition does not hold, and goes on", async () => {
    const { outcome, finished } = await run([step(0, "[BODY].connection_pool.pool_utilization >= 0.9"), step(1)], 0.4);
    expect(outcome).toEqual({ outcome: "recovered" });
    expect(finished[0]).toMatchObject({
      outcome: "skipped",
      detail: "skipped: [BODY].connection_pool.pool_utilization >= 0.9 does not hold ([BODY].connection_pool.pool_utilization=0.4)",
    });
    expect(finished[1]).toMatchObject({ outcome: "ok" });
  });
});
