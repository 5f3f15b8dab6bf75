import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Controls } from "../src/safety/types.js";
import {
  apiUrl,
  cleanup,
  freePort,
  journal,
  medic,
  onCleanup,
  serviceConfig,
  startMedic,
  startService,
  tempDir,
  waitUntil,
} from "./harness.js";

afterEach(cleanup);

const TOKEN = "api-test-token-0123456789abcdef";
const VIEWER = "api-viewer-token-0123456789abcdef";

/** `promtool check metrics` on a text: its exit code and what it said. */
function promtool(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

/** A GET with a Host header of our choosing (fetch does not let one set it). */
function getWithHost(url: string, host: string, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { host, authorization: `Bearer ${token}` }, agent: false }, (res) => {
      let text = "";
      res
        .setEncoding("utf8")
        .on("data", (d) => (text += d))
        .on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on("error", reject);
  });
}

/** One GET /healthz on a fresh connection: its status, or 0 when the connection was refused, dropped or took over 5 s. */
function healthz(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/healthz`, { agent: false }, (res) => {
      res
        .resume()
        .on("end", () => resolve(res.statusCode ?? 0))
        .on("error", () => resolve(0));
    });
    req.on("error", () => resolve(0));
    req.setTimeout(5_000, () => req.destroy());
  });
}

/** A medic watching the demo service (process service, shipped playbooks), with a token file; its API's URL. */
async function setup() {
  const dir = tempDir("medic-api-");
  const port = await freePort();
  writeFileSync(join(dir, "token"), `${TOKEN}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "viewer-token"), `${VIEWER}\n`, { mode: 0o600 });
  const config = join(dir, "medic.yaml");
  // One token per person: alice operates, victor only looks.
  writeFileSync(
    config,
    `${serviceConfig(dir, port)}api:\n  tokens:\n    - { name: alice, tokenFile: ./token, role: operator }\n    - { name: victor, tokenFile: ./viewer-token, role: viewer }\n`,
  );
  const pidFile = join(dir, "api.pid");
  const pid = await startService(dir, port, pidFile);
  const daemon = startMedic(["run", "--config", config]);
  const url = await apiUrl(daemon);
  const state = join(dir, "state");
  // With a token configured, reads need it too.
  const get = async (path: string, token: string | null = TOKEN) => {
    const res = await fetch(url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const post = async (path: string, body: unknown, token: string | null = TOKEN) => {
    const res = await fetch(url + path, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  return { dir, port, config, pidFile, pid, daemon, url, state, get, post };
}

describe("the HTTP API of a running medic", () => {
  it("shows targets, health and incidents with their timeline; /metrics passes promtool check metrics", async () => {
    const s = await setup();
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.url).not.toContain(":9464");
    const health = await s.get("/healthz");
    expect(health.status).toBe(200);
    expect(health.body.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([
      ["scheduler", true],
      ["state dir", true],
    ]);
    await waitUntil(async () => (await s.get("/api/targets")).body.targets[0]?.up === true, 10_000, "the target to be up");

    process.kill(s.pid, "SIGKILL");
    const resolved = await waitUntil(
      async () => (await s.get("/api/incidents?state=resolved")).body.incidents[0],
      30_000,
      "the incident to resolve",
    );
    expect(resolved).toMatchObject({ target: "api", kind: "server_down", severity: "P1", state: "resolved", runs: 1 });
    const detail = await s.get(`/api/incidents/${resolved.id}`);
    expect(detail.status).toBe(200);
    const types = detail.body.timeline.map((r: { type: string }) => r.type).filter((t: string) => !t.startsWith("notification_"));
    expect(types).toEqual(["opened", "playbook_started", "step_started", "step_finished", "verifying", "resolved"]);
    expect(detail.body.timeline.find((r: { type: string }) => r.type === "playbook_started").text).toContain(
      "playbook restart-on-server-down started",
    );
    expect(detail.body.runs[0].steps[0]).toMatchObject({ kind: "service.restart", status: "ok" });
    // An id prefix is enough, as with medic incidents show.
    expect((await s.get(`/api/incidents/${resolved.id.slice(0, 5)}`)).body.id).toBe(resolved.id);

    const res = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    const checked = await promtool(text);
    expect(checked.output).toBe("");
    expect(checked.code).toBe(0);
    expect(text).toContain('medic_incidents_opened_total{kind="server_down",severity="P1"} 1');
    expect(text).toContain('medic_playbook_runs_total{playbook="restart-on-server-down",outcome="recovered"} 1');
    expect(text).toContain('medic_step_duration_seconds_count{kind="service.restart",outcome="ok"} 1');
    expect(text).toContain('medic_recovery_seconds_count{kind="server_down",remediated="true"} 1');
    expect(text).toContain('medic_target_up{target="api"} 1');
    expect(text).toMatch(/^medic_probe_rounds_total\{target="api",result="server_down"\} [1-9]/m);
    expect(text).toMatch(/^medic_notifications_sent_total\{channel="console"\} [1-9]/m);
    expect(text).toMatch(/^medic_outbox_depth\{channel="console"\} 0$/m);
    expect(text).toMatch(/^medic_event_loop_delay_seconds\{stat="p99"\} [0-9.e-]+$/m);

    s.daemon.child.kill("SIGTERM");
    expect(await s.daemon.exited).toBe(0);
    // The API closed with the daemon.
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  }, 60_000);

  it("pause, acknowledge, resume and guard reset reach the running daemon; changes need the token", async () => {
    const s = await setup();
    await waitUntil(async () => (await s.get("/api/targets")).body.targets[0]?.up === true, 10_000, "the target to be up");
    expect((await s.post("/api/pause", { target: "api", for: "10m", reason: "deploying 2.4" }, null)).status).toBe(401);
    // A viewer may look, not pause; who paused comes from the token, not from what the body claims.
    const refused = await s.post("/api/pause", { target: "api", for: "10m", reason: "deploying 2.4" }, VIEWER);
    expect([refused.status, refused.body.error]).toEqual([403, "victor is a viewer: this needs the operator role"]);
    expect((await s.get("/api/whoami", VIEWER)).body).toEqual({ name: "victor", role: "viewer" });
    const paused = await s.post("/api/pause", { target: "api", for: "10m", reason: "deploying 2.4", by: "mallory" });
    expect(paused.status).toBe(201);
    expect(paused.body).toMatchObject({ target: "api", reason: "deploying 2.4", by: "alice" });
    // The CLI reads what the API wrote: one controls file, one format.
    expect((await medic(["pauses", "--config", s.config])).stdout).toMatch(new RegExp(`^${paused.body.id}\\s+api\\s`, "m"));

    process.kill(s.pid, "SIGKILL");
    const held = await waitUntil(
      async () => (await s.get("/api/incidents?state=held")).body.incidents[0],
      20_000,
      "the incident to be held by the pause",
    );
    expect(held.hold).toMatchObject({ by: "maintenance", reason: expect.stringContaining(`pause ${paused.body.id}`) });
    expect((await s.post(`/api/incidents/${held.id}/ack`, { note: "mine" }, VIEWER)).status).toBe(403);
    const acked = await s.post(`/api/incidents/${held.id}/ack`, { by: "mallory", note: "deploy in progress" });
    expect(acked.status).toBe(200);
    expect(acked.body.acknowledged).toMatchObject({ by: "alice", note: "deploy in progress" });
    expect(journal(s.state).find((r) => r.type === "acknowledged")).toMatchObject({ incident: held.id, by: "alice" });
    expect(journal(s.state).some((r) => r.type === "playbook_started")).toBe(false);

    const resumed = await s.post("/api/resume", { target: "api" });
    expect(resumed.status).toBe(200);
    expect(resumed.body.resumed.map((p: { id: string }) => p.id)).toEqual([paused.body.id]);
    const none = await s.post("/api/resume", { target: "api" });
    expect([none.status, none.body.error, none.body.hint]).toEqual([404, "no active pause on api", "GET /api/pauses lists them"]);
    // Resumed: the daemon runs the playbook within its safety tick and verifies.
    await waitUntil(
      () => journal(s.state).find((r) => r.type === "resolved" && r.incident === held.id),
      30_000,
      "the held incident to resolve after resume",
    );
    expect(journal(s.state).filter((r) => r.type === "playbook_started" && r.incident === held.id)).toHaveLength(1);

    const reset = await s.post("/api/guard/reset", { target: "api" });
    expect(reset.status).toBe(200);
    const controls = JSON.parse(readFileSync(join(s.state, "controls.json"), "utf8")) as Controls;
    expect(controls.guardResets.api).toBe(Date.parse(reset.body.resetAt));
    const unknown = await s.post("/api/guard/reset", { target: "nope" });
    expect([unknown.status, unknown.body.error, unknown.body.hint]).toEqual([404, 'unknown target "nope"', "one of api"]);
    await waitUntil(() => s.daemon.stdout().includes("flap guard reset by an operator"), 5_000, "the daemon to notice the reset");

    const badPause = await s.post("/api/pause", { target: "api", for: "30d", reason: "x" });
    expect([badPause.status, badPause.body.error]).toEqual([400, '"for" must be a duration above 0 and at most 7d (got "30d")']);
    s.daemon.child.kill("SIGTERM");
    expect(await s.daemon.exited).toBe(0);
  }, 90_000);

  it("a web page cannot read it through DNS rebinding, and reads need the token like changes do", async () => {
    const s = await setup();
    // A page at evil.example whose name now resolves to 127.0.0.1: the browser still sends its own name.
    const rebound = await getWithHost(`${s.url}/api/incidents`, "evil.example", TOKEN);
    expect([rebound.status, rebound.body.error]).toEqual([421, 'medic does not answer to the host "evil.example"']);
    expect((await s.get("/api/incidents", null)).status).toBe(401);
    expect((await s.get("/api/incidents")).status).toBe(200);
    expect((await s.get("/healthz", null)).status).toBe(200);
    s.daemon.child.kill("SIGTERM");
    expect(await s.daemon.exited).toBe(0);
  }, 30_000);

  it("a local flood of 600 slow-header connections neither stops /healthz answering nor outlives the header timeout", async () => {
    const s = await setup();
    const { port } = new URL(s.url);
    // Each sends half a request line and holds: the server waits for the rest of its headers.
    const flood: Socket[] = [];
    let closed = 0;
    await Promise.all(
      Array.from(
        { length: 600 },
        () =>
          new Promise<void>((resolve) => {
            const socket = connect(Number(port), "127.0.0.1", () => {
              socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
              resolve();
            });
            // Read what the server says (its 408), so that its close reaches this side.
            socket
              .resume()
              .on("error", () => resolve())
              .on("close", () => closed++);
            flood.push(socket);
          }),
      ),
    );
    onCleanup(() => flood.forEach((f) => f.destroy()));
    const holding = () => flood.length - closed;
    expect(holding()).toBeGreaterThan(400);
    // A health check every 100 ms, as a container engine or watchdog would, each on a fresh connection.
    const checks: number[] = [];
    for (let i = 0; i < 20; i++) {
      checks.push(await healthz(s.url));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(checks).toEqual(Array(20).fill(200));
    expect(holding()).toBeGreaterThan(400); // the flood was there all along
    // Whatever is left of it is closed once its headers are 5 s late.
    await waitUntil(() => holding() === 0, 20_000, "the slow connections to be closed");
    s.daemon.child.kill("SIGTERM");
    expect(await s.daemon.exited).toBe(0);
  }, 60_000);

  it("refuses to start on a public address without a token, and says so", async () => {
    const dir = tempDir("medic-api-");
    const config = join(dir, "medic.yaml");
    writeFileSync(config, serviceConfig(dir, await freePort()));
    const r = await medic(["run", "--config", config, "--api-listen", "0.0.0.0:0"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("the API would listen on 0.0.0.0:0, beyond this machine, without a token");
    expect(r.stdout).toContain("set api.tokenFile");
    const off = startMedic(["run", "--config", config, "--api-listen", "off"]);
    await waitUntil(() => off.stdout().includes("medic started"), 10_000, "medic to start");
    expect(off.stdout()).not.toContain("api listening");
    off.child.kill("SIGTERM");
    expect(await off.exited).toBe(0);
  }, 30_000);
});
