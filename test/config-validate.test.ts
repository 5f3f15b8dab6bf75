import { DEFAULT_POLICY } from "../src/escalation/policy.js";
import { probeKinds } from "../src/probes/registry.js";
import { BUILTIN_KINDS } from "../src/classify/types.js";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { formatIssue } from "../src/config/issues.js";
import { loadConfig } from "../src/config/load.js";
import { positionIn, removeTrees, writeTree } from "./fixtures/config-tmp.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const SHIPPED_PLAYBOOKS = fileURLToPath(new URL("../playbooks/", import.meta.url));

afterAll(removeTrees);

/** Where `token` starts, found after `context` so a common word cannot match elsewhere. */
function at(text: string, context: string, token: string): { line: number; col: number } {
  const p = positionIn(text, context + token);
  const lines = context.split("\n");
  return lines.length > 1
    ? { line: p.line + lines.length - 1, col: lines.at(-1)!.length + 1 }
    : { line: p.line, col: p.col + context.length };
}

describe("medic validate on a config with many mistakes", async () => {
  const dir = join(FIXTURES, "config-bad");
  const config = await readFile(join(dir, "medic.yaml"), "utf8");
  const playbook = await readFile(join(dir, "playbooks/restart.yaml"), "utf8");
  // MEDIC_TEST_UNSET_TOKEN must be unset, whatever the caller's environment holds.
  const result = await loadConfig(join(dir, "medic.yaml"), { env: {} });

  it("reports every problem of the config and its playbooks in one run, at the offending token", () => {
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const cfg = join(dir, "medic.yaml");
    const pb = join(dir, "playbooks/restart.yaml");
    expect(
      result.issues.map((i) => ({ file: i.file, line: i.line, col: i.col, path: i.path, message: i.message, level: i.level })),
    ).toEqual(
      [
        { file: cfg, ...at(config, "timeout: ", "ten"), path: "defaults.timeout", message: 'not a duration (got "ten")' },
        {
          file: cfg,
          ...at(config, "url: ", "localhost:8000/health"),
          path: "targets[0].probe.http.url",
          message: 'must be an http(s) URL (got "localhost:8000/health")',
        },
        {
          file: cfg,
          ...positionIn(config, "${MEDIC_TEST_UNSET_TOKEN}"),
          path: "targets[0].probe.http.headers.Authorization",
          message: "environment variable MEDIC_TEST_UNSET_TOKEN is not set",
        },
        { file: cfg, ...positionIn(config, "intervl"), path: "targets[0].intervl", message: 'unknown key "intervl"' },
        { file: cfg, ...positionIn(config, "htp"), path: "targets[1].probe.htp", message: 'unknown probe kind "htp"' },
        { file: cfg, ...positionIn(config, "=! 200"), path: "rules[0].when", message: "= is not an operator" },
        { file: pb, ...positionIn(playbook, "queue_backlogg"), path: "on[1]", message: 'unknown incident kind "queue_backlogg"' },
        {
          file: pb,
          ...positionIn(playbook, "service.restat"),
          path: "steps[0].service.restat",
          message: 'unknown step kind "service.restat"',
        },
        {
          file: pb,
          ...positionIn(playbook, "{{ target.nmae }}"),
          path: "steps[1].exec.argv[1]",
          message: 'unknown template variable "target.nmae"',
        },
      ].map((i) => ({ ...i, level: "error" })),
    );
  });

  it("gives each problem a hint that says what to do", () => {
    if (result.ok) throw new Error("expected issues");
    expect(result.issues.every((i) => i.hint)).toBe(true);
    const byPath = (path: string) => result.issues.find((i) => i.path === path)!.hint;
    expect(byPath("targets[0].intervl")).toBe('did you mean "interval"?');
    expect(byPath("targets[1].probe.htp")).toBe(`one of ${[...probeKinds.keys()].join(", ")}`);
    expect(byPath("on[1]")).toMatch(/^did you mean "queue_backlog"\? known kinds: server_down, .*, queue_backlog;/);
  });

  it("prints file:line:col path: message (got ...; hint: ...)", () => {
    if (result.ok) throw new Error("expected issues");
    const url = result.issues.find((i) => i.path === "targets[0].probe.http.url")!;
    const { line, col } = at(config, "url: ", "localhost:8000/health");
    expect(formatIssue(url)).toBe(
      `${relative(process.cwd(), join(dir, "medic.yaml"))}:${line}:${col} targets[0].probe.http.url: ` +
        'must be an http(s) URL (got "localhost:8000/health"; hint: add http://, like http://127.0.0.1:8000/health)',
    );
  });
});

