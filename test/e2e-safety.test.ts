import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { JournalRecord } from "../src/incidents/types.js";
import { readPidFile } from "../src/lib/proc.js";
import {
  cleanup,
  freePort,
  journal,
  killOnCleanup,
  medic,
  onCleanup,
  ROOT,
  SERVICE,
  startMedic,
  startService,
  tempDir,
  waitUntil,
} from "./harness.js";
import { fleetPlaybook, fleetTargets, startFleet } from "./fixtures/safety-fleet.js";

afterEach(cleanup);

const CRASHY = join(ROOT, "test/fixtures/safety-crashy.mjs");
const healthy = (port: number) =>
  fetch(`http://127.0.0.1:${port}/health`).then(
    (r) => r.ok,
    () => false,
  );
const of = (records: JournalRecord[], type: JournalRecord["type"]) => records.filter((r) => r.type === type);

function startCrashy(dir: string, port: number): void {
  const child = spawn(process.execPath, [CRASHY, String(port), dir], { detached: true, stdio: "ignore" });
  child.unref();
  writeFileSync(join(dir, "crashy.pid"), `${child.pid}\n`);
}

describe("the flap guard, end to end", () => {
  it("a crash-looping service gets 3 restarts, then one escalation; the guard survives a restart of medic and resets after a healthy stretch", async () => {
    const dir = tempDir();
    const port = await freePort();
    const state = join(dir, "state");
    const config = join(dir, "medic.yaml");
    writeFileSync(join(dir, "crash"), "");
    writeFileSync(
      config,
      `stateDir: ${JSON.stringify(state)}
playbooks: [${JSON.stringify(join(ROOT, "playbooks/server-down.yaml"))}]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
safety: { flapGuard: { maxRuns: 3, window: 1h, backoff: { initial: 3s, max: 6s }, resetAfter: 5s } }
targets:
  - name: crashy
    probe: { http: { url: "http://127.0.0.1:${port}/health" } }
    service: { process: { start: [${JSON.stringify(process.execPath)}, ${JSON.stringify(CRASHY)}, "${port}", ${JSON.stringify(dir)}], pidFile: crashy.pid, stopTimeout: 2s } }
`,
    );
    killOnCleanup(join(dir, "crashy.pid"));
    startCrashy(dir, port);
    let daemon = startMedic(["run", "--config", config]);

    const tripped = await waitUntil(
      () => journal(state).find((r) => r.type === "escalated" && r.by === "flap_guard"),
      60_000,
      "the flap guard to trip",
    );
    expect(tripped.type === "escalated" && tripped.reason).toMatch(
      /^flap guard: 3 server_down playbook runs on crashy in \S+ did not hold \(limit 3 per 1h\)/,
    );
    expect(of(journal(state), "playbook_started")).toHaveLength(3);
    // Each run after the first waited out a longer backoff: the journal shows the holds.
    const holds = of(journal(state), "held");
    expect(holds.length).toBeGreaterThanOrEqual(1);
    expect(holds.every((h) => h.type === "held" && h.by === "backoff")).toBe(true);
    // The run's guard summary is in the journal: an audit of why it was allowed.
    expect(of(journal(state), "playbook_started").map((r) => r.type === "playbook_started" && r.guards)).toEqual([
      expect.stringMatching(/^flap guard: run 1 of 3 in 1h; blast radius/),
      expect.stringMatching(/^flap guard: run 2 of 3/),
      expect.stringMatching(/^flap guard: run 3 of 3/),
    ]);

    // medic restarts; the service is started by hand, still crash-looping: the guard still holds.
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    daemon = startMedic(["run", "--config", config]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start again");
    startCrashy(dir, port);
    await waitUntil(
      () => of(journal(state), "escalated").filter((r) => r.type === "escalated" && r.by === "flap_guard").length === 2,
      30_000,
      "a second trip after the restart",
    );
    expect(of(journal(state), "playbook_started")).toHaveLength(3);
    const plan = await medic(["plan", "--config", config, "--target", "crashy", "--incident", "server_down"]);
    expect(plan.stdout).toMatch(/=> would escalate instead of running the playbook below: flap guard: 3 server_down playbook runs/);

    // Fixed for real and healthy for longer than resetAfter: the next failure gets a restart again.
    rmSync(join(dir, "crash"));
    startCrashy(dir, port);
    await waitUntil(() => journal(state).filter((r) => r.type === "resolved").length >= 5, 15_000, "the escalated incident to resolve");
    await new Promise((r) => setTimeout(r, 6_000));
    process.kill((await readPidFile(join(dir, "crashy.pid")))!, "SIGKILL");
    await waitUntil(() => of(journal(state), "playbook_started").length === 4, 20_000, "a fourth restart after the reset");
    const fourth = of(journal(state), "playbook_started")[3]!;
    expect(fourth.type === "playbook_started" && fourth.guards).toMatch(/^flap guard: run 1 of 3/);
    await waitUntil(
      () => journal(state).find((r) => r.type === "resolved" && r.incident === fourth.incident),
      20_000,
      "the fourth run to verify",
    );
    expect(await healthy(port)).toBe(true);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 120_000);

  it("medic guard reset lets medic act again on the incident the guard escalated", async () => {
    const dir = tempDir();
    const port = await freePort();
    const state = join(dir, "state");
    const config = join(dir, "medic.yaml");
    writeFileSync(
      config,
      `stateDir: ${JSON.stringify(state)}
playbooks: [${JSON.stringify(join(ROOT, "playbooks/server-down.yaml"))}]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
safety: { flapGuard: { maxRuns: 1, backoff: { initial: 0s, max: 0s } } }
targets:
  - name: api
    probe: { http: { url: "http://127.0.0.1:${port}/health" } }
    service: { process: { start: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SERVICE)}, "${port}", ${JSON.stringify(dir)}], pidFile: api.pid, stopTimeout: 2s } }
`,
    );
    const pidFile = join(dir, "api.pid");
    const first = await startService(dir, port, pidFile);
    const daemon = startMedic(["run", "--config", config]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    process.kill(first, "SIGKILL");
    await waitUntil(() => of(journal(state), "resolved").length === 1, 20_000, "the first restart to verify");
    process.kill((await readPidFile(pidFile))!, "SIGKILL");
    const trip = await waitUntil(
      () => journal(state).find((r) => r.type === "escalated" && r.by === "flap_guard"),
      20_000,
      "the guard to trip",
    );
    expect(of(journal(state), "playbook_started")).toHaveLength(1);

    const reset = await medic(["guard", "reset", "api", "--config", config]);
    expect(reset.code).toBe(0);
    await waitUntil(
      () => journal(state).find((r) => r.type === "resolved" && r.incident === trip.incident),
      20_000,
      "the reset to let medic restart it",
    );
    expect(of(journal(state), "playbook_started")).toHaveLength(2);
    expect(await healthy(port)).toBe(true);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);
});

describe("the blast radius, end to end", () => {
  async function fleetRun(names: string[], safety: string, wait: string) {
    const fleet = await startFleet();
    onCleanup(() => new Promise<void>((ok) => fleet.server.close(() => ok())));
    const dir = tempDir();
    const state = join(dir, "state");
    mkdirSync(join(dir, "playbooks"));
    writeFileSync(join(dir, "playbooks/fix.yaml"), fleetPlaybook(fleet.port, { wait }));
    writeFileSync(
      join(dir, "medic.yaml"),
      `stateDir: ${JSON.stringify(state)}
playbooks: [./playbooks]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
safety: ${safety}
targets:
${fleetTargets(fleet.port, names)}`,
    );
    for (const n of names) fleet.broken.add(n);
    const daemon = startMedic(["run", "--config", join(dir, "medic.yaml")]);
    return { fleet, state, daemon, config: join(dir, "medic.yaml") };
  }

  it("12 targets broken at once with a cap of 2: 2 acted on, 10 held, one escalation", async () => {
    const names = Array.from({ length: 12 }, (_, i) => `svc-${String(i).padStart(2, "0")}`);
    const { fleet, state, daemon, config } = await fleetRun(names, "{ blastRadius: { concurrent: 2, maxRuns: 2, window: 10m } }", "1s");
    await waitUntil(
      () => of(journal(state), "opened").length >= 13 && fleet.fixes.length === 2 && of(journal(state), "resolved").length === 2,
      30_000,
      "2 fixed and the rest held",
    );
    // Give medic time to do more if it were going to.
    await new Promise((r) => setTimeout(r, 2_000));
    const records = journal(state);
    expect(of(records, "playbook_started")).toHaveLength(2);
    expect(fleet.fixes).toHaveLength(2);
    expect(fleet.broken.size).toBe(10);
    const opened = of(records, "opened");
    const medicIncidents = opened.filter((r) => r.type === "opened" && r.target === "medic");
    expect(medicIncidents).toHaveLength(1);
    expect(medicIncidents[0]).toMatchObject({ kind: "blast_radius", severity: "P1" });
    const escalations = of(records, "escalated");
    expect(escalations).toHaveLength(1);
    expect(escalations[0]).toMatchObject({
      incident: medicIncidents[0]!.incident,
      reason: expect.stringMatching(/^medic is holding back: too many targets broke at once .*blast radius: /),
    });
    const heldIncidents = new Set(
      of(records, "held")
        .filter((r) => r.type === "held" && r.by === "blast_radius")
        .map((r) => r.incident),
    );
    expect(heldIncidents.size).toBe(10);

    const listed = await medic(["incidents", "--config", config, "--state", "held"]);
    expect(listed.stdout.trim().split("\n")).toHaveLength(11);
    const show = await medic(["incidents", "show", [...heldIncidents][0]!, "--config", config]);
    expect(show.stdout).toMatch(/held by blast radius: blast radius: 2 playbook runs across all targets/);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);

  it("with room in the window, held remediations are queued: all 6 fixed, never more than 2 at once, and the loud incident resolves", async () => {
    const names = Array.from({ length: 6 }, (_, i) => `q-${i}`);
    const { fleet, state, daemon } = await fleetRun(names, "{ blastRadius: { concurrent: 2, maxRuns: 10, window: 10m } }", "1500ms");
    await waitUntil(
      () => fleet.broken.size === 0 && of(journal(state), "resolved").length >= 7,
      60_000,
      "all six fixed and the blast incident resolved",
    );
    const records = journal(state);
    expect(of(records, "playbook_started")).toHaveLength(6);
    // At no instant were more than two playbooks running: replay starts and ends.
    const edges = records
      .filter(
        (r) =>
          r.type === "playbook_started" ||
          ((r.type === "resolved" || r.type === "escalated") &&
            records.some((s) => s.type === "playbook_started" && s.incident === r.incident)),
      )
      .map((r) => (r.type === "playbook_started" ? 1 : -1));
    let running = 0;
    let peak = 0;
    for (const e of edges) peak = Math.max(peak, (running += e));
    expect(peak).toBe(2);
    const blast = of(records, "opened").find((r) => r.type === "opened" && r.target === "medic")!;
    expect(records.find((r) => r.type === "resolved" && r.incident === blast.incident)).toMatchObject({
      reason: "nothing is held back by the blast radius any more",
    });
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);
});
