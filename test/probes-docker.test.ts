import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { dockerProbe } from "../src/probes/docker.js";
import { runProbe } from "../src/probes/run.js";
import type { ContainerFacts, Observation } from "../src/probes/types.js";
import { docker, engineUp, containerName, runHttpContainer, TEST_IMAGE } from "./docker-harness.js";
import { cleanup, onCleanup, tempDir, waitUntil } from "./harness.js";

// The machine's real Docker engine (scripts/setup.sh starts it); every container is removed at cleanup.

const MIB = 1024 ** 2;

function probeOf(params: Record<string, unknown>, timeoutMs = 3000): () => Promise<Observation> {
  const probe = dockerProbe.create(dockerProbe.schema.parse(params), { target: "app", timeoutMs, baseDir: "/" });
  return () => runProbe(probe, { target: "app", timeoutMs });
}

const factsOf = (obs: Observation): ContainerFacts => {
  expect(obs.error).toBeUndefined();
  return obs.facts.container!;
};

// Probes until `accept` holds for the container's facts; returns that observation.
async function probeUntil(
  probe: () => Promise<Observation>,
  accept: (c: ContainerFacts, obs: Observation) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<Observation> {
  let last: Observation | undefined;
  try {
    return await waitUntil(
      async () => {
        last = await probe();
        return last.facts.container && accept(last.facts.container, last) ? last : undefined;
      },
      timeoutMs,
      what,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last observation: ${JSON.stringify(last)}`, { cause: err });
  }
}

beforeAll(async () => {
  expect(await engineUp(), "the Docker engine answers on /var/run/docker.sock (run bash scripts/setup.sh)").toBe(true);
});
afterEach(cleanup);

describe("docker probe on the real engine", () => {
  it("describe() names the container, and the engine when one is given", () => {
    expect(dockerProbe.describe(dockerProbe.schema.parse({ container: "orders-api" }))).toBe("docker container orders-api");
    expect(dockerProbe.describe(dockerProbe.schema.parse({ container: "orders-api", host: "tcp://127.0.0.1:2375" }))).toBe(
      "docker container orders-api on tcp://127.0.0.1:2375",
    );
    expect(dockerProbe.schema.safeParse({ container: "--privileged" }).success).toBe(false);
    expect(dockerProbe.schema.safeParse({ container: "a", extra: 1 }).success).toBe(false);
  });

  it("reports a running container with a 64 MiB limit: state, restarts, memory against the limit, health, cpu", async () => {
    const c = await runHttpContainer({ memory: 64 * MIB, healthcheck: true });
    const probe = probeOf({ container: c.name });
    const obs = await probeUntil(probe, (f) => f.health?.status === "healthy", "the healthcheck to pass");
    const facts = factsOf(obs);
    expect(obs.ok).toBe(true);
    expect(obs.facts.alive).toBe(true);
    expect(facts).toMatchObject({ id: c.id, name: c.name, state: "running", exitCode: 0, oomKilled: false, restartCount: 0 });
    expect(facts.health).toMatchObject({ status: "healthy", failingStreak: 0 });
    expect(Date.parse(facts.startedAt!)).toBeGreaterThan(Date.now() - 120_000);
    expect(facts.memory!.limitBytes).toBe(64 * MIB);
    expect(facts.memory!.usageBytes).toBeGreaterThan(0);
    expect(obs.facts.memoryUtilization).toBeGreaterThan(0);
    expect(obs.facts.memoryUtilization).toBeLessThan(1);
    expect(obs.facts.memoryUtilization).toBeCloseTo(facts.memory!.usageBytes / (64 * MIB), 9);
    // CPU needs two samples; the rounds above gave this probe its earlier one.
    await new Promise((r) => setTimeout(r, 200));
    const next = factsOf(await probe());
    expect(next.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(next.cpuPercent).toBeLessThan(250);
  });

  it("reports no limit (and no memoryUtilization) for a container without one, by id as well as by name", async () => {
    const c = await runHttpContainer();
    const obs = await probeOf({ container: c.id.slice(0, 12) })();
    const facts = factsOf(obs);
    expect(obs.ok).toBe(true);
    expect(facts.name).toBe(c.name);
    expect(facts.health).toBeUndefined();
    expect(facts.memory!.usageBytes).toBeGreaterThan(0);
    expect(facts.memory!.limitBytes).toBeUndefined();
    expect(obs.facts.memoryUtilization).toBeUndefined();
  });

  it("says unhealthy, not ok, once the healthcheck fails", async () => {
    const c = await runHttpContainer({ healthcheck: true });
    const probe = probeOf({ container: c.name });
    await probeUntil(probe, (f) => f.health?.status === "healthy", "the healthcheck to pass");
    c.setHealthy(false);
    const obs = await probeUntil(probe, (f) => f.health?.status === "unhealthy", "the healthcheck to fail");
    const facts = factsOf(obs);
    expect(obs.ok).toBe(false);
    expect(obs.facts.alive).toBe(true);
    expect(facts.state).toBe("running");
    expect(facts.health!.failingStreak).toBeGreaterThanOrEqual(1);
  });

  it("reports a killed container as exited 137, not alive, not ok, without an error (the engine answered)", async () => {
    const c = await runHttpContainer();
    const probe = probeOf({ container: c.name });
    expect((await probe()).ok).toBe(true);
    await docker.getContainer(c.id).kill();
    const obs = await probeUntil(probe, (f) => f.state === "exited", "the container to exit");
    const facts = factsOf(obs);
    expect(obs.ok).toBe(false);
    expect(obs.facts.alive).toBe(false);
    expect(facts.exitCode).toBe(137);
    expect(facts.oomKilled).toBe(false);
    expect(Date.parse(facts.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(facts.startedAt!));
    expect(facts.memory).toBeUndefined();
  });

  it("reports oomKilled for a container that outgrows its 32 MiB limit", async () => {
    const c = await runHttpContainer({
      memory: 32 * MIB,
      cmd: ["/bin/busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
    });
    const obs = await probeUntil(probeOf({ container: c.name }), (f) => f.oomKilled, "the OOM kill");
    const facts = factsOf(obs);
    expect(obs.ok).toBe(false);
    expect(facts.state).not.toBe("running");
    expect(facts.exitCode).toBe(137);
  });

  it("counts restarts of a container that keeps failing under an on-failure policy", async () => {
    const name = containerName();
    const created = await docker.createContainer({
      name,
      Image: TEST_IMAGE,
      Cmd: ["/bin/busybox", "sh", "-c", "exit 1"],
      HostConfig: { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 4 } },
    });
    onCleanup(() => created.remove({ force: true }).catch(() => {}));
    await created.start();
    const probe = probeOf({ container: name });
    const first = factsOf(await probe()).restartCount ?? 0;
    const later = await probeUntil(probe, (f) => (f.restartCount ?? 0) >= first + 2, "the restart count to rise");
    expect(factsOf(later).restartCount).toBeGreaterThanOrEqual(2);
    // Once the policy gives up, it stays exited 1 and the count is what inspect says.
    const settled = await probeUntil(probe, (f) => f.state === "exited" && f.restartCount === 4, "the policy to give up", 30_000);
    expect(settled.ok).toBe(false);
    expect(factsOf(settled).exitCode).toBe(1);
    expect((await created.inspect()).RestartCount).toBe(4);
  });
});

describe("docker probe failures", () => {
  it("answers ENOCONTAINER, naming the container, when it does not exist", async () => {
    const name = containerName("medic-missing");
    const obs = await probeOf({ container: name })();
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ENOCONTAINER");
    expect(obs.error?.message).toContain(name);
    expect(obs.facts.container).toBeUndefined();
  });

  it("answers an error code, without throwing, when the socket does not exist", async () => {
    const socketPath = join(tempDir("medic-nosock-"), "docker.sock");
    const started = Date.now();
    const obs = await probeOf({ container: "orders-api", socketPath }, 2000)();
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ENOENT");
    expect(obs.error?.message).toContain(socketPath);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("honours its signal on an engine that accepts and never answers", async () => {
    const socketPath = join(tempDir("medic-mute-"), "docker.sock");
    const sockets = new Set<Socket>();
    const server: Server = createServer((s) => sockets.add(s.on("error", () => {}))); // a reset is not this test's failure
    await new Promise<void>((ok) => server.listen(socketPath, ok));
    onCleanup(
      () =>
        new Promise<void>((ok) => {
          for (const s of sockets) s.destroy();
          server.close(() => ok());
        }),
    );
    // The probe itself, not runProbe's guard, must give up: call run() with a signal.
    const probe = dockerProbe.create(dockerProbe.schema.parse({ container: "orders-api", socketPath }), {
      target: "app",
      timeoutMs: 60_000,
      baseDir: "/",
    });
    const started = Date.now();
    const obs = await probe.run(AbortSignal.timeout(500));
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ETIMEDOUT");
    expect(Date.now() - started).toBeLessThan(3000);
    expect(sockets.size).toBeGreaterThan(0);
  });

  it("uses an explicit socket even when DOCKER_HOST points elsewhere; the default follows DOCKER_HOST", async () => {
    const c = await runHttpContainer();
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = "tcp://127.0.0.1:1";
    try {
      const explicit = await probeOf({ container: c.name, socketPath: "/var/run/docker.sock" })();
      expect(explicit.error).toBeUndefined();
      expect(explicit.ok).toBe(true);
      const byDefault = await probeOf({ container: c.name })();
      expect(byDefault.ok).toBe(false);
      expect(byDefault.error?.code).toBe("ECONNREFUSED");
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });
});