describe("the store and cluster sections", () => {
  const TARGETS = "targets:\n  - { name: api, probe: { tcp: { port: 8000 } } }\n";
  const STORE = 'store: { postgres: { url: "postgres://medic@db:5432/medic" } }\n';

  async function validate(text: string, env: NodeJS.ProcessEnv = {}) {
    const dir = await writeTree({ "medic.yaml": text + TARGETS });
    const result = await loadConfig(join(dir, "medic.yaml"), { env });
    return { file: join(dir, "medic.yaml"), result, issues: result.ok ? [] : result.issues };
  }

  it("rejects cluster: without store.postgres, at cluster, saying what to add", async () => {
    const text = "cluster: { name: prod }\n";
    const { file, issues } = await validate(text);
    expect(issues).toEqual([
      {
        file,
        ...positionIn(text, "{ name"),
        path: "cluster",
        level: "error",
        message: "a cluster needs a shared store",
        hint: 'add store: { postgres: { url: "${MEDIC_STORE_URL}" } } on every node',
      },
    ]);
  });

  it("rejects a cluster or node name that could not be a safe name, and a leaseTtl outside 2s..5m", async () => {
    for (const [section, path, token, message, hint] of [
      [
        'cluster: { name: "-prod" }',
        "cluster.name",
        '"-prod"',
        'cluster name must be 1-128 of letters, digits and ._@:- and may not start with "-" (got "-prod")',
        "like prod or eu-1, the same on every node",
      ],
      [
        'cluster: { name: "prod eu" }',
        "cluster.name",
        '"prod eu"',
        'cluster name must be 1-128 of letters, digits and ._@:- and may not start with "-" (got "prod eu")',
        "like prod or eu-1, the same on every node",
      ],
      [
        'cluster: { name: prod, node: "a/b" }',
        "cluster.node",
        '"a/b"',
        'node name must be 1-128 of letters, digits and ._@:- and may not start with "-" (got "a/b")',
        'like db-1, or "${HOSTNAME}"; unique in the cluster',
      ],
      ["cluster: { name: prod, leaseTtl: 1s }", "cluster.leaseTtl", "1s", 'must be between 2s and 5m (got "1s")', "10s"],
      ["cluster: { name: prod, leaseTtl: 10m }", "cluster.leaseTtl", "10m", 'must be between 2s and 5m (got "10m")', "10s"],
      [
        "cluster: { name: prod, leaseTtl: soon }",
        "cluster.leaseTtl",
        "soon",
        'not a duration (got "soon")',
        "write it like 500ms, 10s, 5m or 1h",
      ],
    ] as const) {
      const text = `${STORE}${section}\n`;
      const { file, issues } = await validate(text);
      expect(issues, section).toEqual([{ file, ...positionIn(text, token), path, level: "error", message, hint }]);
    }
  });

  it("rejects a store URL that is not postgres://, showing it without its password", async () => {
    const text = 'store: { postgres: { url: "mysql://medic:hunter2-store@db:3306/medic" } }\ncluster: { name: prod }\n';
    const { file, issues } = await validate(text);
    expect(issues).toEqual([
      {
        file,
        ...positionIn(text, '"mysql:'),
        path: "store.postgres.url",
        level: "error",
        message: 'must be a postgres:// URL (got "mysql://medic:[secret]@db:3306/medic")',
        hint: "like postgres://medic:${MEDIC_STORE_PASSWORD}@db:5432/medic",
      },
    ]);
    expect(issues.map(formatIssue).join("\n")).not.toContain("hunter2-store");
  });

  it("loads store.postgres and cluster into the Config, a cluster of one when cluster: is left out", async () => {
    const both = await validate(`${STORE}cluster: { name: prod, node: "\${NODE}", leaseTtl: 30s }\n`, { NODE: "node-1" });
    if (!both.result.ok) throw new Error(both.result.issues.map(formatIssue).join("\n"));
    expect([both.result.config.store, both.result.config.cluster]).toEqual([
      { postgres: { url: "postgres://medic@db:5432/medic", statementTimeoutMs: 5000 } },
      { name: "prod", node: "node-1", leaseTtlMs: 30_000 },
    ]);
    const storeOnly = await validate(STORE);
    if (!storeOnly.result.ok) throw new Error(storeOnly.result.issues.map(formatIssue).join("\n"));
    expect(storeOnly.result.config.cluster).toMatchObject({ name: "medic", leaseTtlMs: 10_000 });
  });
});

