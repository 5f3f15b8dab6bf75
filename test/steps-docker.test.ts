import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Target } from "../src/config/types.js";
import { planRemediation } from "../src/playbooks/plan.js";
import { dockerKill, dockerRestart, dockerStart, dockerStop, dockerUpdate } from "../src/playbooks/steps/docker.js";
import { planUpdate } from "../src/playbooks/steps/docker-update.js";
import { stepKinds } from "../src/playbooks/steps/registry.js";
import { buildTemplateVars, createRenderer, TemplateError } from "../src/playbooks/template.js";
import type { Playbook, StepKind } from "../src/playbooks/types.js";
import { incidentRenderer, stepContext, testTarget } from "./fixtures/steps-context.js";
import { containerName, engineUp, runHttpContainer, type TestContainer } from "./docker-harness.js";
import { cleanup } from "./harness.js";

// docker.* steps against the real engine; render-time refusals are proven by the victim container staying untouched.

afterEach(cleanup);
beforeAll(async () => {
  if (!(await engineUp())) throw new Error("no Docker engine: run bash scripts/setup.sh");
});

const MiB = 1024 ** 2;

function serviceTarget(container: string, labels: Record<string, string> = {}): Target {
  return { ...testTarget("orders-api", labels), service: { kind: "docker", params: { container, stopTimeout: 1000 } } };
}
function probeTarget(container: string): Target {
  return { ...testTarget("orders-api", {}), probe: { kind: "docker", params: { container } } };
}

/** Parses, renders and runs a step as the runner would. */
async function run(step: StepKind, params: unknown, target: Target, timeoutMs = step.defaultTimeoutMs) {
  const rendered = step.render(step.schema.parse(params), createRenderer(buildTemplateVars(target)));
  return step.run(rendered, stepContext("/", timeoutMs, { target }));
}

async function untouched(c: TestContainer, startedAt: string): Promise<void> {
  expect((await c.inspect()).State).toMatchObject({ Running: true, StartedAt: startedAt, ExitCode: 0 });
}

describe("docker steps: declarations", () => {
  it("are registered with their timeouts, idempotence, and no need for a service", () => {
    const expected = [
      ["docker.restart", dockerRestart, 90_000, true],
      ["docker.start", dockerStart, 30_000, true],
      ["docker.stop", dockerStop, 60_000, true],
      ["docker.kill", dockerKill, 15_000, false],
      ["docker.update", dockerUpdate, 30_000, false],
    ] as const;
    for (const [key, step, timeoutMs, idempotent] of expected) {
      expect(stepKinds.get(key)).toBe(step);
      expect(step).toMatchObject({ defaultTimeoutMs: timeoutMs, idempotent, needsService: false });
    }
  });

  it("take null params, default kill's signal to SIGKILL, and refuse literal bad names at load", () => {
    expect(dockerRestart.schema.parse(null)).toEqual({});
    expect(dockerKill.schema.parse(null)).toEqual({ signal: "SIGKILL" });
    expect(dockerKill.schema.safeParse({ signal: "SIGSTOP" }).success).toBe(false);
    expect(dockerStop.schema.parse({ container: "{{ target.labels.c }}", stopTimeout: "5s" })).toEqual({
      container: "{{ target.labels.c }}",
      stopTimeout: 5000,
    });
    for (const container of ["-rm", "a/../b", "x;y"]) expect(dockerStart.schema.safeParse({ container }).success).toBe(false);
  });

  it("validate docker.update params", () => {
    expect(dockerUpdate.schema.safeParse({}).error?.issues[0]?.message).toMatch(/^nothing to update/);
    expect(dockerUpdate.schema.safeParse({ memory: { factor: 1, max: "1GiB" } }).success).toBe(false);
    expect(dockerUpdate.schema.safeParse({ memory: "128MiB", memorySwap: "64MiB" }).success).toBe(false);
    expect(dockerUpdate.schema.safeParse({ cpus: 0 }).success).toBe(false);
    expect(dockerUpdate.schema.parse({ memory: { factor: 2, max: "256MiB" } })).toEqual({ memory: { factor: 2, max: 256 * MiB } });
  });

  it("describe what they would do", () => {
    expect(dockerUpdate.describe(dockerUpdate.schema.parse({ container: "orders-api", memory: { factor: 2, max: "256MiB" } }))).toBe(
      "raise memory of orders-api x2 up to 256MiB",
    );
    expect(dockerKill.describe({ container: "orders-api", signal: "SIGTERM" })).toBe("send SIGTERM to container orders-api");
    expect(dockerRestart.describe({ stopTimeout: 5000 })).toBe("restart the target's container (stop timeout 5s)");
  });
});

