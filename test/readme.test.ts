import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/load.js";
import { channelKinds } from "../src/escalation/registry.js";
import { loadPlaybooks } from "../src/playbooks/load.js";
import { planRemediation } from "../src/playbooks/plan.js";
import { cleanup, ROOT, SHIPPED_PLAYBOOKS, tempDir } from "./harness.js";

afterEach(cleanup);

/** The README's config and playbook examples must load: the README stays true. */
describe("README examples", () => {
  it("the config and playbook examples validate", async () => {
    const blocks = [...readFileSync(join(ROOT, "README.md"), "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    const dir = tempDir();
    const config = blocks.find((b) => b.includes("targets:"))!;
    const escalation = blocks.find((b) => b.startsWith("notify:"))!;
    const playbook = blocks.find((b) => b.includes("steps:"))!;
    const safety = blocks.find((b) => b.startsWith("safety:"))!;
    const alertRoutes = blocks.find((b) => b.includes("alertmanager:\n  routes:"))!;
    mkdirSync(join(dir, "playbooks"));
    writeFileSync(join(dir, "medic.yaml"), `${config}\n${escalation}\n${safety}\n${alertRoutes}`);
    writeFileSync(join(dir, "playbooks", "example.yaml"), playbook);
    const result = await loadConfig(join(dir, "medic.yaml"), {
      env: {
        ORDERS_DB_PASSWORD: "readme-example",
        SLACK_WEBHOOK_URL: "https://hooks.slack.com/services/T0/B0/readme",
        PAGERDUTY_ROUTING_KEY: "0123456789abcdef0123456789abcdef",
      },
    });
    expect(result.ok ? [] : result.issues).toEqual([]);
    if (!result.ok) return;
    expect(result.config.targets.map((t) => t.name)).toEqual(["orders-api", "orders-db-port", "worker", "orders-db", "cache"]);
    expect(result.config.playbooks.map((p) => p.name)).toEqual(["restart-orders-api"]);
    expect(result.config.notify.channels.map((c) => c.kind)).toEqual(["slack", "pagerduty", "console"]);
    expect(result.config.escalation.policy.P2.map((s) => [s.afterMs, s.notify])).toEqual([
      [0, ["slack"]],
      [1_800_000, ["pagerduty"]],
    ]);
    expect(result.config.escalation.raiseOnFailure).toEqual({ P2: "P1" });
    expect(result.config.safety.flapGuard).toEqual({
      maxRuns: 3,
      windowMs: 3_600_000,
      backoff: { initialMs: 10_000, maxMs: 300_000 },
      resetAfterMs: 600_000,
    });
    expect(result.config.safety.blastRadius).toEqual({ concurrent: 2, maxRuns: 10, windowMs: 600_000 });
    expect(result.config.alertmanager?.routes.map((r) => [r.target ?? r.targetLabel, r.kind, r.severity])).toEqual([
      ["orders-api", "server_down", undefined],
      ["service", "server_down", "P1"],
    ]);
    expect(result.config.api).toEqual({
      listen: { host: "127.0.0.1", port: 9464 },
      tokens: [{ name: "admin", tokenFile: join(dir, "api-token"), role: "approver" }],
    });
    expect(result.config.maintenance).toEqual([
      {
        name: "nightly-backup",
        cron: "0 2 * * *",
        durationMs: 1_800_000,
        timezone: "Europe/Berlin",
        targets: ["orders-*"],
        reason: "pg_dump runs",
      },
    ]);

    // The example database is one the shipped start-database playbook can act on: it has a service to start.
    const shipped = await loadPlaybooks([SHIPPED_PLAYBOOKS], { baseDir: ROOT });
    const db = result.config.targets.find((t) => t.name === "orders-db")!;
    const plan = planRemediation({
      incident: { id: "i", kind: "db_disconnect", severity: "P1", target: db.name, evidence: "down" },
      target: db,
      playbooks: shipped.playbooks,
    });
    expect(plan.action === "run" && [plan.playbook.name, plan.steps.map((s) => s.description)]).toEqual([
      "start-database",
      ["start systemd unit postgresql@15-main.service"],
    ]);
  });

  it("the commented store: and cluster: lines of the config validate once uncommented", async () => {
    const blocks = [...readFileSync(join(ROOT, "README.md"), "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const config = blocks.find((b) => b.includes("targets:"))!;
    const uncommented = config.replace(/^# (store:| {2}postgres:|cluster:)/gm, "$1");
    expect(uncommented.match(/^(store|cluster):/gm)).toEqual(["store:", "cluster:"]);
    const dir = tempDir();
    mkdirSync(join(dir, "playbooks"));
    writeFileSync(join(dir, "medic.yaml"), uncommented);
    const env = { ORDERS_DB_PASSWORD: "readme-example", HOSTNAME: "node-1" };
    const elsewhere = await loadConfig(join(dir, "medic.yaml"), {
      env: { ...env, MEDIC_STORE_URL: "postgres://medic:pw-store@db.internal/medic" },
    });
    if (!elsewhere.ok) throw new Error(JSON.stringify(elsewhere.issues));
    // What the comment says: on several hosts, a target with a process or systemd service names its node.
    expect(elsewhere.warnings.map((w) => w.message)).toEqual([
      'target "orders-api" has a process service but names no node',
      'target "orders-db" has a systemd service but names no node',
    ]);
    expect([elsewhere.config.store, elsewhere.config.cluster]).toEqual([
      { postgres: { url: "postgres://medic:pw-store@db.internal/medic", statementTimeoutMs: 5000 } },
      { name: "prod", node: "node-1", leaseTtlMs: 10_000 },
    ]);
    // The store on the server the example's orders-db is on: what the comment says validate warns about.
    const healed = await loadConfig(join(dir, "medic.yaml"), {
      env: { ...env, MEDIC_STORE_URL: "postgres://medic:pw-store@127.0.0.1/medic" },
    });
    expect(healed.ok && healed.warnings.filter((w) => w.message.includes(" probes ")).map((w) => w.message.split(" probes")[0])).toEqual([
      'target "orders-db-port"',
      'target "orders-db"',
    ]);
  });

  it("documents every key of notify, each channel's included", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const keys = ["link", "retry", "breaker"];
    for (const [name, kind] of channelKinds) {
      const shape = (kind.schema as unknown as { shape?: Record<string, unknown> }).shape ?? {};
      keys.push(...Object.keys(shape).map((key) => `${name}.${key}`));
    }
    expect(keys).toContain("pagerduty.ca");
    expect(keys.filter((key) => !readme.includes(`| \`${key}\` |`))).toEqual([]);
  });

  // Not medic's config: Alertmanager's own tool checks it.
  it("the Alertmanager receiver example passes amtool check-config", () => {
    const blocks = [...readFileSync(join(ROOT, "README.md"), "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const dir = tempDir();
    writeFileSync(
      join(dir, "alertmanager.yml"),
      blocks.find((b) => b.startsWith("route:"))!,
    );
    writeFileSync(join(dir, "api-token"), "0123456789abcdef0123456789abcdef\n");
    expect(execFileSync("amtool", ["check-config", join(dir, "alertmanager.yml")], { encoding: "utf8" })).toContain("SUCCESS");
  });
});

describe("README capture steps example", () => {
  it("validates as the steps of a playbook", async () => {
    const blocks = [...readFileSync(join(ROOT, "README.md"), "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const steps = blocks.find((b) => b.startsWith("steps:\n  - capture.http:"))!;
    const dir = tempDir();
    writeFileSync(join(dir, "capture.yaml"), `name: capture-then-restart\non: [memory_pressure]\n${steps}`);
    const loaded = await loadPlaybooks([join(dir, "capture.yaml")], { baseDir: dir, env: { ACTUATOR_TOKEN: "readme-token" } });
    expect(loaded.issues).toEqual([]);
    expect(loaded.playbooks[0]!.steps.map((s) => s.kind)).toEqual([
      "capture.http",
      "postgres.snapshot",
      "docker.inspect",
      "service.restart",
    ]);
  });
});
