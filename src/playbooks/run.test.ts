import { describe, expect, it } from "vitest";
import { collectGarbage } from "../lib/gc.js";
import { parseCondition, type Condition } from "../classify/conditions.js";
import type { Target } from "../config/types.js";
import type { IncidentEvent } from "../incidents/types.js";
import type { Observation } from "../probes/types.js";
import type { RenderedStep } from "./plan.js";
import { runPlaybook } from "./run.js";
import { serviceRestart } from "./steps/service.js";
import { waitStep } from "./steps/wait.js";

const target: Target = {
  name: "orders-api",
  labels: {},
  probe: { kind: "http", params: {} },
  intervalMs: 10,
  timeoutMs: 100,
  failureThreshold: 3,
  successThreshold: 1,
  dependsOn: [],
  thresholds: { latencyMs: 2000, poolUtilization: 0.9, memoryUtilization: 0.9, idleInTransactionMs: 300_000, queryMs: 300_000 },
};
const cond = (text: string): Condition => {
  const parsed = parseCondition(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.condition;
};
const step = (index: number, onlyIf?: string): RenderedStep => ({
  index,
  name: `wait ${index}`,
  kind: "wait",
  step: waitStep,
  rendered: { forMs: 1 },
  description: "wait 1ms",
  timeoutMs: 1000,
  ...(onlyIf && { onlyIf: [cond(onlyIf)] }),
});
const observation = (utilization: number): Observation => ({
  target: "orders-api",
  at: 0,
  ok: true,
  latencyMs: 1,
  facts: { status: 200, body: { connection_pool: { pool_utilization: utilization } } },
});

async function run(steps: RenderedStep[], utilization: number, resume?: Parameters<typeof runPlaybook>[0]["resume"]) {
  const events: IncidentEvent[] = [];
  const outcome = await runPlaybook({
    record: (e) => void events.push(e),
    runId: "r1",
    steps,
    verifyWithinMs: 1000,
    target,
    baseDir: "/",
    targets: new Map(),
    check: async () => undefined,
    observe: async () => observation(utilization),
    stop: new AbortController().signal,
    signal: new AbortController().signal,
    ...(resume && { resume }),
  });
  return { outcome, events, finished: events.filter((e) => e.type === "step_finished") };
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

describe("runPlaybook when no step changed anything", () => {
  const finding = { target: "orders-api", kind: "long_transaction", severity: "P2" as const, evidence: "pid 7 idle in transaction for 9s" };
  const nothing: RenderedStep = {
    index: 0,
    name: "terminate",
    kind: "postgres.terminate",
    description: "terminate",
    timeoutMs: 1000,
    rendered: {},
    step: {
      ...waitStep,
      run: async () => ({ ok: true, changed: false, detail: "terminated 0 sessions: none idle in transaction over 3s" }),
    },
  };
  const runWith = async (steps: RenderedStep[], checks: (typeof finding | undefined)[]) => {
    const events: IncidentEvent[] = [];
    const outcome = await runPlaybook({
      record: (e) => void events.push(e),
      runId: "r1",
      steps,
      verifyWithinMs: 60_000,
      target,
      baseDir: "/",
      targets: new Map(),
      check: async () => checks.shift(),
      observe: async () => observation(0.4),
      stop: new AbortController().signal,
      signal: new AbortController().signal,
    });
    return { outcome, events };
  };

  it("records the step as skipped with what it found, and fails at once when the target still fails", async () => {
    const { outcome, events } = await runWith([nothing], [finding, finding, finding]);
    expect(events.find((e) => e.type === "step_finished")).toMatchObject({
      outcome: "skipped",
      detail: "terminated 0 sessions: none idle in transaction over 3s",
    });
    expect(events.some((e) => e.type === "verifying")).toBe(false);
    expect(outcome).toEqual({
      outcome: "failed",
      reason:
        "no step changed anything (step 1 (terminate): terminated 0 sessions: none idle in transaction over 3s) and orders-api is still long_transaction " +
        "(pid 7 idle in transaction for 9s): nothing to wait for",
    });
  });

  it("verifies as usual when the target is healthy anyway (the session ended by itself)", async () => {
    const { outcome, events } = await runWith([nothing], [undefined, undefined]);
    expect(outcome).toEqual({ outcome: "recovered" });
    expect(events.some((e) => e.type === "verifying")).toBe(true);
  });

  it("verifies as usual when another step did act", async () => {
    const { outcome } = await runWith([nothing, step(1)], [finding, undefined]);
    expect(outcome).toEqual({ outcome: "recovered" });
  });
});

describe("runPlaybook under the daemon's long-lived signals", () => {
  // Node 20's AbortSignal.any keeps every signal it made reachable from a long-lived input (about
  // 60 bytes each, nodejs/node#55351); medic ran two per step, for the life of the daemon.
  it("leaves the heap where it was after thousands of steps", async () => {
    const stop = new AbortController().signal;
    const signal = new AbortController().signal;
    const restarted = { ok: true, detail: "restarted" };
    const service = { describe: () => "fake", start: async () => restarted, stop: async () => restarted, restart: async () => restarted };
    const steps: RenderedStep[] = [
      { index: 0, name: "restart", kind: "service.restart", step: serviceRestart, rendered: {}, description: "restart", timeoutMs: 60_000 },
    ];
    const runs = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await runPlaybook({
          record: () => {},
          runId: "r",
          steps,
          verifyWithinMs: 1000,
          target,
          service,
          baseDir: "/",
          targets: new Map(),
          check: async () => undefined,
          observe: async () => observation(0),
          stop,
          signal,
        });
      }
    };
    const heapAfterGc = async () => {
      await new Promise((r) => setImmediate(r));
      expect(collectGarbage()).toBe(true);
      return process.memoryUsage().heapUsed;
    };
    await runs(2_000); // warm up: compiled code and caches are not growth
    const before = await heapAfterGc();
    const n = 50_000;
    await runs(n);
    const grown = (await heapAfterGc()) - before;
    // With the leak: about 120 bytes per run (6 MB); without, a few hundred KB of noise at most.
    expect(grown / n).toBeLessThan(20);
  });
});

