import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { IncidentEvent } from "../src/incidents/types.js";
import { followerRule, placementRule } from "../src/gate/rules.js";
import { planRemediation } from "../src/playbooks/plan.js";
import type { StepCarrier, StepTask } from "../src/daemon/ports.js";
import { addPause, resetGuard } from "../src/safety/operator.js";
import { inProcessPerTest } from "./fixtures/in-process.js";
import { waitUntil } from "./harness.js";

// The daemon's scenarios in-process, on a manual clock: fake probes and services, everything else
// real. Each one runs in milliseconds and the same way every time.

const medic = inProcessPerTest();

const RESTART = `name: restart
on: [server_down]
steps:
  - service.restart: {}
verify: { within: 5s }
`;
const DEFAULTS = "defaults: { interval: 1s, timeout: 500ms, failureThreshold: 2, successThreshold: 2 }\n";

describe("the daemon in-process", () => {
  it("opens after failureThreshold rounds, restarts, verifies and resolves; the console was told", async () => {
    const m = await medic(`${DEFAULTS}targets:\n  - { name: api, probe: { tcp: { port: 1 } }, SERVICE }\n`, {
      playbooks: { "r.yaml": RESTART },
    });
    await m.advance(2_000);
    expect(m.records).toEqual([]);
    m.targets.get("api")!.up = false;
    await m.advance(1_000);
    expect(m.of("opened")).toHaveLength(0); // one failing round: not yet
    await m.advance(1_000);
    const [opened] = m.of("opened");
    expect(opened).toMatchObject({ target: "api", kind: "server_down", severity: "P1" });
    await m.advance(5_000);
    expect(m.targets.get("api")!.actions).toEqual(["restart"]);
    expect(m.of("resolved", opened!.incident)).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/^verified: healthy for 2 rounds/) }),
    ]);
    expect(m.of("notification_queued", opened!.incident).map((r) => [r.notification.channel, r.notification.event])).toContainEqual([
      "console",
      "trigger",
    ]);
  });

  it("a death the service sees opens at once, without waiting for more rounds", async () => {
    const m = await medic(
      `defaults: { interval: 30s, failureThreshold: 3 }\ntargets:\n  - { name: api, probe: { tcp: { port: 1 } }, SERVICE }\n`,
      {
        playbooks: { "r.yaml": RESTART },
      },
    );
    await m.advance(31_000);
    m.targets.get("api")!.kill();
    await m.advance(10);
    expect(m.of("opened")).toHaveLength(1);
  });
});

