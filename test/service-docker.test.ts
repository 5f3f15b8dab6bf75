import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { dockerService } from "../src/services/docker.js";
import { serviceKinds } from "../src/services/registry.js";
import { containerName, docker, engineUp, runHttpContainer } from "./docker-harness.js";
import { cleanup, waitUntil } from "./harness.js";

// The docker service against the real engine: every claim here is read back with inspect.

afterEach(cleanup);
beforeAll(async () => {
  if (!(await engineUp())) throw new Error("no Docker engine: run bash scripts/setup.sh");
});

const SLEEP = ["/bin/busybox", "sleep", "1000"];
const live = (): AbortSignal => new AbortController().signal;

function driver(container: string, stopTimeout: string | number = "1s") {
  return dockerService.create(dockerService.schema.parse({ container, stopTimeout }), { target: "orders-api", baseDir: "/" });
}

async function answers(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/health`).then(
    (r) => r.ok,
    () => false,
  );
}

describe("docker service: params", () => {
  it("is registered as docker, with a 10s stop timeout by default", () => {
    expect(serviceKinds.get("docker")).toBe(dockerService);
    const params = dockerService.schema.parse({ container: "orders-api" });
    expect(params).toEqual({ container: "orders-api", stopTimeout: 10_000 });
    expect(dockerService.describe(params)).toBe("docker container orders-api");
    expect(driver("orders-api").describe()).toBe("docker container orders-api");
  });

  it.each(["-rm", "a/../b", "x;y", "", "orders api"])("refuses %j as a container name", (container) => {
    const parsed = dockerService.schema.safeParse({ container });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(/container must be a name or id/);
  });
});

describe("docker service: acting on the engine", () => {
  it("starts a stopped container, and leaves a running one alone", async () => {
    const c = await runHttpContainer();
    await docker.getContainer(c.name).stop({ t: 0 });
    const started = await driver(c.name).start(live());
    expect(started.ok, started.detail).toBe(true);
    expect(started.detail).toMatch(new RegExp(`^started ${c.name} \\(was exited \\d+\\) in \\S+$`));
    expect((await c.inspect()).State.Running).toBe(true);
    await waitUntil(() => answers(c.port), 10_000, "httpd to answer after start");

    const again = await driver(c.name).start(live());
    expect(again).toMatchObject({ ok: true, detail: `${c.name} already running` });
  });

  it("stops a running container, and says so when it is not running", async () => {
    const c = await runHttpContainer();
    const stopped = await driver(c.name).stop(live());
    expect(stopped.ok, stopped.detail).toBe(true);
    expect(stopped.detail).toMatch(new RegExp(`^stopped ${c.name} in `));
    expect((await c.inspect()).State).toMatchObject({ Running: false, Status: "exited" });

    const again = await driver(c.name).stop(live());
    expect(again.ok).toBe(true);
    expect(again.detail).toMatch(new RegExp(`^${c.name} not running \\(exited \\d+\\)$`));
  });

  it("restarts a running container: a new StartedAt, and its httpd answers again", async () => {
    const c = await runHttpContainer();
    const before = (await c.inspect()).State.StartedAt;
    const result = await driver(c.name).restart(live());
    expect(result.ok, result.detail).toBe(true);
    expect(result.detail).toMatch(new RegExp(`^restarted ${c.name} \\(was running\\) in \\S+$`));
    const after = (await c.inspect()).State;
    expect(after.Running).toBe(true);
    expect(after.StartedAt).not.toBe(before);
    await waitUntil(() => answers(c.port), 10_000, "httpd to answer after restart");
  });

  it("brings back a killed container (exited 137)", async () => {
    const c = await runHttpContainer();
    await docker.getContainer(c.name).kill({ signal: "SIGKILL" });
    await waitUntil(async () => !(await c.inspect()).State.Running, 10_000, "the container to die");
    const result = await driver(c.name).restart(live());
    expect(result.ok, result.detail).toBe(true);
    expect(result.detail).toContain(`restarted ${c.name} (was exited 137)`);
    expect((await c.inspect()).State.Running).toBe(true);
    await waitUntil(() => answers(c.port), 10_000, "httpd to answer after restart");
  });

  it.each(["start", "stop", "restart"] as const)("%s of a missing container fails and names it", async (action) => {
    const name = containerName("medic-missing");
    const result = await driver(name)[action](live());
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(new RegExp(`^container ${name} does not exist`));
  });

  it("fails when the engine cannot be reached, naming the socket", async () => {
    const d = dockerService.create(dockerService.schema.parse({ container: "orders-api", socketPath: "/nonexistent/docker.sock" }), {
      target: "t",
      baseDir: "/",
    });
    const result = await d.restart(live());
    expect(result).toMatchObject({ ok: false });
    expect(result.detail).toMatch(/^cannot reach the Docker engine at \/nonexistent\/docker\.sock: ENOENT/);
  });

  it("does nothing under an already-aborted signal", async () => {
    const c = await runHttpContainer();
    const before = (await c.inspect()).State.StartedAt;
    const t0 = performance.now();
    const result = await driver(c.name).restart(AbortSignal.abort());
    expect(result).toMatchObject({ ok: false, detail: `aborted before restarting ${c.name}` });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect((await c.inspect()).State).toMatchObject({ Running: true, StartedAt: before });
  });

  it("gives the engine stopTimeout to stop a container that ignores SIGTERM (the request outlives it)", async () => {
    // busybox sleep as PID 1 has no SIGTERM handler, so the engine waits the whole stop timeout, then kills.
    const c = await runHttpContainer({ cmd: SLEEP });
    const result = await driver(c.name, "3s").restart(live());
    expect(result.ok, result.detail).toBe(true);
    expect(result.durationMs).toBeGreaterThanOrEqual(2500);
    expect((await c.inspect()).State.Running).toBe(true);
  });

  it("an abort cuts off a restart the engine is still waiting on", async () => {
    const c = await runHttpContainer({ cmd: SLEEP });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const t0 = performance.now();
    const result = await driver(c.name, "30s").restart(ac.signal);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(new RegExp(`^aborted while restarting ${c.name} after `));
    // The engine would have waited 30s for the stop.
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});
