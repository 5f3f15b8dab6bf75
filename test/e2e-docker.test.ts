import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { JournalRecord } from "../src/incidents/types.js";
import { docker, runHttpContainer, slowEngine, type TestContainer } from "./docker-harness.js";
import { cleanup, journal, SHIPPED_PLAYBOOKS, startMedic, tempDir, waitUntil, type MedicProcess } from "./harness.js";

afterEach(cleanup);

const MIB = 1024 ** 2;

/** Shipped container playbooks, optionally edited for a test's time scale. */
function playbooks(dir: string, edits: [string, string][] = []): string {
  const out = join(dir, "playbooks");
  mkdirSync(out, { recursive: true });
  for (const name of ["container-down.yaml", "container-oom.yaml"]) {
    let text = readFileSync(join(SHIPPED_PLAYBOOKS, name), "utf8");
    for (const [from, to] of edits) text = text.replaceAll(from, to);
    writeFileSync(join(out, name), text);
  }
  return out;
}

function target(c: { name: string }, probe = ""): string {
  return `  - name: ${c.name}
    labels: { runtime: docker }
    probe: { docker: { container: ${c.name}${probe} } }
    service: { docker: { container: ${c.name}, stopTimeout: 2s } }
`;
}

function config(dir: string, targets: string, opts: { defaults?: string; extra?: string; edits?: [string, string][] } = {}): string {
  const file = join(dir, "medic.yaml");
  writeFileSync(
    file,
    `stateDir: ./state
playbooks: [${JSON.stringify(playbooks(dir, opts.edits))}]
defaults: { ${opts.defaults ?? "interval: 500ms, timeout: 2s, failureThreshold: 2, successThreshold: 2"} }
${opts.extra ?? ""}targets:
${targets}`,
  );
  return file;
}

const started = (p: MedicProcess) => waitUntil(() => p.stdout().includes("medic started"), 10_000, "medic to start");
const find = (state: string, pred: (r: JournalRecord) => boolean, what: string, ms = 30_000) =>
  waitUntil(() => journal(state).find(pred), ms, what);

async function killAndRecover(c: TestContainer, defaults: string, probe = "") {
  const dir = tempDir();
  const daemon = startMedic(["run", "--config", config(dir, target(c, probe), { defaults })]);
  await started(daemon);
  await new Promise((r) => setTimeout(r, 1500));
  const killedAt = Date.now();
  await docker.getContainer(c.id).kill();
  const state = join(dir, "state");
  const opened = await find(state, (r) => r.type === "opened", "the incident");
  const resolved = await find(state, (r) => r.type === "resolved", "recovery");
  daemon.child.kill("SIGTERM");
  expect(await daemon.exited).toBe(0);
  return {
    opened,
    resolved,
    detectMs: opened.at - killedAt,
    healthyMs: resolved.at - killedAt,
    records: journal(state),
    stdout: daemon.stdout(),
  };
}