describe("the safety guards in-process", () => {
  it("the flap guard: runs back off, then trip after maxRuns; a guard reset lets medic act again", async () => {
    const m = await medic(
      `${DEFAULTS}safety: { flapGuard: { maxRuns: 3, window: 1h, backoff: { initial: 30s, max: 60s }, resetAfter: 10m } }\ntargets:\n  - { name: api, probe: { tcp: { port: 1 } }, SERVICE }\n`,
      { playbooks: { "r.yaml": RESTART } },
    );
    const api = m.targets.get("api")!;
    // A crash loop: every time a restart is verified, it dies again.
    api.up = false;
    for (let t = 0, fixed = 0; t < 400; t++) {
      await m.advance(1_000);
      const now = m.of("resolved").length;
      if (now > fixed) [fixed, api.up] = [now, false];
    }
    const starts = m.of("playbook_started");
    expect(starts.map((r) => r.guards)).toEqual([
      expect.stringMatching(/^flap guard: run 1 of 3 in 1h/),
      expect.stringMatching(/^flap guard: run 2 of 3/),
      expect.stringMatching(/^flap guard: run 3 of 3/),
    ]);
    expect(m.of("held").every((h) => h.by === "backoff")).toBe(true);
    expect(m.of("held").length).toBeGreaterThanOrEqual(2);
    const [trip] = m.of("escalated").filter((r) => r.by === "flap_guard");
    expect(trip!.reason).toMatch(/^flap guard: 3 server_down playbook runs on api in \S+ did not hold \(limit 3 per 1h\)/);
    expect(api.actions).toEqual(["restart", "restart", "restart"]);

    // And then: an operator resets the guard; the escalated incident is acted on again at the next tick.
    resetGuard(m.config.stateDir, "api", m.clock.now());
    await m.advance(10_000);
    expect(api.actions).toHaveLength(4);
    expect(m.of("playbook_started").at(-1)!.incident).toBe(trip!.incident);
  });

  it("the blast radius: 6 targets break at once with a cap of 2; 2 act, 4 are held, one loud incident; all are fixed two at a time and it resolves", async () => {
    const names = ["a", "b", "c", "d", "e", "f"];
    const m = await medic(
      `${DEFAULTS}safety: { blastRadius: { concurrent: 2, maxRuns: 20, window: 10m } }\ntargets:\n${names.map((n) => `  - { name: ${n}, probe: { tcp: { port: 1 } }, SERVICE }`).join("\n")}\n`,
      { playbooks: { "r.yaml": RESTART.replace("steps:", "steps:\n  - wait: 3s") } },
    );
    for (const n of names) m.targets.get(n)!.up = false;
    await m.advance(2_500);
    expect(m.of("opened").filter((r) => r.target !== "medic")).toHaveLength(6);
    expect(m.of("playbook_started")).toHaveLength(2);
    expect(new Set(m.of("held").map((r) => r.incident)).size).toBe(4);
    const blast = m.of("opened").find((r) => r.target === "medic")!;
    expect(blast).toMatchObject({ kind: "blast_radius", severity: "P1" });
    expect(m.of("escalated", blast.incident)).toHaveLength(1);

    // Never more than 2 at once, all six fixed, and medic's own incident resolves once nothing is held.
    let peak = 0;
    for (let t = 0; t < 40 && m.of("resolved").length < 7; t++) {
      await m.advance(500);
      const running = m.of("playbook_started").length - m.of("resolved").filter((r) => r.incident !== blast.incident).length;
      peak = Math.max(peak, running);
    }
    expect(peak).toBeLessThanOrEqual(2);
    for (const n of names) expect(m.targets.get(n)!.actions).toEqual(["restart"]);
    expect(m.of("resolved", blast.incident)).toHaveLength(1);
  });

  it("a maintenance window holds an incident and pages nobody; when it ends the incident is fixed and paged as usual", async () => {
    const m = await medic(`${DEFAULTS}targets:\n  - { name: api, probe: { tcp: { port: 1 } }, SERVICE }\n`, {
      playbooks: { "r.yaml": RESTART },
    });
    const now = m.clock.now();
    addPause(m.config.stateDir, { id: "p1", target: "api", from: now, until: now + 60_000, reason: "deploying", by: "alice" }, now);
    m.targets.get("api")!.up = false;
    await m.advance(10_000);
    const [opened] = m.of("opened");
    expect(m.of("held", opened!.incident)).toEqual([expect.objectContaining({ by: "maintenance" })]);
    expect(m.targets.get("api")!.actions).toEqual([]);
    expect(m.of("notification_queued", opened!.incident)).toEqual([]);
    await m.advance(60_000);
    expect(m.targets.get("api")!.actions).toEqual(["restart"]);
    expect(m.logs.join("")).toContain("the pause on api expired (p1, by alice: deploying)");
    expect(m.of("resolved", opened!.incident)).toHaveLength(1);
  });
});

describe("dependencies in-process", () => {
  const DB = `name: restart-db
on: [db_disconnect]
steps:
  - service.restart: {}
verify: { within: 5s }
`;
  it("a database and three dependents break: the database is acted on, the dependents are suppressed under it and resolve once it is fixed", async () => {
    const apps = ["a1", "a2", "a3"];
    const m = await medic(
      `${DEFAULTS}targets:\n  - { name: db, probe: { postgres: { url: "postgres://medic@127.0.0.1:1/orders" } }, SERVICE }\n` +
        apps.map((n) => `  - { name: ${n}, probe: { tcp: { port: 1 } }, SERVICE, dependsOn: [db] }`).join("\n") +
        "\n",
      { playbooks: { "r.yaml": RESTART, "db.yaml": DB } },
    );
    const db = m.targets.get("db")!;
    for (const n of apps) m.targets.get(n)!.needs = db;
    db.fixedByRestart = false;
    db.up = false;
    await m.advance(8_000);
    const root = m.of("opened").find((r) => r.target === "db")!;
    expect(root.kind).toBe("db_disconnect");
    const dependents = m.of("opened").filter((r) => r.target !== "db");
    expect(dependents.map((r) => [r.target, r.root]).sort()).toEqual(apps.map((n) => [n, root.incident]));
    for (const n of apps) expect(m.targets.get(n)!.actions).toEqual([]);
    expect(m.of("escalated", root.incident)).toHaveLength(1); // the restart could not fix it

    // And then: a human fixes the database; the dependents, healthy now, resolve without a restart of their own.
    db.up = true;
    await m.advance(5_000);
    expect(m.of("resolved", root.incident)).toHaveLength(1);
    // Each resolves, by its own healthy rounds or by the release that looks at it again.
    for (const d of dependents) expect(m.of("resolved", d.incident)).toHaveLength(1);
    for (const n of apps) expect(m.targets.get(n)!.actions).toEqual([]);
  });
});