describe("planUpdate (pure)", () => {
  const limits = (Memory: number, MemorySwap = Memory, NanoCpus = 0) => ({ Memory, MemorySwap, NanoCpus });
  it.each([
    [{ memory: 64 * MiB }, limits(32 * MiB), { Memory: 64 * MiB, MemorySwap: 64 * MiB }, "memory 32MiB -> 64MiB, swap 64MiB"],
    [
      { memory: { factor: 2, max: 256 * MiB } },
      limits(32 * MiB),
      { Memory: 64 * MiB, MemorySwap: 64 * MiB },
      "memory 32MiB -> 64MiB (ceiling 256MiB), swap 64MiB",
    ],
    [
      { memory: { factor: 2, max: 100 * MiB } },
      limits(64 * MiB),
      { Memory: 100 * MiB, MemorySwap: 100 * MiB },
      "memory 64MiB -> 100MiB (ceiling 100MiB), swap 100MiB",
    ],
    [
      { memory: 64 * MiB, memorySwap: 128 * MiB },
      limits(0, 0),
      { Memory: 64 * MiB, MemorySwap: 128 * MiB },
      "memory unlimited -> 64MiB, swap 128MiB",
    ],
    [{ cpus: 0.5 }, limits(0, 0, 2e9), { NanoCpus: 5e8 }, "cpus 2 -> 0.5"],
  ] as const)("%j on %j", (params, current, body, detail) => {
    expect(planUpdate(params, current)).toEqual({ body, detail });
  });

  it.each([
    [{ memory: { factor: 2, max: 256 * MiB } }, limits(256 * MiB), "memory already at its ceiling 256MiB: not raising"],
    [{ memory: { factor: 2, max: 256 * MiB } }, limits(300 * MiB), "memory already at its ceiling 256MiB: not raising"],
    [{ memory: { factor: 2, max: 256 * MiB } }, limits(0, 0), /^no memory limit is set, so there is nothing to multiply by 2/],
    [{ memory: { factor: 4, max: 1024 * MiB }, memorySwap: 64 * MiB }, limits(32 * MiB), /^memorySwap 64MiB is below memory 128MiB/],
  ] as const)("refuses %j on %j", (params, current, refuse) => {
    const plan = planUpdate(params, current);
    expect("refuse" in plan && plan.refuse).toMatch(refuse);
  });
});

