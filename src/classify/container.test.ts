import { describe, expect, it } from "vitest";
import type { Target } from "../config/types.js";
import type { ContainerFacts, Observation } from "../probes/types.js";
import { classify } from "./classify.js";

const target: Target = {
  name: "web",
  labels: {},
  probe: { kind: "docker", params: { container: "web" } },
  intervalMs: 1000,
  timeoutMs: 1000,
  failureThreshold: 2,
  successThreshold: 2,
  dependsOn: [],
  thresholds: { latencyMs: 2000, poolUtilization: 0.9, memoryUtilization: 0.9, idleInTransactionMs: 300_000, queryMs: 300_000 },
};
const container = (over: Partial<ContainerFacts>): Observation => {
  const c: ContainerFacts = { id: "abc", name: "web", state: "running", exitCode: 0, oomKilled: false, restartCount: 0, ...over };
  return { target: "web", at: 0, ok: c.state === "running" && c.health?.status !== "unhealthy", latencyMs: 3, facts: { container: c } };
};

describe("classify a container", () => {
  it.each([
    ["killed", { state: "exited", exitCode: 137 }, "server_down", "container web exited with code 137"],
    ["dead", { state: "dead", exitCode: 1 }, "server_down", "container web is dead"],
    [
      "crash looping",
      { state: "restarting", exitCode: 1, restartCount: 7 },
      "server_down",
      "container web is restarting (last exit 1), restarted 7 times",
    ],
    [
      "OOM-killed",
      { state: "exited", exitCode: 137, oomKilled: true, memory: { usageBytes: 0, limitBytes: 32 * 1024 ** 2 } },
      "memory_pressure",
      "container web was OOM-killed (exit 137), limit 32MiB",
    ],
    [
      "unhealthy",
      { health: { status: "unhealthy", failingStreak: 3, lastOutput: "curl: (7)\nrefused" } },
      "server_down",
      "container web is unhealthy (failing 3 checks): curl: (7) refused",
    ],
  ] as const)("%s", (_name, facts, kind, evidence) => {
    expect(classify(container(facts as Partial<ContainerFacts>), target, [], {})).toMatchObject({ kind, evidence });
  });

  it("is memory_pressure when a running container nears its limit, healthy otherwise", () => {
    const near = container({ memory: { usageBytes: 60, limitBytes: 64 } });
    near.facts.memoryUtilization = 60 / 64;
    expect(classify(near, target, [], {})?.kind).toBe("memory_pressure");
    expect(classify(container({ health: { status: "healthy", failingStreak: 0 } }), target, [], {})).toBeUndefined();
  });
});
