import { describe, expect, it } from "vitest";
import type { Target } from "../config/types.js";
import { matchPlaybook } from "./match.js";
import { planRemediation, renderPlan, type PlanInput } from "./plan.js";
import type { Playbook } from "./types.js";

const target = (over: Partial<Target> = {}): Target => ({
  name: "orders-api",
  labels: { team: "payments" },
  probe: { kind: "http", params: { url: "http://127.0.0.1:8000/health" } },
  service: {
    kind: "process",
    params: { start: ["/usr/bin/node", "server.js"], pidFile: "orders.pid", stopSignal: "SIGTERM", stopTimeout: 10_000, startupGrace: 500 },
  },
  intervalMs: 10_000,
  timeoutMs: 3_000,
  failureThreshold: 3,
  successThreshold: 2,
  thresholds: { latencyMs: 2000, poolUtilization: 0.9, memoryUtilization: 0.9, idleInTransactionMs: 300_000, queryMs: 300_000 },
  dependsOn: [],
  ...over,
});
const playbook = (over: Partial<Playbook>): Playbook => ({
  name: "p",
  file: "/etc/medic/playbooks/p.yaml",
  on: ["server_down"],
  targets: ["*"],
  labels: {},
  steps: [{ kind: "service.restart", params: {}, timeoutMs: 60_000 }],
  verify: { withinMs: 30_000 },
  onFailure: "escalate",
  ...over,
});
const incident = { id: "abc123", kind: "server_down", severity: "P1", target: "orders-api", evidence: "refused" };
const input = (over: Partial<PlanInput> = {}): PlanInput => ({
  incident,
  target: target(),
  playbooks: [playbook({})],
  ...over,
});

describe("matchPlaybook", () => {
  const generic = playbook({ name: "generic" });
  const pattern = playbook({ name: "pattern", targets: ["orders-*"] });
  const exact = playbook({ name: "exact", targets: ["orders-api"] });
  const labelled = playbook({ name: "labelled", targets: ["orders-*"], labels: { team: "payments" } });
  const otherTeam = playbook({ name: "other", targets: ["orders-api"], labels: { team: "search" } });

  it.each([
    [[generic, pattern], "pattern"],
    [[exact, pattern, generic], "exact"],
    [[pattern, labelled], "labelled"],
    [[otherTeam, generic], "generic"],
    [[generic, playbook({ name: "second" })], "generic"],
  ])("picks the most specific playbook (%#)", (books, name) => {
    expect(matchPlaybook(books as Playbook[], target(), "server_down")?.name).toBe(name);
  });

  it("ignores playbooks for other kinds and other targets", () => {
    expect(
      matchPlaybook([playbook({ on: ["high_latency"] }), playbook({ targets: ["billing-*"] })], target(), "server_down"),
    ).toBeUndefined();
  });
});

describe("planRemediation", () => {
  it("renders the matched playbook's steps", () => {
    const plan = planRemediation(
      input({
        playbooks: [
          playbook({
            steps: [
              { kind: "service.restart", params: {}, timeoutMs: 60_000 },
              {
                kind: "http",
                name: "tell the admin API",
                params: { method: "POST", url: "http://127.0.0.1:9000/reset/{{ target.name }}", headers: {} },
                timeoutMs: 5_000,
              },
            ],
          }),
        ],
      }),
    );
    expect(plan.action).toBe("run");
    if (plan.action !== "run") return;
    expect(plan.steps.map((s) => s.description)).toEqual([
      "restart process [/usr/bin/node server.js] (pid file orders.pid)",
      "POST http://127.0.0.1:9000/reset/orders-api",
    ]);
    expect(renderPlan(plan)).toEqual([
      "playbook p (/etc/medic/playbooks/p.yaml)",
      "  1. service.restart: restart process [/usr/bin/node server.js] (pid file orders.pid)  [timeout 1m]",
      "  2. tell the admin API: POST http://127.0.0.1:9000/reset/orders-api  [timeout 5s]",
      "  then verify: healthy within 30s, else escalate",
    ]);
  });

  it("escalates when no playbook handles the kind", () => {
    expect(planRemediation(input({ incident: { ...incident, kind: "queue_backlog" } }))).toEqual({
      action: "escalate",
      reason: "no playbook handles queue_backlog on orders-api",
    });
  });

  it("escalates when a service step has no service to act on", () => {
    const plan = planRemediation(input({ target: target({ service: undefined }) }));
    expect(plan.action === "escalate" && plan.reason).toMatch(/acts on a service, but orders-api has none/);
  });

  it("escalates, naming the step, when a template cannot be filled", () => {
    const plan = planRemediation(
      input({
        playbooks: [
          playbook({
            steps: [
              {
                kind: "http",
                params: { method: "POST", url: "http://127.0.0.1:9000/{{ target.labels.missing }}", headers: {} },
                timeoutMs: 5_000,
              },
            ],
          }),
        ],
      }),
    );
    expect(plan.action === "escalate" && plan.reason).toMatch(/step 1 \(http\) of playbook p: .*missing/);
  });
});
