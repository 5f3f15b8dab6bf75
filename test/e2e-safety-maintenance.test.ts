import { mkdirSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { JournalRecord } from "../src/incidents/types.js";
import { fleetPlaybook, fleetTargets, startFleet } from "./fixtures/safety-fleet.js";
import { startSlackReceiver } from "./fixtures/slack-receiver.js";
import { cleanup, journal, medic, onCleanup, startMedic, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

const byType = <T extends JournalRecord["type"]>(records: JournalRecord[], type: T) =>
  records.filter((r): r is Extract<JournalRecord, { type: T }> => r.type === type);
const openedOn = (records: JournalRecord[], target: string) => byType(records, "opened").find((r) => r.target === target);
/** The incident a Slack message is about: medic's fallback text ends "(incident ID)". */
const incidentOf = (body: { text?: string }) => /\(incident ([0-9a-f]+)\)$/.exec(body.text ?? "")?.[1];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** The Slack announcement of a pause on api that ended, with one incident still open. */
const announced = (how: string, id: string, reason: string) =>
  new RegExp(
    `^medic: the pause on api ${how} \\(${id}, by ${escape(userInfo().username)}: ${escape(reason)}\\)\\. 1 open incidents? (is|are) handled normally from now on\\.$`,
  );

/** The fleet (healthy), a Slack receiver, and medic running on the named targets; `extra` is more top-level YAML. */
async function maintenanceRun(names: string[], extra = "") {
  const fleet = await startFleet();
  onCleanup(() => new Promise<void>((ok) => fleet.server.close(() => ok())));
  const slack = await startSlackReceiver();
  onCleanup(() => slack.close());
  const dir = tempDir();
  const state = join(dir, "state");
  const file = join(dir, "medic.yaml");
  mkdirSync(join(dir, "playbooks"));
  writeFileSync(join(dir, "playbooks/fix.yaml"), fleetPlaybook(fleet.port, { wait: "200ms" }));
  writeFileSync(
    file,
    `stateDir: ${JSON.stringify(state)}
playbooks: [./playbooks]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
notify:
  slack: { webhookUrl: "\${SLACK_URL}", timeout: 1s }
  retry: { initial: 200ms, max: 1s, attempts: 100 }
${extra}targets:
${fleetTargets(fleet.port, names)}`,
  );
  const env = { SLACK_URL: slack.url };
  const daemon = startMedic(["run", "--config", file], env);
  await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
  const cli = (args: string[]) => medic([...args, "--config", file], env);
  return { fleet, slack, state, daemon, cli };
}

/** `medic pause` with its printed id and end; waits until the daemon has read it. */
async function pause(run: Awaited<ReturnType<typeof maintenanceRun>>, target: string, forWhat: string, reason: string) {
  const out = await run.cli(["pause", target, "--for", forWhat, "--reason", reason]);
  expect(out.code).toBe(0);
  const m = /^paused (\S+) until (\S+) \(([0-9a-f]+)\): (.*)\n$/.exec(out.stdout);
  expect(m, out.stdout + out.stderr).not.toBeNull();
  const [, what, until, id, said] = m!;
  expect([what, said]).toEqual([target, reason]);
  // The daemon reads operator controls once a second: until it has, it would still act.
  await waitUntil(
    () =>
      run.daemon
        .stdout()
        .split("\n")
        .some((l) => l.includes('"msg":"paused"') && l.includes(id!)),
    10_000,
    "the daemon to read the pause",
  );
  return { id: id!, until: Date.parse(until!) };
}

describe("maintenance: ad hoc pauses, end to end", () => {
  it("medic pause: the incident opens and is held, nobody is paged; when the pause expires it is fixed, paged, and the end is announced", async () => {
    const run = await maintenanceRun(["api"]);
    const { fleet, slack, state, daemon } = run;
    const paused = await pause(run, "api", "6s", "deploy");
    const listed = await run.cli(["pauses"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      new RegExp(`^${paused.id}\\s+api\\s+${new Date(paused.until).toISOString()}\\s+\\S+\\s+\\S+\\s+deploy\\s*$`, "m"),
    );

    fleet.broken.add("api");
    const held = await waitUntil(() => byType(journal(state), "held")[0], 10_000, "the incident to be held");
    const incident = openedOn(journal(state), "api")!.incident;
    expect(held).toMatchObject({
      incident,
      by: "maintenance",
      until: paused.until,
      // Who paused is named: the user who ran medic pause.
      reason: expect.stringMatching(new RegExp(`^pause ${paused.id} by \\S+ until ${new Date(paused.until).toISOString()}: deploy$`)),
    });
    expect(held.at).toBeLessThan(paused.until); // else the test proved nothing about the pause
    const show = await run.cli(["incidents", "--state", "held"]);
    expect(show.stdout).toContain(incident);

    // The pause expires: the announcement, then the normal handling: a trigger, the fix, the resolve.
    await waitUntil(
      () => journal(state).some((r) => r.type === "resolved" && r.incident === incident),
      20_000,
      "the incident fixed after the pause",
    );
    await waitUntil(() => slack.posted().length >= 3, 10_000, "the announcement, trigger and resolve");
    await sleep(500);
    const records = journal(state);
    const [started, ...more] = byType(records, "playbook_started");
    expect(more).toEqual([]);
    expect(started!.at).toBeGreaterThanOrEqual(paused.until);
    expect(fleet.fixes).toEqual(["api"]);
    // Nothing reached Slack while the pause held.
    expect(slack.messages.every((m) => m.at >= paused.until && m.status === 200)).toBe(true);
    expect(slack.messages).toHaveLength(3);
    const announcement = slack.messages.find((m) => incidentOf(m.body) === undefined)!;
    expect(announcement.body.text).toMatch(announced("expired", paused.id, "deploy"));
    const about = slack.messages.filter((m) => m !== announcement);
    expect(about.map((m) => incidentOf(m.body))).toEqual([incident, incident]);
    expect(about.map((m) => m.body.text)).toEqual([
      expect.stringMatching(/^P1 server_down on api: opened/),
      expect.stringMatching(/^resolved: verified: /),
    ]);
    const queued = byType(records, "notification_queued");
    expect(queued.every((r) => r.at >= paused.until)).toBe(true);
    expect(daemon.stdout()).toMatch(/"msg":"pause ended"/);
    expect((await run.cli(["pauses"])).stdout).toMatch(/^no active pauses$/m);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);

  it("medic resume lifts a pause early: the held incident is handled at once, and the lift is announced", async () => {
    const run = await maintenanceRun(["api"]);
    const { fleet, slack, state, daemon } = run;
    const paused = await pause(run, "api", "10m", "deploy 2.4");
    fleet.broken.add("api");
    const held = await waitUntil(() => byType(journal(state), "held")[0], 10_000, "the incident to be held");
    expect(held).toMatchObject({ by: "maintenance", until: paused.until });
    // Held, not acted on, nobody told, for as long as the pause lasts.
    await sleep(2_000);
    expect(byType(journal(state), "playbook_started")).toEqual([]);
    expect(byType(journal(state), "notification_queued")).toEqual([]);
    expect(slack.messages).toEqual([]);
    expect(fleet.fixes).toEqual([]);

    const liftedAt = Date.now();
    const resumed = await run.cli(["resume", "api"]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toBe(`resumed api (${paused.id}): deploy 2.4\n`);
    await waitUntil(
      () => journal(state).some((r) => r.type === "resolved" && r.incident === held.incident),
      20_000,
      "the incident fixed after the resume",
    );
    await waitUntil(() => slack.posted().length >= 3, 10_000, "the announcement, trigger and resolve");
    await sleep(500);
    expect(byType(journal(state), "playbook_started")[0]!.at).toBeGreaterThanOrEqual(liftedAt);
    expect(fleet.fixes).toEqual(["api"]);
    expect(slack.messages).toHaveLength(3);
    expect(slack.messages.every((m) => m.at >= liftedAt && m.status === 200)).toBe(true);
    const texts = slack.messages.map((m) => m.body.text as string);
    expect(texts.filter((t) => announced("was lifted", paused.id, "deploy 2.4").test(t))).toHaveLength(1);
    expect(slack.messages.map((m) => incidentOf(m.body)).filter(Boolean)).toEqual([held.incident, held.incident]);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);
});

describe("maintenance: windows from the config, end to end", () => {
  it("a target inside an open window is held, never fixed, never paged; one outside it is fixed; medic plan says it would hold", async () => {
    const run = await maintenanceRun(
      ["web", "other"],
      `maintenance:
  - { name: always, cron: "* * * * *", duration: 10m, targets: [web], reason: "db migration" }
`,
    );
    const { fleet, slack, state, daemon } = run;
    fleet.broken.add("web");
    fleet.broken.add("other");
    await waitUntil(
      () => {
        const records = journal(state);
        const other = openedOn(records, "other");
        return other && records.some((r) => r.type === "resolved" && r.incident === other.incident) && byType(records, "held").length > 0;
      },
      20_000,
      "other fixed and web held",
    );
    // Give medic time to do what it should not.
    await sleep(2_000);
    const records = journal(state);
    const web = openedOn(records, "web")!.incident;
    const other = openedOn(records, "other")!.incident;
    const holds = byType(records, "held");
    expect(holds.length).toBeGreaterThanOrEqual(1);
    for (const h of holds)
      expect(h).toMatchObject({
        incident: web,
        by: "maintenance",
        reason: expect.stringMatching(/^maintenance window always until \S+: db migration$/),
      });
    expect(byType(records, "playbook_started").map((r) => r.incident)).toEqual([other]);
    expect(records.some((r) => r.type === "resolved" && r.incident === web)).toBe(false);
    expect(fleet.fixes).toEqual(["other"]);
    expect(fleet.broken.has("web")).toBe(true);
    // Paged for other (opened, then resolved), never for web.
    expect(byType(records, "notification_queued").filter((r) => r.incident === web)).toEqual([]);
    await waitUntil(() => slack.posted().length >= 2, 10_000, "other's trigger and resolve");
    expect(slack.messages.map((m) => incidentOf(m.body))).toEqual([other, other]);

    const plan = await run.cli(["plan", "--target", "web", "--incident", "server_down"]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/^ {2}maintenance: maintenance window always until \S+: db migration$/m);
    expect(plan.stdout).toMatch(
      /^ {2}=> would hold the playbook below \(maintenance\): maintenance window always until \S+: db migration$/m,
    );
    const planOther = await run.cli(["plan", "--target", "other", "--incident", "server_down"]);
    expect(planOther.stdout).toMatch(/^ {2}maintenance: none now$/m);
    expect(planOther.stdout).not.toMatch(/\(maintenance\)/);
    const pauses = await run.cli(["pauses"]);
    expect(pauses.stdout).toMatch(/^always\s+web\s+\* \* \* \* \* UTC, 10m\s+open until \S+\s+db migration\s*$/m);

    // medic kept probing web through the window: when it comes back by itself, its incident resolves, still unpaged.
    fleet.broken.delete("web");
    const recovered = await waitUntil(
      () => journal(state).find((r) => r.type === "resolved" && r.incident === web),
      10_000,
      "web's incident to resolve",
    );
    expect(recovered).toMatchObject({ reason: "healthy for 2 rounds" });
    await sleep(500);
    expect(byType(journal(state), "playbook_started").map((r) => r.incident)).toEqual([other]);
    expect(byType(journal(state), "notification_queued").filter((r) => r.incident === web)).toEqual([]);
    expect(slack.messages).toHaveLength(2);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);
});
