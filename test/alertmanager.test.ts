import { createServer, type Server } from "node:http";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { JournalRecord } from "../src/incidents/types.js";
import { readPidFile } from "../src/lib/proc.js";
import { startAlertmanager } from "./fixtures/alertmanager.js";
import {
  apiUrl,
  cleanup,
  freePort,
  journal,
  onCleanup,
  serviceConfig,
  SHIPPED_PLAYBOOKS,
  startMedic,
  startService,
  tempDir,
  waitUntil,
} from "./harness.js";

afterEach(cleanup);

const TOKEN = "alertmanager-test-token-0123456789";
// A label value that would forge a JSON log line, clear a terminal and flip text if it got through raw.
const HOSTILE = 'x\n{"level":60,"msg":"forged"}\r\u001b[2J\u202eevil';

/** An HTTP server on 127.0.0.1 the test controls: answers `status()`, records every request body. */
async function controlled(status: () => number): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      bodies.push(body);
      res.writeHead(status(), { "content-type": "application/json" }).end('{"status":"ok"}');
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  onCleanup(() => new Promise<void>((ok) => (server.closeAllConnections(), server.close(() => ok()))));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, bodies };
}

/**
 * medic watching the demo service "api" (process service, shipped playbooks) and "web" (a server the
 * test controls, with a playbook that calls an admin endpoint that refuses), with alert routes, and a
 * real Alertmanager whose webhook receiver is medic's /api/alertmanager with the bearer token.
 */
async function setup() {
  const dir = tempDir("medic-am-");
  const port = await freePort();
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const web = await controlled(() => 200);
  const admin = await controlled(() => 500);
  mkdirSync(join(dir, "playbooks"));
  writeFileSync(
    join(dir, "playbooks", "tell-admin.yaml"),
    `name: tell-admin
on: [high_latency]
targets: [web]
steps:
  - http: { url: "${admin.url}/drain", body: { incident: "{{ incident.id }}", evidence: "{{ incident.evidence }}" } }
verify: { within: 5s }
onFailure: escalate
`,
  );
  const config = join(dir, "medic.yaml");
  copyFileSync(join(SHIPPED_PLAYBOOKS, "server-down.yaml"), join(dir, "playbooks", "server-down.yaml"));
  writeFileSync(
    config,
    serviceConfig(dir, port, { playbooks: join(dir, "playbooks") }) +
      `  - name: web
    probe: { http: { url: "${web.url}/health" } }
    playbook: tell-admin
api: { tokenFile: ./token }
alertmanager:
  routes:
    - { match: { alertname: ApiErrorRate }, targetLabel: service, kind: server_down }
    - { matchRe: { alertname: "Web.*" }, target: web, kind: high_latency, severity: P3 }
`,
  );
  const pidFile = join(dir, "api.pid");
  const pid = await startService(dir, port, pidFile);
  const daemon = startMedic(["run", "--config", config]);
  const medicUrl = await apiUrl(daemon);
  const am = await startAlertmanager(dir, `${medicUrl}/api/alertmanager`, tokenFile);
  const state = join(dir, "state");
  const find = (pred: (r: JournalRecord) => boolean) => journal(state).find(pred);
  return { dir, pid, pidFile, daemon, medicUrl, am, state, admin, find };
}

