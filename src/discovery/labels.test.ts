import { describe, expect, it } from "vitest";
import type { TargetDefaults } from "../config/types.js";
import { targetFromContainer } from "./labels.js";

const defaults: TargetDefaults = {
  intervalMs: 10_000,
  timeoutMs: 3_000,
  failureThreshold: 3,
  successThreshold: 2,
  thresholds: { latencyMs: 2000, poolUtilization: 0.9, memoryUtilization: 0.9, idleInTransactionMs: 300_000, queryMs: 300_000 },
};
const engine = { label: "medic.enable" };

describe("targetFromContainer", () => {
  it("watches a labelled container through the engine, with the defaults", () => {
    const r = targetFromContainer("orders-api", { "medic.enable": "true" }, defaults, engine);
    if ("error" in r) throw new Error(r.error);
    expect(r.target).toMatchObject({
      name: "orders-api",
      labels: { runtime: "docker" },
      intervalMs: 10_000,
      failureThreshold: 3,
      probe: { kind: "docker", params: { container: "orders-api" } },
      service: { kind: "docker", params: { container: "orders-api" } },
    });
  });

  it("takes interval, thresholds, health URL and playbook from labels", () => {
    const r = targetFromContainer(
      "web",
      {
        "medic.interval": "2s",
        "medic.failure-threshold": "5",
        "medic.memory-threshold": "0.8",
        "medic.health-url": "http://127.0.0.1:8080/health",
        "medic.playbook": "restart-container",
      },
      defaults,
      engine,
    );
    if ("error" in r) throw new Error(r.error);
    expect(r.target).toMatchObject({
      intervalMs: 2000,
      failureThreshold: 5,
      playbook: "restart-container",
      thresholds: { memoryUtilization: 0.8 },
      probe: { kind: "http", params: { url: "http://127.0.0.1:8080/health", method: "GET" } },
    });
  });

  it.each([
    ["a hostile name", "-rm", {}],
    ["a path in the name", "a/../b", {}],
    ["a bad interval", "web", { "medic.interval": "$(reboot)" }],
    ["a threshold out of range", "web", { "medic.failure-threshold": "100000" }],
    ["a non-http health URL", "web", { "medic.health-url": "file:///etc/passwd" }],
    ["a playbook name with a slash", "web", { "medic.playbook": "../../etc" }],
  ])("refuses %s", (_what, name, labels) => {
    expect(targetFromContainer(name, labels as Record<string, string>, defaults, engine)).toHaveProperty("error");
  });
});
