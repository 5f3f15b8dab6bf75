import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { foldRecords } from "../src/incidents/fold.js";
import type { JournalRecord } from "../src/incidents/types.js";
import { fleetPlaybook, fleetTargets, startFleet, type Fleet } from "./fixtures/safety-fleet.js";
import { startSlackReceiver } from "./fixtures/slack-receiver.js";
import { startHttpServer } from "./fixtures/probes-servers.js";
import {
  cleanup,
  freePort,
  journal,
  onCleanup,
  serviceConfig,
  startMedic,
  startService,
  tempDir,
  waitUntil,
  type MedicProcess,
} from "./harness.js";

afterEach(cleanup);

type Opened = Extract<JournalRecord, { type: "opened" }>;
const opened = (records: JournalRecord[]) => records.filter((r): r is Opened => r.type === "opened");
const resolvedRecord = (records: JournalRecord[], id: string) => records.find((r) => r.type === "resolved" && r.incident === id);
const ofTarget = (records: JournalRecord[], target: string) => opened(records).filter((r) => r.target === target);
/** The incident a Slack message is about: medic's fallback text ends "(incident ID)". */
const incidentOf = (body: { text?: string }) => /\(incident ([0-9a-f]+)\)$/.exec(body.text ?? "")?.[1];

/**
 * The fleet (every name in `broken` failing from the start), a Slack receiver, and medic running
 * on them. `targets` is the YAML of the target list; `playbooks` maps file names to playbooks.
 */
async function dependencyRun(targets: (fleet: Fleet) => string, playbooks: (fleet: Fleet) => Record<string, string>, broken: string[]) {
  const fleet = await startFleet();
  onCleanup(() => new Promise<void>((ok) => fleet.server.close(() => ok())));
  const slack = await startSlackReceiver();
  onCleanup(() => slack.close());
  const dir = tempDir();
  const state = join(dir, "state");
  mkdirSync(join(dir, "playbooks"));
  for (const [file, text] of Object.entries(playbooks(fleet))) writeFileSync(join(dir, "playbooks", file), text);
  writeFileSync(
    join(dir, "medic.yaml"),
    `stateDir: ${JSON.stringify(state)}
playbooks: [./playbooks]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
notify:
  slack: { webhookUrl: "\${SLACK_URL}", timeout: 1s }
  retry: { initial: 200ms, max: 1s, attempts: 100 }
targets:
${targets(fleet)}`,
  );
  for (const name of broken) fleet.broken.add(name);
  const daemon = startMedic(["run", "--config", join(dir, "medic.yaml")], { SLACK_URL: slack.url });
  return { fleet, slack, state, daemon };
}

async function stop(daemon: MedicProcess): Promise<void> {
  daemon.child.kill("SIGTERM");
  expect(await daemon.exited).toBe(0);
}

/**
 * medic watching a database (its own server, which can be made to hang; `dbExtra` is YAML for its
 * target) and an app on the fleet that depends on it, both healthy at first; the app's playbook fixes it.
 */
async function hangingDependencyRun(dbExtra: string) {
  let hung = false;
  let requests = 0;
  const db = await startHttpServer((_req, res) => {
    requests++;
    if (!hung) res.writeHead(200).end("{}");
  });
  onCleanup(() => db.close());
  const run = await dependencyRun(
    (f) =>
      `  - name: db\n    probe: { http: { url: "http://127.0.0.1:${db.port}/health" } }\n${dbExtra}${fleetTargets(f.port, ["app"], () => "    dependsOn: [db]\n")}`,
    (f) => ({ "app.yaml": fleetPlaybook(f.port, { name: "fix-app", targets: ["app"], wait: "200ms" }) }),
    [],
  );
  await waitUntil(() => run.daemon.stdout().includes("medic started"), 10_000, "medic to start");
  await new Promise((r) => setTimeout(r, 1000));
  return { ...run, hang: () => (hung = true), dbRequests: () => requests };
}

