import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, journal, medic, onCleanup, SHIPPED_PLAYBOOKS, startMedic, tempDir, waitUntil } from "./harness.js";
import { startCluster, startStandby, type Cluster } from "./pg-cluster.js";
import { startPgProxy } from "./fixtures/pg-proxy.js";

afterEach(cleanup);

async function cluster(): Promise<Cluster> {
  const c = await startCluster();
  onCleanup(() => c.destroy());
  return c;
}

function write(dir: string, name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

interface Round {
  time: number;
  target: string;
  ok: boolean;
  latencyMs: number;
}
const rounds = (stdout: string): Round[] =>
  stdout
    .split("\n")
    .filter((l) => l.includes('"probe round"'))
    .map((l) => JSON.parse(l) as Round);

describe("PostgreSQL scenarios: network, privileges, replicas", () => {
  it("6. a stalled or dropped network: the probe times out within its timeout, is classified, and nothing hangs", async () => {
    const dir = tempDir();
    const c = await cluster();
    const proxy = await startPgProxy(c.port);
    onCleanup(() => proxy.close());
    const url = c.url().replace(`:${c.port}/`, `:${proxy.port}/`);
    const file = write(
      dir,
      "medic.yaml",
      `stateDir: ./state
playbooks: []
defaults: { interval: 300ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
targets:
  - { name: db, probe: { postgres: { url: "\${DB_URL}" } } }
`,
    );
    const daemon = startMedic(["run", "--config", file], { DB_URL: url, MEDIC_LOG_LEVEL: "debug" });
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    await new Promise((r) => setTimeout(r, 800));
    const state = join(dir, "state");

    proxy.stall();
    const stalledAt = Date.now();
    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened"), 15_000, "the partition incident");
    expect(opened).toMatchObject({ kind: "db_disconnect", evidence: expect.stringMatching(/did not answer in time \(ETIMEDOUT\)/) });
    const failed = rounds(daemon.stdout()).filter((r) => r.time >= stalledAt && !r.ok);
    expect(failed.length).toBeGreaterThanOrEqual(2);
    for (const r of failed) expect(r.latencyMs).toBeLessThan(1000 + 750);

    proxy.heal();
    await waitUntil(
      () => journal(state).find((r) => r.type === "resolved" && r.incident === opened.incident),
      15_000,
      "recovery after heal",
    );

    proxy.drop();
    const second = await waitUntil(
      () => journal(state).find((r) => r.type === "opened" && r.incident !== opened.incident),
      15_000,
      "the drop incident",
    );
    expect(second).toMatchObject({ kind: "db_disconnect" });
    proxy.stall();
    const stopAt = Date.now();
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(10_000);
  }, 60_000);

  it("7. least privilege: a pg_monitor role sees the counts; a plain role is reported as partial visibility, not zeros", async () => {
    const dir = tempDir();
    const c = await cluster();
    await c.sql("CREATE ROLE monitor LOGIN PASSWORD 'm-pw'; GRANT pg_monitor TO monitor; CREATE ROLE plain LOGIN PASSWORD 'p-pw'");
    const sessions = await Promise.all([c.client(), c.client(), c.client()]);
    expect(sessions).toHaveLength(3);
    const file = write(
      dir,
      "medic.yaml",
      `stateDir: ./state
targets:
  - { name: as-monitor, probe: { postgres: { url: "${c.url("monitor", "m-pw")}" } } }
  - { name: as-plain, probe: { postgres: { url: "${c.url("plain", "p-pw")}" } } }
`,
    );
    const r = await medic(["check", "--json", "--config", file]);
    expect(r.code).toBe(0);
    type Row = {
      target: string;
      healthy: boolean;
      facts: { postgres: { visibility: string; states?: { idle: number }; connections: { used: number } } };
    };
    const rows = Object.fromEntries((JSON.parse(r.stdout) as Row[]).map((row) => [row.target, row.facts.postgres]));
    expect(rows["as-monitor"]).toMatchObject({ visibility: "full", states: { idle: expect.any(Number) } });
    expect(rows["as-monitor"]!.states!.idle).toBeGreaterThanOrEqual(3);
    expect(rows["as-plain"]!.visibility).toBe("partial");
    expect(rows["as-plain"]!.states).toBeUndefined();
    expect(rows["as-plain"]!.connections.used).toBeGreaterThanOrEqual(3);
    expect(r.stdout).not.toContain("p-pw");
  }, 60_000);

  it("8. replica: primary down and standby in recovery are reported; promote-standby is shown in dry-run, then promotes for real", async () => {
    const dir = tempDir();
    const primary = await cluster();
    const standby = await startStandby(primary);
    onCleanup(() => standby.destroy());
    const pbDir = join(dir, "playbooks");
    mkdirSync(pbDir);
    write(
      pbDir,
      "promote-standby.yaml",
      readFileSync(join(SHIPPED_PLAYBOOKS, "promote-standby.yaml"), "utf8").replace("within: 30s", "within: 2s"),
    );
    write(pbDir, "database-down.yaml", readFileSync(join(SHIPPED_PLAYBOOKS, "database-down.yaml"), "utf8"));
    const file = write(
      dir,
      "medic.yaml",
      `stateDir: ./state
playbooks: [./playbooks]
defaults: { interval: 300ms, timeout: 2s, failureThreshold: 2, successThreshold: 2 }
targets:
  - name: db-primary
    labels: { role: database, failover: promote, standby_data_dir: ${JSON.stringify(standby.dataDir)} }
    probe: { postgres: { url: "${primary.url()}" } }
  - name: db-standby
    probe: { postgres: { url: "${standby.url()}" } }
`,
    );
    const inRecovery = async () => (await standby.sql<{ r: boolean }>("select pg_is_in_recovery() as r"))[0]!.r;
    await primary.stop("fast");

    const check = await medic(["check", "--json", "--config", file]);
    expect(check.code).toBe(1);
    type Row = { target: string; kind: string | null; error: { code: string } | null; facts: { postgres?: { inRecovery: boolean } } };
    const rows = Object.fromEntries((JSON.parse(check.stdout) as Row[]).map((row) => [row.target, row]));
    expect(rows["db-primary"]).toMatchObject({ kind: "db_disconnect", error: { code: "ECONNREFUSED" } });
    expect(rows["db-standby"]).toMatchObject({ kind: null, facts: { postgres: { inRecovery: true } } });

    const dry = startMedic(["run", "--dry-run", "--config", file]);
    await waitUntil(() => dry.stdout().includes("dry run: would run playbook"), 15_000, "the dry-run plan");
    expect(dry.stdout()).toMatch(/promote-standby[\s\S]*pg_ctl[\s\S]*promote/);
    dry.child.kill("SIGTERM");
    expect(await dry.exited).toBe(0);
    expect(await inRecovery()).toBe(true);
    expect(journal(join(dir, "state"))).toEqual([]);

    const daemon = startMedic(["run", "--config", file]);
    const state = join(dir, "state");
    const escalated = await waitUntil(() => journal(state).find((r) => r.type === "escalated"), 40_000, "the failover to finish");
    const records = journal(state).filter((r) => r.incident === escalated.incident);
    expect(records[0]).toMatchObject({ target: "db-primary", kind: "db_disconnect" });
    expect(records.find((r) => r.type === "playbook_started")).toMatchObject({ playbook: "promote-standby" });
    expect(records.find((r) => r.type === "step_finished")).toMatchObject({ outcome: "ok" });
    expect(escalated.reason).toMatch(/verification: not recovered/);
    expect(await inRecovery()).toBe(false);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);
});
