import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { JournalRecord } from "../src/incidents/types.js";
import { enterToken, launchBrowser, openConsole } from "./console-page.js";
import { startSlackReceiver } from "./fixtures/slack-receiver.js";
import {
  apiUrl,
  cleanup,
  freePort,
  journal,
  killOnCleanup,
  onCleanup,
  SHIPPED_PLAYBOOKS,
  startMedic,
  tempDir,
  waitUntil,
} from "./harness.js";

// The runbook's "restart with heap dump", end to end: a Node service leaks under a real medic, which
// takes a heap snapshot through the signal (the shipped heap-dump-then-restart playbook), restarts it,
// verifies, keeps the snapshot under the incident, and tells Slack with a link.

afterEach(cleanup);

/** A viewer's token: evidence is downloaded only with one. */
const TOKEN = "v".repeat(32);
const AS_VIEWER = { headers: { authorization: `Bearer ${TOKEN}` } };
const LEAKY = fileURLToPath(new URL("./fixtures/leaky-service.mjs", import.meta.url));

async function setUp(opts: { slackUrl?: string } = {}) {
  const dir = tempDir();
  const port = await freePort();
  const start = [process.execPath, "--heapsnapshot-signal=SIGUSR2", LEAKY, String(port)];
  const link = "http://medic.example.test:8080/console";
  writeFileSync(
    join(dir, "medic.yaml"),
    `stateDir: ./state
playbooks: [${JSON.stringify(SHIPPED_PLAYBOOKS)}]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
api:
  tokens: [{ name: vic, tokenFile: ./vic, role: viewer }]
${opts.slackUrl ? `notify:\n  slack: { webhookUrl: ${JSON.stringify(opts.slackUrl)} }\n  link: ${link}\n` : ""}targets:
  - name: api
    labels: { heapdump: node }
    probe: { http: { url: "http://127.0.0.1:${port}/health" } }
    service:
      process:
        start: ${JSON.stringify(start)}
        pidFile: api.pid
        stopTimeout: 2s
`,
  );
  writeFileSync(join(dir, "vic"), `${TOKEN}\n`, { mode: 0o600 });
  // The service as an operator started it: the very command medic's service names, so medic can prove it is the service.
  writeFileSync(join(dir, "leak"), "");
  const child = spawn(start[0]!, start.slice(1), { cwd: dir, detached: true, stdio: "ignore" });
  child.unref();
  writeFileSync(join(dir, "api.pid"), `${child.pid}\n`);
  killOnCleanup(join(dir, "api.pid"));
  onCleanup(() => {
    if (child.exitCode === null) process.kill(child.pid!, "SIGKILL");
  });
  await waitUntil(
    () =>
      fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.ok,
        () => false,
      ),
    10_000,
    "the leaky service",
  );
  return { dir, port, pid: child.pid!, state: join(dir, "state"), link };
}

const finished = (records: JournalRecord[], index: number) =>
  records.find((r): r is Extract<JournalRecord, { type: "step_finished" }> => r.type === "step_finished" && r.index === index);