describe("Docker scenarios, medic as a child process against the real engine", () => {
  it("a killed container is seen through the event stream, restarted and verified; poll-only is slower", async () => {
    const events = await killAndRecover(await runHttpContainer(), "interval: 5s, timeout: 2s, failureThreshold: 2, successThreshold: 2");
    expect(events.opened).toMatchObject({ kind: "server_down", evidence: expect.stringContaining("exited with code 137") });
    expect(events.stdout).toContain("event from the target's source");
    expect(events.records.find((r) => r.type === "playbook_started")).toMatchObject({ playbook: "restart-container" });
    expect(events.detectMs).toBeLessThan(2500); // a 5 s poll with 2 rounds could not be this fast

    const poll = await killAndRecover(
      await runHttpContainer(),
      "interval: 1s, timeout: 2s, failureThreshold: 2, successThreshold: 2",
      ", events: false",
    );
    expect(poll.stdout).not.toContain("event from the target's source");
    console.log(
      `docker: detection event-driven ${events.detectMs} ms (interval 5s) vs poll-only ${poll.detectMs} ms (interval 1s, 2 rounds); ` +
        `kill to verified healthy ${events.healthyMs} ms (events) / ${poll.healthyMs} ms (poll)`,
    );
  }, 90_000);

  it("a die during a round stuck on the engine opens the incident from the event, not after the stuck round", async () => {
    const c = await runHttpContainer();
    const engine = await slowEngine(c.name, 15_000);
    const dir = tempDir();
    const probe = `, socketPath: ${JSON.stringify(engine.socketPath)}`;
    const daemon = startMedic(["run", "--config", config(dir, target(c, probe), { defaults: "interval: 1s, timeout: 20s" })]);
    await started(daemon);
    const state = join(dir, "state");
    engine.hold(true);
    await waitUntil(() => engine.held() > 0, 10_000, "a round stuck on its inspect");
    engine.hold(false); // that one stays held; every later request (the die's round, the checks after) passes
    const killedAt = Date.now();
    await docker.getContainer(c.id).kill();
    const opened = await find(state, (r) => r.type === "opened", "the incident", 20_000);
    // The stuck round would have answered 15 s after it began: the incident opened from the die's round.
    expect(opened.at - killedAt).toBeLessThan(5_000);
    expect(opened).toMatchObject({ kind: "server_down", evidence: expect.stringContaining("exited with code 137") });
    // And then: the restart is verified through the same engine, now answering at once.
    await find(state, (r) => r.type === "resolved", "recovery");
    expect((await c.inspect()).State.Running).toBe(true);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    console.log(`docker: die during a stuck round, kill to opened ${opened.at - killedAt} ms (the stuck round held 15 s)`);
  }, 60_000);

  it("a container turned unhealthy through its health file is restarted", async () => {
    const c = await runHttpContainer({ healthcheck: true });
    await waitUntil(async () => (await c.inspect()).State.Health?.Status === "healthy", 15_000, "healthy");
    const before = (await c.inspect()).State.StartedAt;
    const dir = tempDir();
    const daemon = startMedic(["run", "--config", config(dir, target(c))]);
    await started(daemon);
    c.setHealthy(false);
    const state = join(dir, "state");
    const opened = await find(state, (r) => r.type === "opened", "the unhealthy incident");
    expect(opened).toMatchObject({ kind: "server_down", evidence: expect.stringContaining("is unhealthy") });
    c.setHealthy(true);
    await find(state, (r) => r.type === "resolved", "recovery");
    expect((await c.inspect()).State.StartedAt).not.toBe(before);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);

  it("an OOM-killed container gets more memory within the ceiling, is restarted and verified", async () => {
    const c = await runHttpContainer({
      memory: 32 * MIB,
      cmd: ["/bin/busybox", "sh", "-c", 'x=$(head -c 30000000 /dev/zero | tr "\\0" a); exec /bin/busybox httpd -f -p 80 -h /www'],
    });
    await waitUntil(async () => (await c.inspect()).State.OOMKilled, 45_000, "the OOM kill");
    const dir = tempDir();
    const daemon = startMedic(["run", "--config", config(dir, target(c), { edits: [["factor: 2, max: 1GiB", "factor: 4, max: 200MiB"]] })]);
    const state = join(dir, "state");
    const resolved = await find(state, (r) => r.type === "resolved", "recovery", 60_000);
    const records = journal(state).filter((r) => r.incident === resolved.incident);
    expect(records[0]).toMatchObject({ kind: "memory_pressure", evidence: expect.stringContaining("OOM-killed") });
    const [inspected, updated] = records.filter((r) => r.type === "step_finished");
    expect(updated).toMatchObject({ outcome: "ok", detail: expect.stringMatching(/32MiB -> 128MiB/) });
    const after = await c.inspect();
    expect([after.HostConfig.Memory, after.HostConfig.MemorySwap, after.State.Status]).toEqual([128 * MIB, 128 * MIB, "running"]);
    // The restart replaced the exit code and the times; the inspect kept before it still has them.
    expect(after.State.ExitCode).toBe(0);
    expect(inspected).toMatchObject({ index: 0, outcome: "ok", detail: expect.stringMatching(/: exited exit 137, OOM killed, /) });
    const kept = (inspected as { artifacts: { name: string; path: string }[] }).artifacts;
    const text = readFileSync(join(state, kept[0]!.path), "utf8");
    expect(text).toContain("status: exited, exit code 137, OOM killed: YES");
    expect(text).toContain("memory limit 32MiB");
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);

  it("a crash-looping container: the flap guard stops restarts and the incident escalates", async () => {
    const c = await runHttpContainer({ cmd: ["/bin/busybox", "sh", "-c", "sleep 2; exit 1"] });
    const dir = tempDir();
    const daemon = startMedic([
      "run",
      "--config",
      config(dir, target(c), {
        defaults: "interval: 300ms, timeout: 2s, failureThreshold: 2, successThreshold: 2",
        extra: "safety: { flapGuard: { maxRuns: 2, backoff: { initial: 0s, max: 0s } } }\n",
      }),
    ]);
    const state = join(dir, "state");
    const capped = await find(state, (r) => r.type === "escalated" && /limit 2/.test(r.reason), "the cap", 60_000);
    expect(capped.type === "escalated" && capped.reason).toMatch(
      /^flap guard: 2 server_down playbook runs on .* did not hold \(limit 2 per 1h\)/,
    );
    expect(journal(state).filter((r) => r.type === "playbook_started")).toHaveLength(2);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);

  it("label discovery picks up a container started after medic, heals it, and drops it when removed", async () => {
    const dir = tempDir();
    const file = join(dir, "medic.yaml");
    writeFileSync(
      file,
      `stateDir: ./state
playbooks: [${JSON.stringify(playbooks(dir))}]
defaults: { interval: 5s, timeout: 2s, failureThreshold: 2, successThreshold: 2 }
discovery: { docker: {} }
`,
    );
    const daemon = startMedic(["run", "--config", file]);
    await started(daemon);
    const c = await runHttpContainer({ labels: { "medic.enable": "true", "medic.interval": "500ms" } });
    await waitUntil(
      () => daemon.stdout().includes("watching a discovered target") && daemon.stdout().includes(c.name),
      10_000,
      "discovery",
    );
    await docker.getContainer(c.id).kill();
    const state = join(dir, "state");
    const resolved = await find(state, (r) => r.type === "resolved", "the discovered container to be healed");
    expect(journal(state).find((r) => r.type === "opened")).toMatchObject({ target: c.name, kind: "server_down" });
    expect(resolved.incident).toBeTruthy();
    await docker.getContainer(c.id).remove({ force: true });
    await waitUntil(() => daemon.stdout().includes("stopped watching a target"), 10_000, "the removal");
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);

  it("--dry-run against killed, unhealthy and OOM-killed containers changes nothing in the engine", async () => {
    const killed = await runHttpContainer();
    await docker.getContainer(killed.id).kill();
    const unhealthy = await runHttpContainer({ healthcheck: true });
    unhealthy.setHealthy(false);
    const oom = await runHttpContainer({
      memory: 32 * MIB,
      cmd: ["/bin/busybox", "sh", "-c", 'x=$(head -c 30000000 /dev/zero | tr "\\0" a); sleep 3600'],
    });
    await waitUntil(async () => (await oom.inspect()).State.OOMKilled, 45_000, "the OOM kill");
    await waitUntil(async () => (await unhealthy.inspect()).State.Health?.Status === "unhealthy", 15_000, "unhealthy");
    const snapshot = async () =>
      Promise.all(
        [killed, unhealthy, oom].map(async (c) => {
          const i = await c.inspect();
          return [i.State.Status, i.State.StartedAt, i.RestartCount, i.HostConfig.Memory, i.HostConfig.MemorySwap];
        }),
      );
    const before = await snapshot();
    const dir = tempDir();
    const daemon = startMedic(["run", "--dry-run", "--config", config(dir, [killed, unhealthy, oom].map((c) => target(c)).join(""))]);
    await waitUntil(() => (daemon.stdout().match(/dry run: would run playbook/g) ?? []).length >= 3, 20_000, "three dry-run plans");
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(daemon.stdout()).toMatch(/raise-container-memory/);
    expect(await snapshot()).toEqual(before);
    expect(journal(join(dir, "state"))).toEqual([]);
  }, 90_000);
});
