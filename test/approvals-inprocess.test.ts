import { describe, expect, it } from "vitest";
import type { ApprovalAnswer } from "../src/approvals/types.js";
import type { IncidentEvent } from "../src/incidents/types.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/config/load.js";
import { updateControls } from "../src/safety/controls.js";
import { addPause, endPauses } from "../src/safety/operator.js";
import { inProcessPerTest, type InProcess } from "./fixtures/in-process.js";

// Approval gates in-process, on a manual clock: a step that must be approved waits, journaled,
// for a person's answer in the controls file (where `medic approve`, the API and the console write
// it), and runs once, after the target is looked at again; a rejection or silence escalates and
// runs nothing. Restarts are a new daemon on the records the last one left.

const medic = inProcessPerTest();

const DEFAULTS = "defaults: { interval: 1s, timeout: 500ms, failureThreshold: 2, successThreshold: 2 }\n";
const TARGET = `${DEFAULTS}targets:\n  - { name: api, probe: { tcp: { port: 1 } }, SERVICE }\n`;
/** A playbook whose restart asks first (10 minutes to answer), after a harmless wait. */
const GATED = `name: careful
on: [server_down]
steps:
  - wait: 1s
  - service.restart: {}
    approval: { required: true, timeout: 10m }
verify: { within: 5s }
`;

let answers = 0;
function answer(m: InProcess, over: Partial<ApprovalAnswer> & Pick<ApprovalAnswer, "incident" | "decision" | "by">): void {
  const asked = m.incident(over.incident).approval!;
  updateControls(
    m.config.stateDir,
    (c) => void c.answers.push({ id: `ans${++answers}`, runId: asked.runId, index: asked.index, at: m.clock.now(), ...over }),
    m.clock.now(),
  );
}

/** Breaks api and runs until its step waits for approval; the incident's id. */
async function awaiting(m: InProcess): Promise<string> {
  m.targets.get("api")!.up = false;
  await m.advance(5_000);
  const id = m.of("opened")[0]!.incident;
  expect(m.incident(id).state).toBe("awaiting_approval");
  return id;
}

