import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isAlive, readPidFile } from "../src/lib/proc.js";
import { cleanup, freePort, journal, medic, serviceConfig, startMedic, startService, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

const healthy = (port: number) =>
  fetch(`http://127.0.0.1:${port}/health`).then(
    (r) => r.ok,
    () => false,
  );

describe("medic run, end to end against a real service", () => {
  it("detects a kill -9, restarts the service, verifies, resolves and journals every step", async () => {
    const dir = tempDir();
    const port = await freePort();
    const config = join(dir, "medic.yaml");
    writeFileSync(config, serviceConfig(dir, port));
    const pidFile = join(dir, "api.pid");
    const firstPid = await startService(dir, port, pidFile);

    const daemon = startMedic(["run", "--config", config]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    process.kill(firstPid, "SIGKILL");

    const stateDir = join(dir, "state");
    const resolved = await waitUntil(() => journal(stateDir).find((r) => r.type === "resolved"), 30_000, "the incident to resolve");
    // The incident's own lifecycle; notification records interleave and are checked by the escalation tests.
    const records = journal(stateDir).filter((r) => r.incident === resolved.incident && !r.type.startsWith("notification_"));
    expect(records.map((r) => r.type)).toEqual(["opened", "playbook_started", "step_started", "step_finished", "verifying", "resolved"]);
    expect(records[0]).toMatchObject({ kind: "server_down", severity: "P1", target: "api" });
    expect(records[1]).toMatchObject({ playbook: "restart-on-server-down" });
    expect(records[3]).toMatchObject({ outcome: "ok" });
    expect(journal(stateDir).filter((r) => r.type === "opened")).toHaveLength(1);

    const newPid = await readPidFile(pidFile);
    expect(newPid).not.toBe(firstPid);
    expect(await isAlive(newPid!)).toBe(true);
    expect(await healthy(port)).toBe(true);

    const shown = await medic(["incidents", "--config", config]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`${resolved.incident}\\s+api\\s+server_down\\s+P1\\s+resolved`));
    const timeline = await medic(["incidents", "show", resolved.incident, "--config", config]);
    expect(timeline.stdout).toContain("playbook restart-on-server-down started");
    expect(timeline.stdout).toContain("resolved: verified");

    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(daemon.stdout()).toContain("medic stopped");
  });

  it("notices a killed process at once through its pid, not at the next round 30 s away, and restarts it", async () => {
    const dir = tempDir();
    const port = await freePort();
    const config = join(dir, "medic.yaml");
    writeFileSync(config, serviceConfig(dir, port, { interval: "30s" }));
    const pid = await startService(dir, port, join(dir, "api.pid"));
    const daemon = startMedic(["run", "--config", config]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    await new Promise((r) => setTimeout(r, 500));
    const killedAt = Date.now();
    process.kill(pid, "SIGKILL");

    const stateDir = join(dir, "state");
    const opened = await waitUntil(() => journal(stateDir).find((r) => r.type === "opened"), 20_000, "an incident");
    // Two failed rounds 30 s apart would take a minute; the pid watch calls a round that counts as confirmed.
    expect(opened.at - killedAt).toBeLessThan(5_000);
    expect(opened).toMatchObject({ kind: "server_down", target: "api" });
    expect(daemon.stdout()).toContain(`pid ${pid} (from ${join(dir, "api.pid")}) exited`);
    await waitUntil(() => journal(stateDir).find((r) => r.type === "resolved"), 30_000, "the incident to resolve");
    expect(await healthy(port)).toBe(true);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  });

  it("follows the service it restarted from that child's exit, and after its own restart still notices the service die", async () => {
    const dir = tempDir();
    const port = await freePort();
    const config = join(dir, "medic.yaml");
    const pidFile = join(dir, "api.pid");
    // Rounds 30 s apart: within these waits only the pid watch can notice a death. The flap guard opened: the
    // test kills the same service three times in a few seconds on purpose.
    const guards = "safety:\n  flapGuard: { maxRuns: 100, backoff: { initial: 0s, max: 0s }, resetAfter: 1s }\n";
    writeFileSync(config, serviceConfig(dir, port, { interval: "30s" }) + guards);
    const first = await startService(dir, port, pidFile);
    const stateDir = join(dir, "state");
    const resolvedCount = () => journal(stateDir).filter((r) => r.type === "resolved").length;
    const killAndRecover = async (pid: number, daemon: ReturnType<typeof startMedic>, before: number): Promise<number> => {
      process.kill(pid, "SIGKILL");
      await waitUntil(() => resolvedCount() > before, 20_000, `the death of pid ${pid} to be noticed and repaired`);
      expect(daemon.stdout()).toContain(`pid ${pid} (from ${pidFile}) exited`);
      const next = (await readPidFile(pidFile))!;
      expect(next).not.toBe(pid);
      expect(await healthy(port)).toBe(true);
      return next;
    };

    let daemon = startMedic(["run", "--config", config]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    // Started by the test: found by the watch's ticker. Restarted by medic: its child from then on.
    const second = await killAndRecover(first, daemon, 0);
    const third = await killAndRecover(second, daemon, 1);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);

    // A new medic: the service the old one started is no child of this one, and is watched all the same.
    expect(await isAlive(third)).toBe(true);
    daemon = startMedic(["run", "--config", config]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start again");
    await killAndRecover(third, daemon, 2);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);

  it("in dry-run opens the incident and says what it would do, but restarts nothing and writes nothing", async () => {
    const dir = tempDir();
    const port = await freePort();
    const config = join(dir, "medic.yaml");
    writeFileSync(config, serviceConfig(dir, port));
    const pid = await startService(dir, port, join(dir, "api.pid"));

    const daemon = startMedic(["run", "--dry-run", "--config", config]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    process.kill(pid, "SIGKILL");
    await waitUntil(() => daemon.stdout().includes("dry run: would run playbook"), 15_000, "the dry-run plan");
    await new Promise((r) => setTimeout(r, 1500));

    expect(daemon.stdout()).toContain("service.restart");
    expect(await healthy(port)).toBe(false);
    expect(await readPidFile(join(dir, "api.pid"))).toBe(pid);
    expect(journal(join(dir, "state"))).toEqual([]);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  });

  it("escalates when the restart does not bring the service back", async () => {
    const dir = tempDir();
    const port = await freePort();
    const config = join(dir, "medic.yaml");
    writeFileSync(config, serviceConfig(dir, port));
    await startService(dir, port, join(dir, "api.pid"));
    const daemon = startMedic(["run", "--config", config]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    writeFileSync(join(dir, "db-broken"), "");

    const stateDir = join(dir, "state");
    const escalated = await waitUntil(() => journal(stateDir).find((r) => r.type === "escalated"), 40_000, "the escalation");
    const opened = journal(stateDir).find((r) => r.type === "opened" && r.incident === escalated.incident)!;
    expect(opened).toMatchObject({ kind: "db_disconnect", severity: "P1" });
    expect(escalated.type === "escalated" && escalated.reason).toMatch(/not recovered within 20s/);
    // The journal record is written before the log line: wait for the line, it may still be in the pipe.
    await waitUntil(() => daemon.stdout().includes("incident escalated"), 5_000, "the escalation log line");
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);
});