describe("e2e: capture before the fix", () => {
  it("a leaking Node service: heap snapshot by SIGUSR2, then restart, verified; the snapshot is kept, listed and linked", async () => {
    const slack = await startSlackReceiver();
    onCleanup(() => slack.close());
    const { dir, pid, state, link } = await setUp({ slackUrl: slack.url });
    // A closed incident's evidence from a month ago: past the 14-day retention, removed at start.
    const old = join(state, "artifacts", "0ld0ld00");
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, "logs-1.txt"), "a month old");
    const monthAgo = new Date(Date.now() - 30 * 24 * 3600_000);
    utimesSync(join(old, "logs-1.txt"), monthAgo, monthAgo);
    utimesSync(old, monthAgo, monthAgo);
    const m = startMedic(["run", "--config", join(dir, "medic.yaml")]);
    await waitUntil(() => !existsSync(old), 20_000, "the expired artifacts to be pruned at start");
    expect(m.stdout()).toMatch(/"incident":"0ld0ld00".*"reason":"retention".*"msg":"removed an incident's artifacts"/);
    const api = await apiUrl(m);
    const resolved = await waitUntil(() => journal(state).find((r) => r.type === "resolved"), 60_000, "the incident to resolve");
    const id = resolved.incident;
    const records = journal(state).filter((r) => r.incident === id);
    expect(records[0]).toMatchObject({ type: "opened", kind: "memory_pressure", evidence: expect.stringContaining("memory") });
    expect(records.find((r) => r.type === "playbook_started")).toMatchObject({ playbook: "heap-dump-then-restart" });

    // The snapshot came first, then the log tail (this service keeps no log: recorded, and the run went on), then the restart.
    const heap = finished(records, 0)!;
    expect(heap).toMatchObject({ outcome: "ok", detail: expect.stringContaining(`that pid ${pid} wrote on SIGUSR2`) });
    expect(finished(records, 1)).toMatchObject({
      outcome: "failed",
      detail: expect.stringMatching(/^capture failed: no log to read.*; going on$/),
    });
    expect(finished(records, 2)).toMatchObject({ outcome: "ok" });
    const order = records.flatMap((r) => (r.type === "step_started" || r.type === "step_finished" ? [`${r.type}:${r.index}`] : []));
    expect(order).toEqual(["step_started:0", "step_finished:0", "step_started:1", "step_finished:1", "step_started:2", "step_finished:2"]);
    expect(resolved.type === "resolved" && resolved.reason).toMatch(/^verified/);

    // The file is in the state dir, its hash the journal's, and it is a real V8 heap snapshot; none is left in the service's cwd.
    const [ref] = heap.artifacts!;
    expect(ref).toMatchObject({ name: "dump-1.heapsnapshot", path: `artifacts/${id}/dump-1.heapsnapshot`, truncated: false });
    const bytes = readFileSync(join(state, ref!.path));
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(ref!.sha256);
    expect(bytes.length).toBe(ref!.bytes);
    const snapshot = JSON.parse(bytes.toString("utf8")) as { snapshot: { meta: { node_fields: string[] } } };
    expect(snapshot.snapshot.meta.node_fields).toContain("self_size");
    expect(readdirSync(dir).filter((f) => f.endsWith(".heapsnapshot"))).toEqual([]);

    // Listed in the incident, downloadable, and named in Slack with a link to the incident's page.
    const detail = (await (await fetch(`${api}/api/incidents/${id}`, AS_VIEWER)).json()) as {
      artifacts: { name: string; sha256: string }[];
    };
    expect(detail.artifacts).toEqual([
      expect.objectContaining({ name: "dump-1.heapsnapshot", sha256: ref!.sha256, step: "heap snapshot" }),
    ]);
    // Evidence may hold secrets: never without a token.
    expect((await fetch(`${api}/api/incidents/${id}/artifacts/dump-1.heapsnapshot`)).status).toBe(401);
    const download = await fetch(`${api}/api/incidents/${id}/artifacts/dump-1.heapsnapshot`, AS_VIEWER);
    expect(
      createHash("sha256")
        .update(Buffer.from(await download.arrayBuffer()))
        .digest("hex"),
    ).toBe(ref!.sha256);
    const told = await waitUntil(
      () => slack.posted().find((msg) => JSON.stringify(msg.body.blocks).includes("dump-1.heapsnapshot")),
      20_000,
      "a Slack message naming the snapshot",
    );
    const section = (told.body.blocks as { text?: { text: string } }[])
      .map((b) => b.text?.text ?? "")
      .find((t) => t.includes("Evidence kept"))!;
    expect(section).toContain(`<${link}/#/incidents/${id}|`);
    expect(section).toMatch(/• dump-1\.heapsnapshot \([\d.]+(KiB|MiB), heap snapshot\)/);
    console.log(`e2e capture: heap snapshot ${ref!.bytes} bytes, step took ${heap.durationMs} ms`);

    // And after a restart of medic: the journal still lists it, the start-up pruning left a fresh incident's evidence alone.
    m.child.kill("SIGTERM");
    expect(await m.exited).toBe(0);
    const again = await apiUrl(startMedic(["run", "--config", join(dir, "medic.yaml")]));
    const listed = (await (await fetch(`${again}/api/incidents/${id}`, AS_VIEWER)).json()) as { artifacts: { name: string }[] };
    expect(listed.artifacts.map((a) => a.name)).toEqual(["dump-1.heapsnapshot"]);
    const later = await fetch(`${again}/api/incidents/${id}/artifacts/dump-1.heapsnapshot`, AS_VIEWER);
    expect(
      createHash("sha256")
        .update(Buffer.from(await later.arrayBuffer()))
        .digest("hex"),
    ).toBe(ref!.sha256);

    // The console's incident page lists it; its download button saves the very bytes the journal hashed.
    const browser = await launchBrowser();
    onCleanup(() => browser.close());
    const { page, errors } = await openConsole(browser, `${again}/#/incidents/${id}`);
    await enterToken(page, TOKEN);
    const item = page.locator('[data-testid="artifacts"] li[data-name="dump-1.heapsnapshot"]');
    await item.waitFor();
    expect(await item.textContent()).toContain(ref!.sha256.slice(0, 16));
    const [saved] = await Promise.all([page.waitForEvent("download"), item.locator("button").click()]);
    expect(saved.suggestedFilename()).toBe("dump-1.heapsnapshot");
    expect(
      createHash("sha256")
        .update(readFileSync(await saved.path()))
        .digest("hex"),
    ).toBe(ref!.sha256);
    expect(errors).toEqual([]);
  }, 120_000);

  it("a dry run captures nothing and says what it would capture", async () => {
    const { dir, pid, state, port } = await setUp();
    const m = startMedic(["run", "--dry-run", "--config", join(dir, "medic.yaml")]);
    // A dry run writes nothing to the state dir's journal: what it would run is in its log.
    const would = await waitUntil(
      () =>
        m
          .stdout()
          .split("\n")
          .filter((l) => l.includes('"dry run: would run playbook"'))
          .map((l) => JSON.parse(l) as { plan: string[] })[0],
      30_000,
      "the dry run's plan",
    );
    const plan = would.plan.join("\n");
    expect(plan).toContain(`would capture: send SIGUSR2 to pid ${pid} and keep the new Heap.*.heapsnapshot in ${dir}`);
    expect(plan).toContain("service.restart");
    m.child.kill("SIGTERM");
    expect(await m.exited).toBe(0);
    // Node writes a snapshot on the main thread as the signal arrives: once the service answers again, any would be on disk.
    expect((await fetch(`http://127.0.0.1:${port}/health`)).ok).toBe(true);
    expect(existsSync(join(state, "artifacts"))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith(".heapsnapshot"))).toEqual([]);
    expect(Number(readFileSync(join(dir, "api.pid"), "utf8"))).toBe(pid);
    expect(journal(state).some((r) => r.type === "step_started")).toBe(false);
    expect(m.stdout()).not.toMatch(/"msg":"running playbook"/);
  }, 60_000);
});
