import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isAlive } from "../src/lib/proc.js";
import { cleanup, freePort, journal, killOnCleanup, serviceConfig, startMedic, startService, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

const NODE = JSON.stringify(process.execPath);
/** An exec step that appends a word to the marker file (and sleeps `ms` after, if given). */
const append = (marker: string, word: string, ms = 0) =>
  `  - exec: { argv: [${NODE}, "-e", ${JSON.stringify(
    `require("fs").appendFileSync(process.argv[1], process.argv[2] + " " + process.pid + "\\n"); setTimeout(() => {}, ${ms})`,
  )}, ${JSON.stringify(marker)}, "${word}"] }\n`;

async function setUp(steps: string) {
  const dir = tempDir();
  const port = await freePort();
  const playbooks = join(dir, "playbooks");
  mkdirSync(playbooks);
  const marker = join(dir, "marker");
  const playbook = `name: slow-recovery\non: [server_down]\nsteps:\n${steps}verify: { within: 20s }\n`;
  writeFileSync(join(playbooks, "slow.yaml"), playbook.replaceAll("MARKER", marker));
  const config = join(dir, "medic.yaml");
  writeFileSync(config, serviceConfig(dir, port, { playbooks }));
  killOnCleanup(join(dir, "api.pid"));
  const pid = await startService(dir, port, join(dir, "api.pid"));
  return { dir, port, config, pid, stateDir: join(dir, "state"), marker };
}

const words = (marker: string) => {
  try {
    return readFileSync(marker, "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(" ")[0]);
  } catch {
    return [];
  }
};
const started = (stateDir: string, index: number) => () => journal(stateDir).some((r) => r.type === "step_started" && r.index === index);

describe("a daemon killed mid-playbook", () => {
  it("resumes after kill -9: the incident finishes once and no step recorded done runs twice", async () => {
    const t = await setUp(append("MARKER", "one") + "  - wait: 3s\n" + append("MARKER", "three") + "  - service.start:\n");

    const first = startMedic(["run", "--config", t.config]);
    await waitUntil(() => first.stdout().includes("medic started"), 10_000, "medic to start");
    process.kill(t.pid, "SIGKILL");
    await waitUntil(started(t.stateDir, 1), 20_000, "the wait step to start");
    first.child.kill("SIGKILL");
    await first.exited;
    expect(words(t.marker)).toEqual(["one"]);

    const second = startMedic(["run", "--config", t.config]);
    const resolved = await waitUntil(() => journal(t.stateDir).find((r) => r.type === "resolved"), 30_000, "the incident to resolve");
    expect(words(t.marker)).toEqual(["one", "three"]);
    const records = journal(t.stateDir);
    expect(records.filter((r) => r.type === "opened")).toHaveLength(1);
    expect(records.filter((r) => r.type === "resolved")).toHaveLength(1);
    expect(records.filter((r) => r.type === "step_started" && r.index === 0)).toHaveLength(1);
    expect(records.filter((r) => r.type === "step_finished" && r.index === 3 && r.outcome === "ok")).toHaveLength(1);
    expect(resolved.reason).toMatch(/^verified/);
    expect(second.stdout()).toContain("resuming incident left in flight");
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  }, 60_000);

  it("does not repeat a non-idempotent step that a crash cut off: it escalates instead", async () => {
    const t = await setUp(append("MARKER", "start", 3000) + "  - service.start:\n");
    const first = startMedic(["run", "--config", t.config]);
    await waitUntil(() => first.stdout().includes("medic started"), 10_000, "medic to start");
    process.kill(t.pid, "SIGKILL");
    await waitUntil(() => words(t.marker).length > 0, 20_000, "the exec step to run");
    first.child.kill("SIGKILL");
    await first.exited;

    const second = startMedic(["run", "--config", t.config]);
    const escalated = await waitUntil(() => journal(t.stateDir).find((r) => r.type === "escalated"), 20_000, "the escalation");
    expect(escalated.reason).toMatch(/not safe to run again/);
    expect(journal(t.stateDir).filter((r) => r.type === "step_started")).toHaveLength(1);
    expect(words(t.marker)).toEqual(["start"]);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  }, 60_000);

  it("on SIGTERM cuts off a long step within 10 s and journals it as abandoned", async () => {
    const t = await setUp(append("MARKER", "start", 60_000) + "    timeout: 2m\n  - service.start:\n");
    const daemon = startMedic(["run", "--config", t.config]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    process.kill(t.pid, "SIGKILL");
    await waitUntil(() => words(t.marker).length > 0, 20_000, "the exec step to run");

    const stopAt = Date.now();
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(12_000);
    const finished = journal(t.stateDir).find((r) => r.type === "step_finished");
    expect(finished).toMatchObject({ outcome: "abandoned" });
    const stepPid = Number(readFileSync(t.marker, "utf8").split(" ")[1]);
    await waitUntil(async () => !(await isAlive(stepPid)), 5_000, "the step's process to be gone");
  }, 60_000);

  it("remediates an incident a previous daemon journaled as opened but died before acting on", async () => {
    const t = await setUp(append("MARKER", "fixed") + "  - service.start:\n");
    mkdirSync(t.stateDir);
    const opened = {
      at: Date.now(),
      incident: "deadbeef",
      type: "opened",
      target: "api",
      kind: "server_down",
      severity: "P1",
      evidence: "refused",
    };
    writeFileSync(join(t.stateDir, "journal.jsonl"), JSON.stringify(opened) + "\n");
    process.kill(t.pid, "SIGKILL");

    const daemon = startMedic(["run", "--config", t.config]);
    const resolved = await waitUntil(() => journal(t.stateDir).find((r) => r.type === "resolved"), 30_000, "the incident to resolve");
    expect(resolved.incident).toBe("deadbeef");
    expect(journal(t.stateDir).filter((r) => r.type === "opened")).toHaveLength(1);
    expect(words(t.marker)).toEqual(["fixed"]);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);

  it("closes, without resuming or escalating, a run left in flight on a target no longer in the config", async () => {
    const t = await setUp(append("MARKER", "acted"));
    mkdirSync(t.stateDir);
    // A previous daemon was cutting short the run of a removed target ("gone") when it died mid-step.
    const at = Date.now() - 5_000;
    const records = [
      { at, incident: "feedface", type: "opened", target: "gone", kind: "server_down", severity: "P1", evidence: "refused" },
      {
        at: at + 1,
        incident: "feedface",
        type: "playbook_started",
        runId: "feedface-1",
        playbook: "slow-recovery",
        steps: [{ name: "exec", kind: "exec", description: "x" }],
      },
      { at: at + 2, incident: "feedface", type: "step_started", runId: "feedface-1", index: 0 },
    ];
    writeFileSync(join(t.stateDir, "journal.jsonl"), records.map((r) => JSON.stringify(r) + "\n").join(""));

    const daemon = startMedic(["run", "--config", t.config]);
    const resolved = await waitUntil(() => journal(t.stateDir).find((r) => r.type === "resolved"), 10_000, "the incident to close");
    expect(resolved).toMatchObject({ incident: "feedface", reason: "no longer watched: target removed from config" });
    const types = journal(t.stateDir)
      .filter((r) => !r.type.startsWith("notification_"))
      .map((r) => r.type);
    expect(types).toEqual(["opened", "playbook_started", "step_started", "step_finished", "resolved"]);
    expect(journal(t.stateDir).find((r) => r.type === "step_finished")).toMatchObject({ outcome: "abandoned" });
    expect(words(t.marker)).toEqual([]);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);
});