describe("a correct config", () => {
  it("loads into the normalised Config: defaults applied, durations in ms, kinds and params", async () => {
    const dir = join(FIXTURES, "config-good");
    const result = await loadConfig(join(dir, "medic.yaml"), { env: {} });
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join("\n"));
    expect(result.warnings).toEqual([]);
    const { rules, notify, escalation, ...config } = result.config;
    // No notify: or escalation: in the fixture: console only, and the runbook's default policy.
    expect(notify.channels).toEqual([{ name: "console", kind: "console", params: {} }]);
    expect(escalation).toEqual({ policy: DEFAULT_POLICY, policies: {}, routes: [], raiseOnFailure: {}, pageGraceMs: 0 });
    expect(rules.map((r) => ({ ...r, when: r.when.map((c) => c.source) }))).toEqual([
      { kind: "queue_backlog", severity: "P3", when: ["[BODY].queue.depth > 1000"], targets: ["orders-*"] },
    ]);
    expect(config).toEqual({
      file: join(dir, "medic.yaml"),
      baseDir: dir,
      defaults: {
        intervalMs: 5000,
        timeoutMs: 3000,
        failureThreshold: 3,
        successThreshold: 2,
        thresholds: { latencyMs: 1500, poolUtilization: 0.9, memoryUtilization: 0.9, idleInTransactionMs: 300_000, queryMs: 300_000 },
      },
      stateDir: join(dir, "state"),
      retentionMs: 90 * 24 * 3600_000,
      artifacts: { maxBytes: 64 * 1024 ** 2, incidentBytes: 256 * 1024 ** 2, totalBytes: 1024 ** 3, retentionMs: 14 * 24 * 3600_000 },
      targets: [
        {
          name: "orders-api",
          labels: { team: "payments" },
          probe: { kind: "http", params: expect.objectContaining({ url: "http://127.0.0.1:8000/health", method: "GET", headers: {} }) },
          service: { kind: "process", params: expect.objectContaining({ start: ["node", "server.js"], pidFile: "./orders.pid" }) },
          intervalMs: 1000,
          timeoutMs: 3000,
          failureThreshold: 3,
          successThreshold: 2,
          thresholds: { latencyMs: 1500, poolUtilization: 0.8, memoryUtilization: 0.9, idleInTransactionMs: 300_000, queryMs: 300_000 },
          dependsOn: ["orders-db"],
        },
        {
          name: "orders-db",
          labels: {},
          probe: { kind: "tcp", params: { host: "127.0.0.1", port: 5432 } },
          service: { kind: "process", params: expect.objectContaining({ start: ["postgres", "-D", "./data"], pidFile: "./pg.pid" }) },
          intervalMs: 5000,
          timeoutMs: 3000,
          failureThreshold: 3,
          successThreshold: 2,
          thresholds: { latencyMs: 1500, poolUtilization: 0.9, memoryUtilization: 0.9, idleInTransactionMs: 300_000, queryMs: 300_000 },
          dependsOn: [],
        },
      ],
      severities: { ...BUILTIN_KINDS, high_latency: "P3", queue_backlog: "P3" },
      playbooks: [
        {
          name: "restart-on-down",
          file: join(dir, "playbooks/restart.yaml"),
          description: "Restart the service when it is down",
          on: ["server_down", "queue_backlog"],
          targets: ["orders-*"],
          labels: {},
          steps: [
            { kind: "service.restart", params: {}, name: "restart the app", timeoutMs: 30_000 },
            { kind: "wait", params: { forMs: 5000 }, timeoutMs: 3_600_000 },
            {
              kind: "exec",
              params: { argv: ["/usr/bin/logger", "medic restarted {{ target.name }}"], expectExit: [0] },
              timeoutMs: 60_000,
            },
          ],
          verify: { withinMs: 45_000 },
          onFailure: "escalate",
        },
      ],
      safety: {
        flapGuard: { maxRuns: 2, windowMs: 3_600_000, backoff: { initialMs: 10_000, maxMs: 300_000 }, resetAfterMs: 600_000 },
        blastRadius: { concurrent: 2, maxRuns: 10, windowMs: 600_000 },
      },
      maintenance: [],
      api: { listen: { host: "127.0.0.1", port: 9464 }, tokens: [] },
      approvals: { timeoutMs: 900_000, severities: {}, rules: [] },
      secrets: [],
    });
  });
});

describe("the shipped example playbooks", async () => {
  const files = (await readdir(SHIPPED_PLAYBOOKS).catch(() => [])).filter((f) => /\.ya?ml$/.test(f));

  it.skipIf(files.length === 0)("all validate, against targets they are written for, without warnings", async () => {
    const dir = await writeTree({
      "medic.yaml": [
        `playbooks: [${JSON.stringify(SHIPPED_PLAYBOOKS)}]`,
        "targets:",
        "  - name: api",
        "    probe: { http: { url: http://127.0.0.1:8000/health } }",
        "    service: { process: { start: [node, server.js], pidFile: ./api.pid } }",
        '    labels: { pool_resize: enabled, pool_admin_url: "http://127.0.0.1:8000", pool_max_size: "40", heapdump: node }',
        "    dependsOn: [db]",
        "  - name: db",
        "    labels: { role: database, failover: promote, standby_data_dir: /srv/standby }",
        '    probe: { postgres: { url: "postgres://medic@127.0.0.1:5432/postgres" } }',
        "    service: { process: { start: [postgres, -D, /srv/data], pidFile: ./db.pid } }",
        "  - name: web",
        "    labels: { runtime: docker }",
        "    probe: { docker: { container: web } }",
        "    service: { docker: { container: web } }",
        "",
      ].join("\n"),
    });
    const result = await loadConfig(join(dir, "medic.yaml"), { env: {} });
    if (!result.ok) throw new Error(result.issues.map(formatIssue).join("\n"));
    expect(result.warnings.map(formatIssue)).toEqual([]);
    expect(result.config.playbooks.map((p) => p.file).sort()).toEqual(files.map((f) => join(SHIPPED_PLAYBOOKS, f)).sort());
  });
});