describe("dependencies, end to end", () => {
  it("a database and three dependents broken: one root incident, three suppressed, no dependent acted on before the root is verified", async () => {
    const apps = ["app-1", "app-2", "app-3"];
    const { fleet, slack, state, daemon } = await dependencyRun(
      // successThreshold 15 on the apps: app-1, healed with the db, must not resolve itself through
      // its own healthy rounds before the release looks at it (that path is the last test's).
      (f) => fleetTargets(f.port, ["db", ...apps], (n) => (n === "db" ? "" : "    dependsOn: [db]\n    successThreshold: 15\n")),
      (f) => ({
        "db.yaml": fleetPlaybook(f.port, { name: "fix-db", targets: ["db"], wait: "2s" }),
        "apps.yaml": fleetPlaybook(f.port, { name: "fix-app", targets: ["app-*"], wait: "200ms" }),
      }),
      ["db", ...apps],
    );
    fleet.healsWith.set("db", ["app-1"]);

    // The end state: app-2 and app-3 each got an incident of their own, which their playbook fixed.
    await waitUntil(
      () => {
        const records = journal(state);
        return (
          fleet.broken.size === 0 &&
          ["app-2", "app-3"].every((t) => ofTarget(records, t).some((o) => !o.root && resolvedRecord(records, o.incident)))
        );
      },
      45_000,
      "the db, then app-2 and app-3, fixed",
    );
    const records = journal(state);
    const incidents = foldRecords(records);
    const [dbOpened, ...moreDb] = ofTarget(records, "db");
    expect(moreDb).toEqual([]);
    expect(dbOpened!.root).toBeUndefined();
    const db = dbOpened!.incident;
    const dbResolved = resolvedRecord(records, db)!;
    expect(dbResolved).toMatchObject({ reason: expect.stringMatching(/^verified: healthy for 2 rounds/) });

    // While the db was broken: its incident was the only one not suppressed; each app's was suppressed under it.
    const whileBroken = opened(records).filter((r) => r.at < dbResolved.at);
    expect(whileBroken.filter((r) => !r.root).map((r) => r.incident)).toEqual([db]);
    const suppressed = whileBroken.filter((r) => r.root);
    expect(suppressed.map((r) => [r.target, r.root]).sort()).toEqual(apps.map((t) => [t, db]));
    const suppressedIds = new Set(suppressed.map((r) => r.incident));
    // The root's timeline says who else it took down.
    const notes = records.filter((r) => r.type === "note" && r.incident === db).map((r) => r.type === "note" && r.message);
    expect(notes.sort()).toEqual(
      apps.map((t) =>
        expect.stringMatching(new RegExp(`^${t} is affected too: incident [0-9a-f]+ \\(server_down\\) is suppressed under this one$`)),
      ),
    );

    // No app playbook started before the db's incident was verified resolved; the db was fixed first.
    const dbResolvedAt = records.indexOf(dbResolved);
    const appRuns = records.filter((r) => r.type === "playbook_started" && incidents.get(r.incident)!.target !== "db");
    expect(appRuns.length).toBe(2);
    for (const run of appRuns) expect(records.indexOf(run)).toBeGreaterThan(dbResolvedAt);
    expect(fleet.fixes[0]).toBe("db");
    expect([...fleet.fixes].sort()).toEqual(["app-2", "app-3", "db"]);

    // app-1 recovered with the db: its suppressed incident is resolved by the release, with no playbook.
    const app1 = suppressed.find((r) => r.target === "app-1")!.incident;
    expect(resolvedRecord(records, app1)).toMatchObject({ reason: `healthy once incident ${db} on db was resolved` });
    expect(ofTarget(records, "app-1")).toHaveLength(1);
    expect(incidents.get(app1)!.runs).toEqual([]);

    // app-2 and app-3 were still broken: their suppressed incidents were closed and each got one of its own.
    for (const t of ["app-2", "app-3"]) {
      const [first, own, ...more] = ofTarget(records, t);
      expect(more).toEqual([]);
      expect(first!.root).toBe(db);
      expect(resolvedRecord(records, first!.incident)).toMatchObject({
        reason: `incident ${db} on db was resolved; ${t} is still broken, so it gets an incident of its own`,
      });
      expect(own!.root).toBeUndefined();
      expect(own!.at).toBeGreaterThanOrEqual(dbResolved.at);
      expect(incidents.get(own!.incident)).toMatchObject({ state: "resolved", runs: [expect.objectContaining({ playbook: "fix-app" })] });
      expect(incidents.get(first!.incident)!.runs).toEqual([]);
    }

    // Nobody was told of the suppressed incidents; the db's resolve names every dependent.
    expect(records.filter((r) => r.type === "notification_queued" && suppressedIds.has(r.incident))).toEqual([]);
    const dbResolve = records.find((r) => r.type === "notification_queued" && r.incident === db && r.notification.event === "resolve");
    expect(dbResolve?.type === "notification_queued" && dbResolve.notification.affected).toEqual(apps);

    // Slack: the db's trigger and resolve (naming the apps), then only the apps' own incidents.
    await waitUntil(() => slack.posted().length >= 6, 10_000, "six Slack messages");
    await new Promise((r) => setTimeout(r, 500));
    expect(slack.messages.every((m) => m.status === 200)).toBe(true);
    const about = slack.messages.map((m) => incidentOf(m.body));
    const own = ["app-2", "app-3"].map((t) => ofTarget(records, t)[1]!.incident);
    expect(about.sort()).toEqual([db, db, own[0], own[0], own[1], own[1]].sort());
    const dbMessages = slack.messages.filter((m) => incidentOf(m.body) === db);
    expect(dbMessages[0]!.body.text).toMatch(/^P1 server_down on db: /);
    expect(dbMessages[1]!.body.text).toMatch(/^resolved: /);
    const affected = dbMessages[1]!.body.blocks.find((b: { text?: { text?: string } }) => b.text?.text?.startsWith("*Also affected"));
    expect(affected?.text.text).toBe("*Also affected (suppressed, not paged)*\napp-1, app-2, app-3");
    // Before the db was resolved, Slack heard of the db alone.
    expect(slack.messages.filter((m) => m.at < dbResolved.at).map((m) => incidentOf(m.body))).toEqual([db]);
    await stop(daemon);
  }, 60_000);

  it("a chain web -> api -> db: both suppressed under the db (the root), then api is fixed before web", async () => {
    const deps: Record<string, string> = { api: "db", web: "api" };
    const { fleet, state, daemon } = await dependencyRun(
      (f) => fleetTargets(f.port, ["db", "api", "web"], (n) => (deps[n] ? `    dependsOn: [${deps[n]}]\n` : "")),
      (f) => ({
        "db.yaml": fleetPlaybook(f.port, { name: "fix-db", targets: ["db"], wait: "2s" }),
        "rest.yaml": fleetPlaybook(f.port, { name: "fix-rest", targets: ["api", "web"], wait: "300ms" }),
      }),
      ["db", "api", "web"],
    );

    await waitUntil(
      () => {
        const records = journal(state);
        return fleet.broken.size === 0 && ofTarget(records, "web").some((o) => !o.root && resolvedRecord(records, o.incident));
      },
      45_000,
      "db, api and web fixed",
    );
    const records = journal(state);
    const [db, ...moreDb] = ofTarget(records, "db");
    const [api1, api2, ...moreApi] = ofTarget(records, "api");
    const [web1, web2, ...moreWeb] = ofTarget(records, "web");
    expect([moreDb, moreApi, moreWeb]).toEqual([[], [], []]);
    // Both dependents are suppressed under the deepest broken dependency's incident, not api's.
    expect(db!.root).toBeUndefined();
    expect(api1!.root).toBe(db!.incident);
    expect(web1!.root).toBe(db!.incident);

    // Released nearest first: api got its own incident; web, still broken because api was, was
    // suppressed again, under api's new incident.
    const dbResolved = resolvedRecord(records, db!.incident)!;
    expect(api2!.root).toBeUndefined();
    expect(api2!.at).toBeGreaterThanOrEqual(dbResolved.at);
    const again = records.filter((r) => r.type === "suppressed" && r.incident === web1!.incident);
    expect(again).toEqual([
      expect.objectContaining({
        root: api2!.incident,
        reason: `incident ${db!.incident} on db was resolved, but incident ${api2!.incident} on api is open`,
      }),
    ]);
    expect(records.indexOf(again[0]!)).toBeGreaterThan(records.indexOf(api2!));

    // web got its own incident only once api's was resolved; fixes went parent first.
    const api2Resolved = resolvedRecord(records, api2!.incident)!;
    expect(resolvedRecord(records, web1!.incident)).toMatchObject({
      reason: `incident ${api2!.incident} on api was resolved; web is still broken, so it gets an incident of its own`,
    });
    expect(web2!.root).toBeUndefined();
    expect(records.indexOf(web2!)).toBeGreaterThan(records.indexOf(api2Resolved));
    const runs = records.filter((r) => r.type === "playbook_started").map((r) => r.incident);
    expect(runs).toEqual([db!.incident, api2!.incident, web2!.incident]);
    expect(fleet.fixes).toEqual(["db", "api", "web"]);
    const incidents = foldRecords(records);
    expect([...incidents.values()].every((i) => i.state === "resolved")).toBe(true);
    await stop(daemon);
  }, 60_000);

  it("a dependent that recovers by itself while suppressed is marked resolved; its root stays open", async () => {
    const { fleet, slack, state, daemon } = await dependencyRun(
      (f) => fleetTargets(f.port, ["db", "app"], (n) => (n === "app" ? "    dependsOn: [db]\n" : "")),
      // No playbook handles the db: its incident escalates and stays open, a root that never resolves.
      (f) => ({ "app.yaml": fleetPlaybook(f.port, { name: "fix-app", targets: ["app"], wait: "200ms" }) }),
      ["db", "app"],
    );
    const suppressed = await waitUntil(() => ofTarget(journal(state), "app")[0], 15_000, "app's suppressed incident");
    const db = ofTarget(journal(state), "db")[0]!;
    expect(suppressed.root).toBe(db.incident);
    fleet.broken.delete("app");
    const resolved = await waitUntil(() => resolvedRecord(journal(state), suppressed.incident), 10_000, "app's incident to resolve");
    expect(resolved).toMatchObject({ reason: "healthy for 2 rounds" });
    // Give medic a moment to do something it should not.
    await new Promise((r) => setTimeout(r, 1_500));
    const records = journal(state);
    const incidents = foldRecords(records);
    expect(incidents.get(db.incident)).toMatchObject({ state: "escalated" });
    expect(records.find((r) => r.type === "escalated" && r.incident === db.incident)).toMatchObject({
      reason: "no playbook handles server_down on db",
    });
    expect(ofTarget(records, "app")).toHaveLength(1);
    expect(records.filter((r) => r.type === "playbook_started")).toEqual([]);
    expect(fleet.fixes).toEqual([]);
    // Slack heard of the db only: the app was never paged, broken or recovered.
    await waitUntil(() => slack.posted().length >= 1, 10_000, "the db's Slack message");
    expect(slack.messages.map((m) => incidentOf(m.body))).toEqual([db.incident]);
    await stop(daemon);
  }, 60_000);

  // A database probed once a minute was last seen healthy before the app broke: that rules nothing
  // out, so it is probed again at once.
  it.each([
    ["the database starts hanging (its probe times out) as its dependent starts failing", ""],
    ["a database probed once a minute starts hanging as its dependent fails", "    interval: 60s\n    failureThreshold: 1\n"],
  ])(
    "%s: the dependent waits and is suppressed under the database's incident, not acted on",
    async (_, dbExtra) => {
      const { fleet, state, daemon, hang } = await hangingDependencyRun(dbExtra);
      hang();
      fleet.broken.add("app");
      await waitUntil(() => journal(state).filter((r) => r.type === "opened").length >= 2, 15_000, "both incidents");
      await new Promise((r) => setTimeout(r, 1500));
      const records = journal(state);
      const dbOpened = records.find((r) => r.type === "opened" && r.target === "db")!;
      expect(records.find((r) => r.type === "opened" && r.target === "app")).toMatchObject({ root: dbOpened.incident });
      expect(fleet.fixes).toEqual([]);
      await stop(daemon);
    },
    60_000,
  );

  it("a process seen to die waits for its database's fresh verdict and then opens at once: the proof carries over, no more failing rounds 30 s apart", async () => {
    let dbRequests = 0;
    const db = await startHttpServer((_req, res) => {
      dbRequests++;
      res.writeHead(200).end("{}");
    });
    onCleanup(() => db.close());
    const dir = tempDir();
    const port = await freePort();
    writeFileSync(
      join(dir, "medic.yaml"),
      `${serviceConfig(dir, port, { interval: "30s" })}    failureThreshold: 3
    dependsOn: [db]
  - name: db
    probe: { http: { url: "http://127.0.0.1:${db.port}/health" } }
    interval: 60s
`,
    );
    const pid = await startService(dir, port, join(dir, "api.pid"));
    const daemon = startMedic(["run", "--config", join(dir, "medic.yaml")]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    await new Promise((r) => setTimeout(r, 500));
    const before = dbRequests;
    process.kill(pid, "SIGKILL");
    // Three failing rounds 30 s apart would take a minute.
    const incident = await waitUntil(() => opened(journal(join(dir, "state")))[0], 15_000, "the api's incident");
    expect(incident).toMatchObject({ target: "api", kind: "server_down" });
    expect(incident.root).toBeUndefined();
    expect(dbRequests).toBeGreaterThan(before);
    await stop(daemon);
  }, 60_000);

  it("a database probed once a minute that answers healthy when asked again does not hold its dependent back", async () => {
    const { fleet, state, daemon, dbRequests } = await hangingDependencyRun("    interval: 60s\n");
    const before = dbRequests();
    fleet.broken.add("app");
    await waitUntil(() => fleet.fixes.includes("app"), 15_000, "the app's fix");
    expect(dbRequests()).toBeGreaterThan(before);
    expect(opened(journal(state)).map((o) => ({ target: o.target, root: o.root }))).toEqual([{ target: "app", root: undefined }]);
    await stop(daemon);
  }, 60_000);
});