describe("Alertmanager to medic, for real", () => {
  it("a firing alert opens an incident whose playbook restarts the service; the hostile label stays evidence", async () => {
    const s = await setup();
    const startsAt = new Date(Date.now() - 60_000).toISOString();
    const labels = { alertname: "ApiErrorRate", service: "api", detail: HOSTILE };
    const t0 = Date.now();
    await s.am.postAlerts([{ labels, annotations: { summary: "5xx rate above 5%" }, startsAt }]);

    const opened = await waitUntil(() => s.find((r) => r.type === "opened"), 15_000, "medic to open the incident");
    const started = await waitUntil(() => s.find((r) => r.type === "playbook_started"), 15_000, "the playbook to start");
    const resolved = await waitUntil(() => s.find((r) => r.type === "resolved"), 30_000, "verified recovery");
    expect(opened).toMatchObject({
      target: "api",
      kind: "server_down",
      severity: "P1",
      source: expect.stringMatching(/^alertmanager:[0-9a-f]{16}$/),
    });
    expect(started).toMatchObject({ incident: opened.incident, playbook: "restart-on-server-down" });
    expect(resolved).toMatchObject({ incident: opened.incident, reason: expect.stringMatching(/^verified/) });
    // The service really was restarted: a new process answers.
    const newPid = await readPidFile(s.pidFile);
    expect(newPid).toBeDefined();
    expect(newPid).not.toBe(s.pid);

    const evidence = opened.type === "opened" ? opened.evidence : "";
    expect(evidence).toMatch(
      /^alert "ApiErrorRate" firing since \S+Z, 5xx rate above 5%, labels detail="x \{\\"level\\":60,\\"msg\\":\\"forged\\"\}/,
    );
    expect(evidence).not.toMatch(/[\u0000-\u001f\u007f\u202e]/);
    console.info(
      `alert posted to Alertmanager -> incident opened ${opened.at - t0} ms, -> playbook started ${started.at - t0} ms, -> verified recovery ${resolved.at - t0} ms`,
    );
    expect(started.at - t0).toBeLessThan(10_000);

    // Resolving the alert now finds nothing open (the playbook's verification closed it): a 200, nothing retried.
    await s.am.postAlerts([{ labels, startsAt, endsAt: new Date(Date.now() - 1000).toISOString() }]);
    await waitUntil(
      () => /"outcome":"not_open"[^\n]*"msg":"alert from alertmanager"/.test(s.daemon.stdout()),
      15_000,
      "the resolved alert to arrive",
    );
    expect(await s.am.metric("alertmanager_notifications_total", { integration: "webhook" })).toBeGreaterThanOrEqual(2);
    expect(await s.am.metric("alertmanager_notifications_failed_total", { integration: "webhook" })).toBe(0);
    expect(journal(s.state).filter((r) => r.type === "opened")).toHaveLength(1);
    // Every log line is still one JSON object; the forged one is not among them.
    const lines = s.daemon.stdout().trim().split("\n");
    expect(lines.every((l) => typeof JSON.parse(l) === "object")).toBe(true);
    expect(lines.some((l) => (JSON.parse(l) as { msg: string }).msg === "forged")).toBe(false);
    s.daemon.child.kill("SIGTERM");
    expect(await s.daemon.exited).toBe(0);
  }, 90_000);

  it("a resolved alert closes the incident its playbook could not fix, once a fresh probe is healthy", async () => {
    const s = await setup();
    const startsAt = new Date(Date.now() - 60_000).toISOString();
    const labels = { alertname: "WebSlow", service: "web" };
    await s.am.postAlerts([{ labels, annotations: { summary: "p99 above 2s" }, startsAt }]);

    const escalated = await waitUntil(() => s.find((r) => r.type === "escalated"), 20_000, "the failed playbook to escalate");
    const opened = s.find((r) => r.type === "opened" && r.incident === escalated.incident)!;
    expect(opened).toMatchObject({ target: "web", kind: "high_latency", severity: "P3", source: expect.stringMatching(/^alertmanager:/) });
    const step = s.find((r) => r.type === "step_finished" && r.incident === escalated.incident);
    expect(step).toMatchObject({ outcome: "failed", detail: expect.stringContaining("-> 500") });
    // The playbook got the incident and its evidence as JSON strings.
    expect(JSON.parse(s.admin.bodies[0]!)).toMatchObject({
      incident: escalated.incident,
      evidence: expect.stringContaining('alert "WebSlow"'),
    });
    // The probe sees web healthy all along, but an alert's incident is only closed by its alert.
    await new Promise((r) => setTimeout(r, 1500));
    expect(s.find((r) => r.type === "resolved")).toBeUndefined();

    const t0 = Date.now();
    await s.am.postAlerts([{ labels, startsAt, endsAt: new Date(Date.now() - 1000).toISOString() }]);
    const resolved = await waitUntil(() => s.find((r) => r.type === "resolved"), 15_000, "the resolved alert to close the incident");
    expect(resolved).toMatchObject({
      incident: escalated.incident,
      reason: "the alert resolved and a fresh probe of the target is healthy",
    });
    console.info(`resolved alert posted to Alertmanager -> incident resolved after verification ${resolved.at - t0} ms`);
    expect(await s.am.metric("alertmanager_notifications_failed_total", { integration: "webhook" })).toBe(0);
    s.daemon.child.kill("SIGTERM");
    expect(await s.daemon.exited).toBe(0);
  }, 90_000);

  it("4xx for what retrying cannot fix (malformed, no token, wrong token); an alert for an unknown target is a 200 that says so", async () => {
    const s = await setup();
    const post = (body: string, token: string | null = TOKEN) =>
      fetch(`${s.medicUrl}/api/alertmanager`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
      });
    const malformed = await post('{"version":"4","status":"firing","alerts":[{"labels":{}}]}');
    expect(malformed.status).toBe(400);
    const problem = (await malformed.json()) as { error: string; hint: string };
    expect(problem.error).toContain("alerts[0].status");
    expect(problem.hint).toContain("webhook_configs");
    expect((await post("{not json")).status).toBe(400);
    expect((await post("{}", null)).status).toBe(401);
    expect((await post("{}", "x".repeat(32))).status).toBe(401);

    await s.am.postAlerts([{ labels: { alertname: "ApiErrorRate", service: "billing" } }]);
    await waitUntil(
      () => /"outcome":"unknown_target"[^\n]*"msg":"alert from alertmanager"/.test(s.daemon.stdout()),
      15_000,
      "medic to report the unknown target",
    );
    expect(await s.am.metric("alertmanager_notifications_failed_total", { integration: "webhook" })).toBe(0);
    expect(journal(s.state).filter((r) => r.type === "opened")).toEqual([]);
    // With a token configured, a read (a Prometheus scrape) needs it too.
    const metrics = await (await fetch(`${s.medicUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(metrics).toContain('medic_alertmanager_alerts_total{status="firing",outcome="unknown_target"} 1');
    expect(metrics).toContain('medic_api_requests_total{route="/api/alertmanager",code="400"} 2');
    s.daemon.child.kill("SIGTERM");
    expect(await s.daemon.exited).toBe(0);
  }, 60_000);
});
