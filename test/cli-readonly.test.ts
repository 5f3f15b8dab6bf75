import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, freePort, medic, tempDir } from "./harness.js";

afterEach(cleanup);

// A journal as the daemon writes it: one incident, opened and resolved.
function writeHistory(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true });
  const records = [
    {
      type: "opened",
      target: "api",
      kind: "server_down",
      severity: "P1",
      evidence: "connect ECONNREFUSED",
      at: 1_700_000_000_000,
      incident: "c0ffee01",
    },
    { type: "resolved", reason: "healthy for 2 rounds", at: 1_700_000_060_000, incident: "c0ffee01" },
  ];
  writeFileSync(join(stateDir, "journal.jsonl"), records.map((r) => JSON.stringify(r) + "\n").join(""));
}

/** A config whose notify channels and whose database target use secrets that the test leaves unset. */
function setup(port: number) {
  const dir = tempDir();
  const file = join(dir, "medic.yaml");
  mkdirSync(join(dir, "playbooks"));
  writeFileSync(
    file,
    `stateDir: ./state
playbooks: [./playbooks]
notify:
  slack: { webhookUrl: "\${SLACK_WEBHOOK_URL}" }
  pagerduty: { routingKey: "\${PAGERDUTY_ROUTING_KEY}" }
targets:
  - name: api
    probe: { tcp: { port: ${port} } }
  - name: db
    probe: { postgres: { url: "postgres://medic:\${DB_PASSWORD}@127.0.0.1:${port}/orders" } }
`,
  );
  writeHistory(join(dir, "state"));
  return { dir, file };
}

// No secret in the environment: what an SRE has in a fresh shell on the host.
for (const name of ["SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY", "DB_PASSWORD"]) delete process.env[name];
const run = medic;

describe("read-only commands and secrets they do not use", () => {
  it("history needs only --state-dir: no config is read, even when there is none", async () => {
    const dir = tempDir();
    writeHistory(join(dir, "state"));
    const r = await run(["incidents", "--json", "--state-dir", join(dir, "state"), "--config", join(dir, "missing.yaml")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject([{ id: "c0ffee01", state: "resolved" }]);
  });

  it("incidents, show, pauses, pause, resume and guard reset work with every secret unset", async () => {
    const { file } = setup(await freePort());
    const results = await Promise.all(
      [["incidents"], ["incidents", "show", "c0ffee01"], ["incidents", "show", "c0ffee01", "--format", "markdown"], ["pauses"]].map(
        (args) => run([...args, "--config", file]),
      ),
    );
    for (const r of results) {
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
    expect(results[0]!.stdout).toContain("c0ffee01");
    // The controls commands change the state dir, one after another.
    for (const args of [
      ["pause", "db", "--for", "10m", "--reason", "fixing the password"],
      ["resume", "db"],
      ["guard", "reset", "api"],
    ]) {
      const r = await run([...args, "--config", file]);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
    }
    // An unknown target is still refused: the names are read.
    expect((await run(["pause", "nope", "--for", "1m", "--reason", "x", "--config", file])).stderr).toContain(
      'unknown target "nope" (hint: one of api, db)',
    );
  });

  it("check and plan do not need notification secrets, but do need the secrets of what they probe", async () => {
    const { file } = setup(await freePort());
    const plan = await run(["plan", "--target", "api", "--incident", "server_down", "--config", file], { DB_PASSWORD: "pw-for-the-db" });
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain("target   api");
    const check = await run(["check", "--json", "--config", file], { DB_PASSWORD: "pw-for-the-db" });
    expect(check.code).toBe(1); // nothing listens: unhealthy, not a bad config
    expect(JSON.parse(check.stdout).map((t: { target: string }) => t.target)).toEqual(["api", "db"]);
    const noDb = await run(["check", "--config", file]);
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toMatch(/medic\.yaml:\d+:\d+ targets\[1\]\.probe\.postgres\.url: environment variable DB_PASSWORD is not set/);
    expect(noDb.stderr).not.toMatch(/SLACK_WEBHOOK_URL|PAGERDUTY_ROUTING_KEY/);
  });

  it("run and validate still need every secret; a state dir that uses an unset one stops history", async () => {
    const { dir, file } = setup(await freePort());
    const validate = await run(["validate", "--config", file]);
    expect(validate.code).toBe(2);
    for (const name of ["SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY", "DB_PASSWORD"])
      expect(validate.stderr).toContain(`environment variable ${name} is not set`);
    expect((await run(["run", "--config", file])).code).toBe(2);
    writeFileSync(join(dir, "other.yaml"), "stateDir: ${STATE_DIR_NOT_SET}\ntargets: []\n");
    const history = await run(["incidents", "--config", join(dir, "other.yaml")]);
    expect(history.code).toBe(2);
    expect(history.stderr).toMatch(/other\.yaml:1:11 stateDir: environment variable STATE_DIR_NOT_SET is not set/);
  });
});