describe("approval gates", () => {
  it("a gated step waits, journaled, with the plan in the notification; approved, it runs once, and a second approval changes nothing", async () => {
    const m = await medic(TARGET, { playbooks: { "p.yaml": GATED } });
    const id = await awaiting(m);
    const [asked] = m.of("approval_requested", id);
    expect(asked).toMatchObject({ index: 1, step: "service.restart", why: "step 2 asks for approval", run: false });
    expect(asked!.expiresAt - asked!.at).toBe(600_000);
    expect(asked!.plan.join("\n")).toMatch(
      /2\. service\.restart: restart process \[\/bin\/true\][^\n]*\n\s+needs approval \(step 2 asks for approval; escalates without acting after 10m\)/,
    );
    // The wait before it ran; the restart did not.
    expect(m.of("step_finished", id).map((s) => s.index)).toEqual([0]);
    expect(m.targets.get("api")!.actions).toEqual([]);
    const told = m.of("notification_queued", id).map((r) => r.notification);
    expect(told.at(-1)).toMatchObject({
      event: "trigger",
      reason: "awaiting approval of step 2 (service.restart): step 2 asks for approval",
    });
    expect(told.at(-1)!.approval!.plan).toEqual(asked!.plan);

    // Minutes pass: it still waits, and asks nothing twice.
    await m.advance(120_000);
    expect(m.of("approval_requested", id)).toHaveLength(1);
    answer(m, { incident: id, decision: "approved", by: "ann", reason: "go ahead" });
    answer(m, { incident: id, decision: "approved", by: "bob" });
    await m.advance(10_000);
    expect(m.of("approved", id)).toEqual([expect.objectContaining({ by: "ann", note: "go ahead", index: 1 })]);
    expect(m.targets.get("api")!.actions).toEqual(["restart"]);
    expect(m.incident(id).state).toBe("resolved");
    // The wait that ran before the question is not run again after the answer.
    expect(m.of("step_started", id).map((s) => s.index)).toEqual([0, 1]);
    await m.advance(60_000);
    expect(m.targets.get("api")!.actions).toEqual(["restart"]);
  });

  it("a rejection escalates with its reason and runs nothing", async () => {
    const m = await medic(TARGET, { playbooks: { "p.yaml": GATED } });
    const id = await awaiting(m);
    answer(m, { incident: id, decision: "rejected", by: "bob", reason: "the primary is mid-failover" });
    answer(m, { incident: id, decision: "approved", by: "ann" });
    await m.advance(5_000);
    expect(m.of("rejected", id)).toEqual([expect.objectContaining({ by: "bob", reason: "the primary is mid-failover" })]);
    expect(m.of("escalated", id).at(-1)!.reason).toBe(
      "step 2 (service.restart) was rejected by bob: the primary is mid-failover; nothing ran",
    );
    expect(m.of("approved", id)).toEqual([]);
    expect(m.targets.get("api")!.actions).toEqual([]);
  });

  it("no answer in time escalates and never acts; an answer after the deadline is not honoured", async () => {
    const m = await medic(TARGET, { playbooks: { "p.yaml": GATED } });
    const id = await awaiting(m);
    await m.advance(600_000);
    expect(m.of("approval_expired", id)).toHaveLength(1);
    expect(m.of("escalated", id).at(-1)!.reason).toBe("nobody approved step 2 (service.restart) within 10m; nothing ran");
    answer(m, { incident: id, decision: "approved", by: "late" });
    await m.advance(10_000);
    expect(m.of("approved", id)).toEqual([]);
    expect(m.targets.get("api")!.actions).toEqual([]);
  });

  it("a target that recovers while its step waits is resolved and nothing runs, even when approved after", async () => {
    const m = await medic(TARGET, { playbooks: { "p.yaml": GATED } });
    const id = await awaiting(m);
    // Approved at the moment it came back: looked at again before running, it is healthy.
    m.targets.get("api")!.up = true;
    answer(m, { incident: id, decision: "approved", by: "ann" });
    await m.advance(3_000);
    expect(m.incident(id).state).toBe("resolved");
    expect(m.of("resolved", id)[0]!.reason).toMatch(/recovered|healthy/);
    expect(m.targets.get("api")!.actions).toEqual([]);
  });

  it("a medic killed while a step waits still waits after a restart; an approval given while it was down is honoured once", async () => {
    const first = await medic(TARGET, { playbooks: { "p.yaml": GATED } });
    const id = await awaiting(first);
    const left = first.records.map(({ incident, at, seq: _seq, ...event }) => ({ incident, at, event: event as IncidentEvent }));
    const asked = first.incident(id).approval!;
    await first.stop();

    // Down: nothing acts on the question. Back: it is still asked, and nothing ran.
    const second = await medic(TARGET, { playbooks: { "p.yaml": GATED }, records: left, down: ["api"] });
    await second.advance(5_000);
    expect(second.incident(id).state).toBe("awaiting_approval");
    expect(second.of("approval_requested", id)).toEqual([]);
    expect(second.targets.get("api")!.actions).toEqual([]);
    const kept = [
      ...left,
      ...second.records.map(({ incident, at, seq: _seq, ...event }) => ({ incident, at, event: event as IncidentEvent })),
    ];
    await second.stop();

    // Approved while no medic ran; the next one honours it once, and the one after that finds nothing to do.
    const approveWhileDown = {
      id: "down1",
      incident: id,
      runId: asked.runId,
      index: asked.index,
      decision: "approved" as const,
      by: "ann",
    };
    const third = await medic(TARGET, {
      playbooks: { "p.yaml": GATED },
      records: kept,
      down: ["api"],
      beforeStart: (config, clock) =>
        updateControls(config.stateDir, (c) => void c.answers.push({ ...approveWhileDown, at: clock.now() }), clock.now()),
    });
    await third.advance(10_000);
    expect(third.of("approved", id)).toEqual([expect.objectContaining({ by: "ann", answer: "down1" })]);
    expect(third.targets.get("api")!.actions).toEqual(["restart"]);
    expect(third.incident(id).state).toBe("resolved");
    const all = [
      ...kept,
      ...third.records.map(({ incident, at, seq: _seq, ...event }) => ({ incident, at, event: event as IncidentEvent })),
    ];
    await third.stop();
    const fourth = await medic(TARGET, {
      playbooks: { "p.yaml": GATED },
      records: all,
      beforeStart: (config, clock) =>
        updateControls(config.stateDir, (c) => void c.answers.push({ ...approveWhileDown, at: clock.now() }), clock.now()),
    });
    await fourth.advance(10_000);
    expect(fourth.of("approved")).toEqual([]);
    expect(fourth.targets.get("api")!.actions).toEqual([]);
  });

  it("a rule by step kind, or a severity, asks too; plans and dry runs say where", async () => {
    const rules = `approvals:\n  timeout: 20m\n  severities: { P1: {} }\n  rules: [ { kinds: [service.restart], targets: ["api*"] } ]\n`;
    const plain = "name: plain\non: [server_down]\nsteps:\n  - service.restart: {}\nverify: { within: 5s }\n";
    const m = await medic(`${rules}${TARGET}`, { playbooks: { "p.yaml": plain } });
    const id = await awaiting(m);
    expect(m.of("approval_requested", id)[0]).toMatchObject({
      index: 0,
      why: "steps of kind service.restart need approval; P1 runs need approval",
      run: true,
    });
    expect(m.of("approval_requested", id)[0]!.expiresAt - m.of("approval_requested", id)[0]!.at).toBe(20 * 60_000);

    const dry = await medic(`${rules}${TARGET}`, { playbooks: { "p.yaml": plain }, dryRun: true });
    dry.targets.get("api")!.up = false;
    await dry.advance(5_000);
    const [would] = dry.of("would_run");
    expect(would!.plan.join("\n")).toContain(
      "needs approval (steps of kind service.restart need approval; P1 runs need approval; escalates without acting after 20m)",
    );
    expect(dry.of("approval_requested")).toEqual([]);
  });

  it("an approved step that renders otherwise by the time it would run (a reload) is not run: it escalates", async () => {
    const m = await medic(TARGET, { playbooks: { "p.yaml": GATED } });
    const id = await awaiting(m);
    writeFileSync(join(m.config.baseDir, "playbooks", "p.yaml"), GATED.replace("- service.restart: {}", "- service.stop: {}"));
    const loaded = await loadConfig(m.config.file, { env: {} });
    if (!loaded.ok) throw new Error("reload failed");
    m.daemon.reload(loaded.config);
    answer(m, { incident: id, decision: "approved", by: "ann" });
    await m.advance(5_000);
    expect(m.of("escalated", id).at(-1)!.reason).toMatch(
      /^step 2 of playbook careful now reads "stop process .*", not "restart process .*" as when its run started; not resuming it$/,
    );
    expect(m.targets.get("api")!.actions).toEqual([]);
  });

  it("approved while a pause holds the target: it waits, approved, and runs once the pause ends, without running earlier steps again", async () => {
    const m = await medic(TARGET, { playbooks: { "p.yaml": GATED } });
    const id = await awaiting(m);
    const now = m.clock.now();
    addPause(m.config.stateDir, { id: "p1", target: "api", from: now, until: now + 600_000, reason: "deploy", by: "olga" }, now);
    answer(m, { incident: id, decision: "approved", by: "ann" });
    await m.advance(30_000);
    expect(m.incident(id).state).toBe("approved");
    expect(m.targets.get("api")!.actions).toEqual([]);
    endPauses(m.config.stateDir, { target: "api" }, m.clock.now());
    await m.advance(10_000);
    expect(m.targets.get("api")!.actions).toEqual(["restart"]);
    expect(m.of("step_started", id).map((r) => r.index)).toEqual([0, 1]);
    expect(m.of("playbook_started", id)).toHaveLength(1);
    expect(m.incident(id).state).toBe("resolved");
  });

  it("an answer the journal already took is never taken again, even for the same step asked again", async () => {
    const at = Date.UTC(2026, 0, 1) - 60_000;
    const question: IncidentEvent = {
      type: "approval_requested",
      runId: "feed0002-1",
      index: 1,
      step: "service.restart",
      plan: [],
      why: "w",
      run: false,
      expiresAt: at + 600_000,
    };
    const asked = { incident: "feed0002", at, event: question };
    const records: { incident: string; event: IncidentEvent; at: number }[] = [
      { incident: "feed0002", at, event: { type: "opened", target: "api", kind: "server_down", severity: "P1", evidence: "refused" } },
      {
        incident: "feed0002",
        at,
        event: {
          type: "playbook_started",
          runId: "feed0002-1",
          playbook: "careful",
          steps: [
            { name: "wait", kind: "wait", description: "wait 1s" },
            { name: "service.restart", kind: "service.restart", description: "restart process [/bin/true] (pid file x.pid)" },
          ],
        },
      },
      asked,
      { incident: "feed0002", at, event: { type: "approved", runId: "feed0002-1", index: 1, by: "ann", answer: "used1" } },
      asked,
    ];
    const used = { id: "used1", incident: "feed0002", runId: "feed0002-1", index: 1, decision: "approved" as const, by: "ann", at: at + 1 };
    const m = await medic(TARGET, {
      playbooks: { "p.yaml": GATED },
      records,
      down: ["api"],
      beforeStart: (config, clock) => updateControls(config.stateDir, (c) => void c.answers.push(used), clock.now()),
    });
    await m.advance(5_000);
    expect(m.of("approved")).toEqual([]);
    expect(m.incident("feed0002").state).toBe("awaiting_approval");
    expect(m.targets.get("api")!.actions).toEqual([]);
  });
});