describe("the rest of an incident's life in-process", () => {
  const ONE = `${DEFAULTS}targets:\n  - { name: api, probe: { tcp: { port: 1 } }, SERVICE }\n`;
  const t0 = Date.UTC(2026, 0, 1) - 60_000;
  const inFlight = (kind: string, params: string): { incident: string; at: number; event: IncidentEvent }[] => [
    { incident: "feed0001", at: t0, event: { type: "opened", target: "api", kind: "server_down", severity: "P1", evidence: "refused" } },
    {
      incident: "feed0001",
      at: t0 + 1,
      event: { type: "playbook_started", runId: "feed0001-1", playbook: "fix", steps: [{ name: kind, kind, description: params }] },
    },
    { incident: "feed0001", at: t0 + 2, event: { type: "step_started", runId: "feed0001-1", index: 0 } },
  ];

  it("keeps an incident's evidence `retention` after it closed: closing stamps its folder with the close time", async () => {
    const log = join(mkdtempSync(join(tmpdir(), "medic-log-")), "app.log");
    writeFileSync(log, "starting\nout of memory\n");
    const m = await medic(ONE, {
      playbooks: {
        "r.yaml": `name: restart\non: [server_down]\nsteps:\n  - capture.logs: { file: ${JSON.stringify(log)}, lines: 5 }\n  - service.restart: {}\nverify: { within: 5s }\n`,
      },
    });
    m.targets.get("api")!.up = false;
    await m.advance(2_000);
    const [opened] = m.of("opened");
    await m.advance(60_000);
    const [resolved] = m.of("resolved", opened!.incident);
    expect(m.of("step_finished", opened!.incident)[0]!.artifacts).toEqual([expect.objectContaining({ name: "logs-1.txt" })]);
    // The folder carries the close time (this clock's, months from the files' real mtimes): retention counts from there.
    const folder = join(m.config.stateDir, "artifacts", opened!.incident);
    await waitUntil(() => Math.abs(statSync(folder).mtimeMs - resolved!.at) < 1_000, 5_000, "the folder stamped with the close time");
    expect(readFileSync(join(folder, "logs-1.txt"), "utf8")).toBe("starting\nout of memory\n");
  });

  it("resumes a run a killed medic left mid-step: an idempotent step runs again, then verifies", async () => {
    const m = await medic(ONE, {
      playbooks: { "r.yaml": RESTART.replace("name: restart", "name: fix") },
      records: inFlight("service.restart", "restart process [/bin/true] (pid file x.pid)"),
      down: ["api"],
    });
    await m.advance(6_000);
    expect(m.targets.get("api")!.actions).toEqual(["restart"]);
    expect(m.of("playbook_started")).toHaveLength(0); // the same run, not a new one
    expect(m.of("resolved", "feed0001")).toHaveLength(1);
  });

  it("does not run again a non-idempotent step a crash cut off: it escalates instead", async () => {
    const exec = `name: fix\non: [server_down]\nsteps:\n  - exec: { argv: [/bin/false] }\nverify: { within: 5s }\n`;
    const m = await medic(ONE, { playbooks: { "r.yaml": exec }, records: inFlight("exec", `run ["/bin/false"]`) });
    await m.advance(100);
    expect(m.of("step_finished", "feed0001")).toEqual([expect.objectContaining({ outcome: "abandoned" })]);
    expect(m.of("escalated", "feed0001")[0]!.reason).toMatch(/was interrupted by a daemon stop; not safe to run again/);
  });

  it("a dry run goes the same way to the gate, which refuses: it records what it would run, acts on nothing and sends nothing", async () => {
    const m = await medic(ONE, { playbooks: { "r.yaml": RESTART }, dryRun: true });
    m.targets.get("api")!.up = false;
    await m.advance(5_000);
    const [opened] = m.of("opened");
    expect(opened!.dryRun).toBe(true);
    expect(m.of("would_run", opened!.incident)[0]!.plan.join("\n")).toMatch(/playbook restart .*\n.*service\.restart/);
    expect(m.targets.get("api")!.actions).toEqual([]);
    expect(m.logs.join("")).toContain("dry run: would notify");
    expect(m.of("notification_sent")).toEqual([]);
  });

  it("a target removed by a reload while its playbook waits: the step finishes, nothing more runs, and the incident resolves", async () => {
    const slow = RESTART.replace("steps:", "steps:\n  - wait: 10s");
    const m = await medic(ONE, { playbooks: { "r.yaml": slow } });
    m.targets.get("api")!.up = false;
    await m.advance(3_000);
    const [opened] = m.of("opened");
    expect(m.of("step_started", opened!.incident)).toHaveLength(1);
    m.daemon.reload({ ...m.config, targets: [] });
    await m.advance(12_000);
    expect(m.of("step_finished", opened!.incident)).toEqual([expect.objectContaining({ outcome: "ok", detail: "waited 10s" })]);
    expect(m.targets.get("api")!.actions).toEqual([]);
    expect(m.of("resolved", opened!.incident)[0]!.reason).toBe("no longer watched: target removed from config");
  });

  it("an acknowledgement stops the climb: nobody more is paged, and a later resolve still goes out", async () => {
    const m = await medic(
      `${ONE}escalation: { P2: [{ after: 0s, notify: [console] }, { after: 1m, notify: [console] }] }\nseverities: { server_down: P2 }\n`,
    );
    m.targets.get("api")!.up = false;
    await m.advance(3_000);
    const [opened] = m.of("opened");
    const before = m.of("notification_queued", opened!.incident).length;
    expect(m.daemon.acknowledge(opened!.incident, "alice", "on it")?.acknowledged?.by).toBe("alice");
    await m.advance(120_000);
    // No playbook: it escalated at once, and the console heard; after the acknowledgement only the acknowledge.
    const events = m.of("notification_queued", opened!.incident).map((r) => r.notification.event);
    expect(events.slice(before)).toEqual(["acknowledge"]);
    m.targets.get("api")!.up = true;
    await m.advance(3_000);
    expect(
      m
        .of("notification_queued", opened!.incident)
        .map((r) => r.notification.event)
        .slice(before),
    ).toEqual(["acknowledge", "resolve"]);
  });

  it("a cluster leader hands a host step to the target's node, journals what it did there, and escalates at once for a node not in the cluster", async () => {
    const targets = `${DEFAULTS}targets:
  - { name: api, node: web-1, probe: { tcp: { port: 1 } }, SERVICE }
  - { name: lost, node: web-9, probe: { tcp: { port: 1 } }, SERVICE }
  - { name: remote, probe: { tcp: { port: 1 } }, SERVICE }
  - { name: here, node: ops-1, probe: { tcp: { port: 1 } }, SERVICE }
`;
    const nodeOf = (name: string) => ({ api: "web-1", lost: "web-9", here: "ops-1" })[name];
    const rules = [placementRule("ops-1", nodeOf, (node) => node === "ops-1" || node === "web-1")];
    const handed: { task: StepTask; local: boolean }[] = [];
    const carry: StepCarrier = (task, local) => {
      const node = nodeOf(task.incident.target);
      if (!local || node === undefined || node === "ops-1") return undefined;
      handed.push({ task, local });
      // web-1 restarts it: the service comes back, seen by this node's probe.
      m.targets.get(task.incident.target)!.up = true;
      return Promise.resolve({ ok: true, detail: "on node web-1: restarted pid 10 -> 11", durationMs: 40 });
    };
    const m = await medic(targets, { playbooks: { "r.yaml": RESTART }, rules, carry });
    for (const t of ["api", "lost", "remote", "here"]) m.targets.get(t)!.up = false;
    await m.advance(8_000);
    const byTarget = (t: string) => m.of("opened").find((o) => o.target === t)!.incident;

    // api: handed to web-1 as planned here, nothing run on this host, and journaled like a step of its own.
    expect(handed).toHaveLength(1);
    const { task, local } = handed[0]!;
    expect(local).toBe(true);
    expect(task).toMatchObject({ incident: { id: byTarget("api"), kind: "server_down", target: "api" }, playbook: "restart", index: 0 });
    const [started] = m.of("playbook_started", byTarget("api"));
    expect(task.description).toBe(started!.steps[0]!.description);
    expect(m.targets.get("api")!.actions).toEqual([]);
    expect(m.of("step_finished", byTarget("api"))[0]).toMatchObject({
      outcome: "ok",
      detail: "on node web-1: restarted pid 10 -> 11",
      durationMs: 40,
    });
    expect(m.incident(byTarget("api")).state).toBe("resolved");

    // lost: its node never joined, so no node can act there: escalated before anything runs.
    const [escalated] = m.of("escalated", byTarget("lost"));
    expect(escalated!.reason).toBe(
      "service.restart acts on the host of node web-9, which is not in this cluster (no node of that name has joined): no node can carry it out",
    );
    expect(m.of("playbook_started", byTarget("lost"))).toEqual([]);
    expect(m.targets.get("lost")!.actions).toEqual([]);
    // A target with no node is on every node's host (one host, several medics); one on this node's is acted on here.
    expect(m.targets.get("remote")!.actions).toEqual(["restart"]);
    expect(m.targets.get("here")!.actions).toEqual(["restart"]);
  });

  it("a node carries out a step handed to it only as its own config renders it: a config that differs runs nothing and says so", async () => {
    const m = await medic(`${DEFAULTS}targets:\n  - { name: api, node: web-1, probe: { tcp: { port: 1 } }, SERVICE }\n`, {
      playbooks: { "r.yaml": RESTART },
      rules: [followerRule(() => "the leader (ops-1)")],
    });
    const incident = { id: "abc123", kind: "server_down", severity: "P1", target: "api", evidence: "connection refused" };
    const plan = planRemediation({ incident, target: m.config.targets[0]!, playbooks: m.config.playbooks });
    if (plan.action !== "run") throw new Error(plan.reason);
    const step = plan.steps[0]!;
    const task: StepTask = {
      runId: "abc123-1",
      incident,
      playbook: "restart",
      index: 0,
      description: step!.description,
      timeoutMs: step!.timeoutMs,
    };
    const never = new AbortController().signal;

    for (const [wrong, why] of [
      [
        { description: "restart something else" },
        /^this node renders step 1 as ".*" \(timeout \d+ ms\), not "restart something else" .*: the nodes' configs differ; nothing was run$/,
      ],
      [{ timeoutMs: 1 }, /the nodes' configs differ; nothing was run$/],
      [{ playbook: "other" }, /^this node's config picks playbook restart, not other; nothing was run$/],
      [{ index: 3 }, /^this node's playbook restart has no step 4: the nodes' configs differ; nothing was run$/],
      [{ incident: { ...incident, target: "db" } }, /^this node does not watch db; nothing was run$/],
      [
        { incident: { ...incident, kind: "high_latency" } },
        /^this node would not run a playbook: no playbook handles high_latency on api; nothing was run$/,
      ],
    ] as const) {
      const r = await m.daemon.carryOut({ ...task, ...wrong }, never);
      expect(r.ok).toBe(false);
      expect(r.detail).toMatch(why);
    }
    expect(m.targets.get("api")!.actions).toEqual([]);

    // As the leader rendered it: run here, on this node's own service, even though this node follows.
    expect(await m.daemon.carryOut(task, never)).toMatchObject({ ok: true });
    expect(m.targets.get("api")!.actions).toEqual(["restart"]);
    await m.stop();
  });

  it("a run that fails while a dependency broke meanwhile waits under the dependency's incident instead of paging on its own", async () => {
    const m = await medic(
      `${DEFAULTS}targets:\n  - { name: db, probe: { tcp: { port: 1 } }, SERVICE }\n  - { name: app, dependsOn: [db], probe: { tcp: { port: 1 } }, SERVICE }\n`,
      { playbooks: { "r.yaml": RESTART } },
    );
    const [db, app] = [m.targets.get("db")!, m.targets.get("app")!];
    app.fixedByRestart = false;
    app.up = false;
    await m.advance(3_000);
    const appIncident = m.of("opened").find((o) => o.target === "app")!.incident;
    expect(m.of("playbook_started", appIncident)).toHaveLength(1);
    // While app's restart is being verified, its database dies, and a restart does not bring it back either.
    db.fixedByRestart = false;
    db.up = false;
    await m.advance(10_000);
    const dbIncident = m.of("opened").find((o) => o.target === "db")!.incident;
    expect(m.of("escalated", appIncident)).toEqual([]);
    const [suppressed] = m.of("suppressed", appIncident);
    expect(suppressed).toMatchObject({ root: dbIncident });
    expect(suppressed!.reason).toMatch(new RegExp(`^verification: .*; incident ${dbIncident} on db explains it$`));
    expect(m.incident(appIncident).state).toBe("suppressed");
    // Without a root, a failed run escalates as always: the database's own.
    expect(m.of("escalated", dbIncident)).toHaveLength(1);
    await m.stop();
  });
});
