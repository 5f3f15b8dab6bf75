import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startPagerDutyReceiver } from "./fixtures/pagerduty-receiver.js";
import { startSlackReceiver } from "./fixtures/slack-receiver.js";
import { apiUrl, cleanup, freePort, journal, killOnCleanup, medic, onCleanup, ROOT, startMedic, tempDir, waitUntil } from "./harness.js";
import { readPidFile } from "../src/lib/proc.js";

afterEach(cleanup);

// A service that answers 200 on every path (no crash file in its dir).
const SERVICE = join(ROOT, "test/fixtures/safety-crashy.mjs");

// One distinct secret per field that takes one; some hold characters that URLs, forms and JSON encode.
const SECRETS = {
  SVC_ARG: "svcArgSecret-1f3a9c",
  SVC_ENV: "svcEnvSecret-77b2d0",
  PROBE_PW: "probe pw^odd|chars-7",
  PROBE_Q: "probeQuerySecret 9e1",
  PROBE_HDR: "probeHeaderSecret-4c8e",
  STEP_PATH: "stepPath Secret-55",
  STEP_Q: "stepQuery&Secret=61",
  STEP_HDR: "stepHeaderSecret-0d9f",
  STEP_BODY: 'stepBody"Secret\\a1',
  EXEC_ARG: "execArgSecret-3b7e",
  EXEC_ENV: "execEnvSecret-c04f",
  PG_PW: "pgUrlSecret-8a2d",
  PG_PROBE_PW: "pgProbeSecret-19fe",
  PD_KEY: "f00dfeedcafe4bad8badc0de12345678",
  LABEL: "labelSecret 2c6b",
};

/** Every form a secret could take in output: as written, percent-encoded, escaped for JSON. */
function forms(secret: string): string[] {
  const url = new URL("http://h/");
  url.password = secret;
  url.searchParams.set("q", secret);
  return [
    ...new Set([
      secret,
      encodeURIComponent(secret),
      encodeURI(secret),
      url.password,
      url.search.slice(3),
      new URL(`http://h/${secret}`).pathname.slice(1),
      JSON.stringify(secret).slice(1, -1),
    ]),
  ];
}

function expectNoSecret(text: string, where: string, secrets: Record<string, string>): void {
  for (const [name, secret] of Object.entries(secrets)) {
    for (const form of forms(secret)) {
      if (text.includes(form))
        throw new Error(
          `${where} holds ${name} (as ${JSON.stringify(form)}): …${text.slice(Math.max(0, text.indexOf(form) - 120), text.indexOf(form) + form.length + 40)}…`,
        );
    }
  }
}

/** Every file under a directory, as text. */
function filesUnder(dir: string): { file: string; text: string }[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((file) => statSync(file).isFile())
    .map((file) => ({ file, text: readFileSync(file, "utf8") }));
}