describe("docker steps: render refuses what is not a container name, before any engine call", () => {
  // "VICTIM/kill?signal=KILL&x=" unchecked would make dockerode POST /containers/VICTIM/kill?signal=KILL&x=/restart and kill it.
  it.each(["-rm", "a/../VICTIM", "x;y", "VICTIM/kill?signal=KILL&x="])("a label rendering to %j", async (value) => {
    const victim = await runHttpContainer();
    const { StartedAt } = (await victim.inspect()).State;
    const target = serviceTarget(victim.name, { c: value.replace("VICTIM", victim.name) });
    const renderer = createRenderer(buildTemplateVars(target));
    for (const step of [dockerRestart, dockerKill, dockerUpdate] as StepKind[]) {
      const params = step.schema.parse({ container: "{{ target.labels.c }}", ...(step === dockerUpdate && { memory: "96MiB" }) });
      expect(() => step.render(params, renderer)).toThrow(TemplateError);
    }
    // Planning is where render runs: the incident escalates with the reason, and nothing is run.
    const plan = planRemediation({
      incident: { id: "inc-1", kind: "server_down", severity: "P1", target: target.name, evidence: "down" },
      target,
      playbooks: [playbook("docker.kill", { container: "{{ target.labels.c }}", signal: "SIGKILL" })],
    });
    expect(plan.action).toBe("escalate");
    expect(plan.action === "escalate" && plan.reason).toMatch(
      /^step 1 \(docker\.kill\) of playbook kill-it: container "\{\{ target\.labels\.c \}\}" renders to .* which is not a container name/,
    );
    await untouched(victim, StartedAt);
  });

  it("a hostile incident evidence value used as the container name", async () => {
    const victim = await runHttpContainer();
    const { StartedAt } = (await victim.inspect()).State;
    for (const evidence of [
      `${victim.name}/kill?signal=KILL&x=`,
      `../containers/${victim.name}`,
      `-f ${victim.name}`,
      `${victim.name}\n`,
    ]) {
      const params = dockerKill.schema.parse({ container: "{{ incident.evidence }}" });
      const err = (() => {
        try {
          dockerKill.render(params, incidentRenderer(evidence));
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(TemplateError);
      expect((err as TemplateError).code).toBe("TEMPLATE_UNSAFE_VALUE");
    }
    await untouched(victim, StartedAt);
    // The same template with a plain name is fine: it is the value that is refused, not the template.
    expect(dockerKill.render(dockerKill.schema.parse({ container: "{{ incident.evidence }}" }), incidentRenderer(victim.name))).toEqual({
      container: victim.name,
      signal: "SIGKILL",
    });
  });
});

function playbook(kind: string, params: unknown): Playbook {
  return {
    name: "kill-it",
    file: "/pb/kill-it.yaml",
    on: ["server_down"],
    targets: ["*"],
    labels: {},
    steps: [{ kind, params, timeoutMs: 15_000 }],
    verify: { withinMs: 1000 },
    onFailure: "escalate",
  };
}

describe("docker steps: acting on the engine", () => {
  it("docker.kill kills the target's service container (exit 137), and a second kill has nothing to signal", async () => {
    const c = await runHttpContainer();
    const result = await run(dockerKill, null, serviceTarget(c.name));
    expect(result.ok, result.detail).toBe(true);
    expect(result.detail).toMatch(new RegExp(`^killed ${c.name} with SIGKILL \\(now exited 137\\)$`));
    expect((await c.inspect()).State).toMatchObject({ Running: false, ExitCode: 137 });

    expect(await run(dockerKill, null, serviceTarget(c.name))).toMatchObject({
      ok: true,
      detail: `${c.name} not running (exited 137); did not send SIGKILL`,
    });
    // A reload signal that reaches nothing did not do its job.
    expect(await run(dockerKill, { signal: "SIGHUP" }, serviceTarget(c.name))).toMatchObject({ ok: false });
  });

  it("docker.stop then docker.start, on a container named by the step", async () => {
    const c = await runHttpContainer();
    const target = testTarget();
    const stopped = await run(dockerStop, { container: c.name, stopTimeout: "1s" }, target);
    expect(stopped.ok, stopped.detail).toBe(true);
    expect((await c.inspect()).State.Running).toBe(false);
    const started = await run(dockerStart, { container: c.name }, target);
    expect(started.ok, started.detail).toBe(true);
    expect(started.detail).toMatch(new RegExp(`^started ${c.name} \\(was exited \\d+\\)`));
    expect((await c.inspect()).State.Running).toBe(true);
  });

  it.each([
    ["service", serviceTarget],
    ["docker probe", probeTarget],
  ] as const)("docker.restart takes the container from the target's %s", async (_, makeTarget) => {
    const c = await runHttpContainer();
    const before = (await c.inspect()).State.StartedAt;
    const result = await run(dockerRestart, { stopTimeout: "1s" }, makeTarget(c.name));
    expect(result.ok, result.detail).toBe(true);
    expect(result.detail).toMatch(new RegExp(`^restarted ${c.name} \\(was running\\)`));
    const after = (await c.inspect()).State;
    expect(after.Running).toBe(true);
    expect(after.StartedAt).not.toBe(before);
  });

  it("docker.restart on a target with no container says what to add", async () => {
    const result = await run(dockerRestart, null, testTarget());
    expect(result).toMatchObject({ ok: false });
    expect(result.detail).toMatch(/^no container to act on: orders-api has neither a docker service nor a docker probe/);
  });

  it("fails and names a container that does not exist", async () => {
    const name = containerName("medic-missing");
    for (const [step, params] of [
      [dockerKill, null],
      [dockerUpdate, { cpus: 1 }],
      [dockerRestart, null],
    ] as const) {
      const result = await run(step as StepKind, params, serviceTarget(name));
      expect(result.ok).toBe(false);
      expect(result.detail).toMatch(new RegExp(`^container ${name} does not exist`));
    }
  });

  it("docker.update sets a fixed memory limit, with swap equal to it", async () => {
    const c = await runHttpContainer({ memory: 64 * MiB });
    const result = await run(dockerUpdate, { memory: "96MiB" }, serviceTarget(c.name));
    expect(result).toMatchObject({ ok: true, detail: `${c.name}: memory 64MiB -> 96MiB, swap 96MiB` });
    expect((await c.inspect()).HostConfig).toMatchObject({ Memory: 96 * MiB, MemorySwap: 96 * MiB });
  });

  it("docker.update multiplies memory up to its ceiling, then refuses to raise it further", async () => {
    const c = await runHttpContainer({ memory: 64 * MiB });
    const params = { memory: { factor: 2, max: "100MiB" } };
    const raised = await run(dockerUpdate, params, probeTarget(c.name));
    expect(raised).toMatchObject({ ok: true, detail: `${c.name}: memory 64MiB -> 100MiB (ceiling 100MiB), swap 100MiB` });
    expect((await c.inspect()).HostConfig).toMatchObject({ Memory: 100 * MiB, MemorySwap: 100 * MiB });

    const again = await run(dockerUpdate, params, probeTarget(c.name));
    expect(again).toMatchObject({ ok: false, detail: `${c.name}: memory already at its ceiling 100MiB: not raising` });
    expect((await c.inspect()).HostConfig).toMatchObject({ Memory: 100 * MiB, MemorySwap: 100 * MiB });
  });

  it("docker.update sets cpus as NanoCpus, and its preview shows the limits it would change", async () => {
    const c = await runHttpContainer({ memory: 64 * MiB });
    const params = dockerUpdate.schema.parse({ cpus: 0.5 });
    const preview = await dockerUpdate.preview!(params, stepContext("/", 5000, { target: serviceTarget(c.name) }));
    expect(preview).toEqual([
      `container ${c.name} (orders-api's docker service) on /var/run/docker.sock: running, memory 64MiB, swap 64MiB, cpus unlimited`,
      "would set cpus unlimited -> 0.5",
    ]);
    expect((await c.inspect()).HostConfig.NanoCpus).toBe(0);

    const result = await run(dockerUpdate, { cpus: 0.5 }, serviceTarget(c.name));
    expect(result).toMatchObject({ ok: true, detail: `${c.name}: cpus unlimited -> 0.5` });
    expect((await c.inspect()).HostConfig.NanoCpus).toBe(5e8);
  });

  it("docker.restart under an aborted step signal touches nothing", async () => {
    const c = await runHttpContainer();
    const { StartedAt } = (await c.inspect()).State;
    const target = serviceTarget(c.name);
    const rendered = dockerRestart.render(dockerRestart.schema.parse(null), createRenderer(buildTemplateVars(target)));
    const result = await dockerRestart.run(rendered, stepContext("/", 90_000, { target, signal: AbortSignal.abort() }));
    expect(result.ok).toBe(false);
    await untouched(c, StartedAt);
  });
});