describe("runPlaybook with capture steps", () => {
  const capture = (behaviour: "fail" | "hang" | "keep"): RenderedStep => ({
    index: 0,
    name: "capture",
    kind: "capture.test",
    step: {
      ...waitStep,
      capture: true,
      run: async (_r, ctx) => {
        if (behaviour === "fail") return { ok: false, detail: "no dump appeared" };
        if (behaviour === "hang")
          await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
        if (behaviour === "hang") return { ok: false, detail: "timed out" };
        const ref = { name: "logs-1.txt", path: "artifacts/i/logs-1.txt", bytes: 3, sha256: "ab", truncated: false };
        return { ok: true, detail: "kept logs-1.txt", artifacts: [ref] };
      },
    },
    rendered: { forMs: 1 },
    description: "capture something",
    timeoutMs: 50,
  });
  const after = { ...step(1), name: "restart" };

  const runWith = (steps: RenderedStep[], resume?: Parameters<typeof runPlaybook>[0]["resume"]) => run(steps, 0, resume);

  it("records a failed capture as such and goes on to the fix, which runs and is verified", async () => {
    const { outcome, events } = await runWith([capture("fail"), after]);
    expect(outcome).toEqual({ outcome: "recovered" });
    const finished = events.filter((e) => e.type === "step_finished");
    expect(finished).toMatchObject([
      { index: 0, outcome: "failed", detail: "capture failed: no dump appeared; going on" },
      { index: 1, outcome: "ok" },
    ]);
  });

  it("a capture that hangs is cut off at its own timeout, and the step after it starts once it is recorded", async () => {
    const { outcome, events } = await runWith([capture("hang"), after]);
    expect(outcome).toEqual({ outcome: "recovered" });
    const order = events.map((e) => (e.type === "step_started" || e.type === "step_finished" ? `${e.type}:${e.index}` : e.type));
    expect(order.slice(0, 4)).toEqual(["step_started:0", "step_finished:0", "step_started:1", "step_finished:1"]);
    expect(events[1]).toMatchObject({ outcome: "failed", detail: expect.stringMatching(/^capture failed: .*; going on$/) });
  });

  it("journals what a capture kept on its step's record", async () => {
    const { events } = await runWith([capture("keep"), after]);
    expect(events.find((e) => e.type === "step_finished" && e.index === 0)).toMatchObject({
      outcome: "ok",
      artifacts: [{ name: "logs-1.txt", sha256: "ab" }],
    });
  });

  it("a resumed run goes past a capture the journal records as failed", async () => {
    const resume = {
      runId: "r1",
      playbook: "p",
      startedAt: 0,
      steps: [
        { name: "capture", kind: "capture.test", description: "capture something", status: "failed" as const, capture: true as const },
        { name: "restart", kind: "wait", description: "wait 1ms", status: "pending" as const },
      ],
    };
    const { outcome, events } = await runWith([capture("fail"), after], resume);
    expect(outcome).toEqual({ outcome: "recovered" });
    expect(events.filter((e) => e.type === "step_started").map((e) => e.type === "step_started" && e.index)).toEqual([1]);
  });
});