describe("secrets never leave medic", () => {
  it("no secret from any field reaches plan, the log, the journal, the API, the CLI, the postmortem, Slack or PagerDuty", async () => {
    const slack = await startSlackReceiver();
    const pd = await startPagerDutyReceiver();
    onCleanup(() => slack.close());
    onCleanup(() => pd.close());
    const admin: string[] = [];
    const adminServer = createServer((req, res) => {
      admin.push(req.url ?? "");
      req.resume().on("end", () => res.writeHead(200).end("reset"));
    });
    await new Promise<void>((ok) => adminServer.listen(0, "127.0.0.1", ok));
    onCleanup(() => new Promise<void>((ok) => adminServer.close(() => ok())));
    const adminPort = (adminServer.address() as { port: number }).port;
    const closedPort = await freePort();
    const port = await freePort();

    const dir = tempDir();
    mkdirSync(join(dir, "playbooks"));
    const pidFile = join(dir, "api.pid");
    killOnCleanup(pidFile);
    // The exec step's program echoes its arguments and environment on its last line, then fails.
    const echo = "console.log(process.argv.slice(1).join(' ') + ' env=' + process.env.EXEC_ENV_VAR); process.exit(3)";
    writeFileSync(
      join(dir, "playbooks/fix.yaml"),
      `name: fix-api
on: [server_down]
targets: [api]
steps:
  - http:
      method: POST
      url: "http://127.0.0.1:${adminPort}/admin/\${STEP_PATH}/reset?k=\${STEP_Q}"
      headers: { Authorization: "Bearer \${STEP_HDR}", X-Team: "{{ target.labels.team_token }}" }
      body: { token: "\${STEP_BODY}", target: "{{ target.name }}" }
  - service.restart: {}
  - exec:
      argv: [${JSON.stringify(process.execPath)}, "-e", ${JSON.stringify(echo)}, "--", "--password=\${EXEC_ARG}", "postgres://medic:\${PG_PW}@127.0.0.1:5432/orders", "--team={{ target.labels.team_token }}"]
      env: { EXEC_ENV_VAR: "\${EXEC_ENV}" }
verify: { within: 3s }
`,
    );
    const file = join(dir, "medic.yaml");
    writeFileSync(
      file,
      `stateDir: ./state
playbooks: [./playbooks]
defaults: { interval: 150ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
notify:
  slack: { webhookUrl: "\${SLACK_URL}", timeout: 2s }
  pagerduty: { routingKey: "\${PD_KEY}", server: "${pd.server}", ca: ${JSON.stringify(pd.caFile)}, timeout: 2s }
  retry: { initial: 100ms, max: 500ms, attempts: 100 }
targets:
  - name: api
    labels: { team_token: "\${LABEL}" }
    probe:
      http:
        url: "http://probe:\${PROBE_PW}@127.0.0.1:${port}/health?key=\${PROBE_Q}"
        headers: { X-Probe-Token: "\${PROBE_HDR}" }
    service:
      process:
        start: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SERVICE)}, "${port}", ${JSON.stringify(dir)}, "--token=\${SVC_ARG}"]
        env: { SERVICE_KEY: "\${SVC_ENV}" }
        pidFile: api.pid
        stopTimeout: 2s
        startupGrace: 200ms
  - name: db
    probe: { postgres: { url: "postgres://medic:\${PG_PROBE_PW}@127.0.0.1:${closedPort}/orders" } }
`,
    );
    const env = { ...SECRETS, SLACK_URL: slack.url };
    const secrets = { ...SECRETS, SLACK_URL: slack.url, SLACK_PATH: new URL(slack.url).pathname };
    const printed: { where: string; text: string }[] = [];
    const cli = async (...args: string[]) => {
      const r = await medic([...args, "--config", file], env);
      printed.push({ where: `medic ${args.join(" ")}`, text: r.stdout + r.stderr });
      return r;
    };

    // What medic would do, before it does anything.
    const plan = await cli("plan", "--target", "api", "--incident", "server_down");
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain("[secret]");
    await cli("plan", "--target", "db", "--incident", "db_disconnect");

    // The real thing: the service is down, the playbook calls the admin API, restarts it, then its exec step fails.
    const daemon = startMedic(["run", "--config", file], env);
    const base = await apiUrl(daemon);
    const incident = await waitUntil(
      () => journal(join(dir, "state")).find((r) => r.type === "opened" && r.target === "api")?.incident,
      20_000,
      "an incident on api",
    );
    await waitUntil(
      () => journal(join(dir, "state")).some((r) => r.incident === incident && r.type === "escalated"),
      20_000,
      "the failed fix to escalate",
    );
    await waitUntil(
      () => journal(join(dir, "state")).some((r) => r.incident === incident && r.type === "resolved"),
      20_000,
      "the restarted service to resolve it",
    );
    await waitUntil(
      () => pd.events.some((e) => e.body.event_action === "resolve" && e.body.dedup_key === incident && e.status === 202),
      20_000,
      "PagerDuty's resolve",
    );
    await waitUntil(() => slack.posted().length >= 2, 20_000, "Slack's messages");
    expect(admin.length).toBeGreaterThan(0); // the http step reached its endpoint, secret and all
    // The exec step's program got its secrets and said them back; the journal holds its words redacted.
    const said = journal(join(dir, "state")).find((r) => r.type === "step_finished" && r.index === 2);
    expect(said).toMatchObject({
      outcome: "failed",
      detail: expect.stringMatching(
        /^exit 3 in .*: --password=\[secret\] postgres:\/\/medic:\[secret\]@127\.0\.0\.1:5432\/orders --team=\[secret\] env=\[secret\]$/,
      ),
    });

    for (const path of [
      "/api/incidents",
      `/api/incidents/${incident}`,
      "/api/targets",
      "/metrics",
      "/healthz",
      "/api/incidents?state=unresolved",
      `/api/incidents/${incident}/postmortem`,
      "/api/status",
    ]) {
      const text = await fetch(base + path).then((r) => r.text());
      printed.push({ where: `GET ${path}`, text });
    }
    printed.push({ where: "GET /api/events", text: await liveEvents(base, 2_500) });
    expect(printed.at(-1)!.text).toContain("event: snapshot");
    expect(printed.find((p) => p.where === `GET /api/incidents/${incident}`)!.text).toContain("[secret]"); // its steps, as the API shows them
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    printed.push({ where: "medic run", text: daemon.stdout() + daemon.stderr() });

    for (const args of [
      ["incidents"],
      ["incidents", "--json"],
      ["incidents", "show", incident],
      ["incidents", "show", incident, "--json"],
      ["incidents", "show", incident, "--format", "markdown"],
      ["check", "--json"],
      ["check"],
      ["validate"],
      ["pauses"],
    ])
      await cli(...args);
    expect(printed.find((p) => p.where.endsWith("--format markdown"))!.text).toContain("[secret]");

    // A dry run plans against the real journal and says what it would run, secrets and all.
    const pid = await readPidFile(pidFile);
    if (pid) process.kill(-pid, "SIGKILL");
    const dry = startMedic(["run", "--dry-run", "--config", file], env);
    await waitUntil(() => dry.stdout().includes("dry run: would run playbook"), 20_000, "the dry run's plan");
    dry.child.kill("SIGTERM");
    await dry.exited;
    printed.push({ where: "medic run --dry-run", text: dry.stdout() + dry.stderr() });

    for (const { where, text } of printed) expectNoSecret(text, where, secrets);
    for (const { file: f, text } of filesUnder(join(dir, "state"))) expectNoSecret(text, f, secrets);
    for (const m of slack.messages) expectNoSecret(JSON.stringify(m.body), "a Slack message", secrets);
    // PagerDuty must get its routing key, in its field; nowhere else.
    for (const e of pd.events) {
      const { routing_key: key, ...rest } = e.body;
      expect(key).toBe(SECRETS.PD_KEY);
      expectNoSecret(JSON.stringify(rest), "a PagerDuty event", secrets);
    }
  }, 120_000);
});

/** What the console's live stream sends in its first `ms` milliseconds. */
async function liveEvents(base: string, ms: number): Promise<string> {
  const stop = new AbortController();
  const res = await fetch(`${base}/api/events`, { signal: stop.signal });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  setTimeout(() => stop.abort(), ms);
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
  } catch {
    // Aborted: the stream was read for long enough.
  }
  return text;
}
