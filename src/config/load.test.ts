import { BUILTIN_KINDS } from "../classify/types.js";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { positionIn, removeTrees, writeTree } from "../../test/fixtures/config-tmp.js";
import { loadConfig, resolveConfigPath, type LoadConfigResult } from "./load.js";

afterEach(removeTrees);

const MINIMAL = "targets:\n  - name: api\n    probe: { tcp: { port: 8000 } }\n";

function config(result: LoadConfigResult) {
  if (!result.ok)
    throw new Error(`expected a valid config, got:\n${result.issues.map((i) => `${i.line}:${i.col} ${i.message}`).join("\n")}`);
  return result.config;
}

function issues(result: LoadConfigResult) {
  if (result.ok) throw new Error("expected issues");
  return result.issues;
}

describe("normalisation", () => {
  it("applies every default to a minimal config", async () => {
    const dir = await writeTree({ "medic.yaml": MINIMAL });
    const c = config(await loadConfig(join(dir, "medic.yaml"), { env: {} }));
    expect(c).toMatchObject({
      file: join(dir, "medic.yaml"),
      baseDir: dir,
      stateDir: "/var/lib/medic",
      retentionMs: 90 * 24 * 3_600_000,
      rules: [],
      playbooks: [],
      secrets: [],
      maintenance: [],
    });
    expect(c.safety).toEqual({
      flapGuard: { maxRuns: 3, windowMs: 3_600_000, backoff: { initialMs: 10_000, maxMs: 300_000 }, resetAfterMs: 600_000 },
      blastRadius: { concurrent: 2, maxRuns: 10, windowMs: 600_000 },
    });
    expect(c.targets).toEqual([
      {
        name: "api",
        labels: {},
        probe: { kind: "tcp", params: { host: "127.0.0.1", port: 8000 } },
        intervalMs: 10_000,
        timeoutMs: 3000,
        failureThreshold: 3,
        successThreshold: 2,
        thresholds: { latencyMs: 2000, poolUtilization: 0.9, memoryUtilization: 0.9, idleInTransactionMs: 300_000, queryMs: 300_000 },
        dependsOn: [],
      },
    ]);
    expect(c.severities).toEqual(BUILTIN_KINDS);
  });

  it("lets targets override defaults, in ms, and merges partial thresholds", async () => {
    const dir = await writeTree({
      "medic.yaml": [
        "stateDir: ./state",
        "defaults: { interval: 1m, timeout: 500ms, failureThreshold: 5, thresholds: { latency: 1.5s, poolUtilization: 0.8 } }",
        "targets:",
        "  - name: api",
        "    labels: { team: payments }",
        "    probe: { http: { url: http://127.0.0.1:8000/health } }",
        "    service: { process: { start: [node, server.js], pidFile: ./api.pid } }",
        "    interval: 1s",
        "    successThreshold: 4",
        "    thresholds: { memoryUtilization: 0.5 }",
        "    dependsOn: [db]",
        "  - name: db",
        "    probe: { tcp: { port: 5432 } }",
        "",
      ].join("\n"),
    });
    const c = config(await loadConfig(join(dir, "medic.yaml"), { env: {} }));
    expect(c.stateDir).toBe(join(dir, "state"));
    const [api, db] = c.targets;
    expect(api).toMatchObject({
      labels: { team: "payments" },
      intervalMs: 1000,
      timeoutMs: 500,
      failureThreshold: 5,
      successThreshold: 4,
      thresholds: { latencyMs: 1500, poolUtilization: 0.8, memoryUtilization: 0.5 },
      dependsOn: ["db"],
      probe: { kind: "http", params: { url: "http://127.0.0.1:8000/health", method: "GET" } },
      service: { kind: "process", params: { start: ["node", "server.js"], pidFile: "./api.pid", stopSignal: "SIGTERM" } },
    });
    expect(db).toMatchObject({ intervalMs: 60_000, successThreshold: 2, thresholds: { latencyMs: 1500, memoryUtilization: 0.9 } });
    expect(db!.service).toBeUndefined();
  });

  it("parses rule conditions and merges severities: built-ins, then rules, then severities:", async () => {
    const dir = await writeTree({
      "medic.yaml":
        MINIMAL +
        [
          "severities: { high_latency: P3, slow_queue: P1 }",
          "rules:",
          "  - { kind: queue_backlog, severity: P3, when: '[BODY].queue.depth > 1000', targets: ['api*'] }",
          "  - kind: slow_queue",
          "    severity: P4",
          "    when: ['[STATUS] == 200', '[RESPONSE_TIME] > 100']",
          "  - { kind: no_severity, when: '[STATUS] == 500' }",
          "",
        ].join("\n"),
    });
    const c = config(await loadConfig(join(dir, "medic.yaml"), { env: {} }));
    expect(c.severities).toMatchObject({ server_down: "P1", high_latency: "P3", queue_backlog: "P3", slow_queue: "P1", no_severity: "P3" });
    expect(c.rules.map((r) => [r.kind, r.severity, r.targets, r.when.map((w) => w.source)])).toEqual([
      ["queue_backlog", "P3", ["api*"], ["[BODY].queue.depth > 1000"]],
      ["slow_queue", "P1", ["*"], ["[STATUS] == 200", "[RESPONSE_TIME] > 100"]],
      ["no_severity", "P3", ["*"], ["[STATUS] == 500"]],
    ]);
  });

  it("uses opts.stateDir over the config's, relative to the working directory", async () => {
    const dir = await writeTree({ "medic.yaml": `stateDir: ./state\n${MINIMAL}` });
    expect(config(await loadConfig(join(dir, "medic.yaml"), { env: {}, stateDir: "rel/state" })).stateDir).toBe(
      join(process.cwd(), "rel/state"),
    );
  });

  it("loads playbooks from listed folders (sorted, *.yaml/*.yml only, not recursive) and files, with defaults", async () => {
    const dir = await writeTree({
      "medic.yaml": `playbooks: [./pb, ./extra/one.yaml]\n${MINIMAL}`,
      "pb/b.yml": "name: b\non: [server_down]\nsteps:\n  - service.restart:\n    timeout: 5s\n",
      "pb/a.yaml": "name: a\non: [high_latency]\nsteps: [{ wait: 5s, name: pause }]\nverify: { within: 1m }\n",
      "pb/notes.txt": "not yaml",
      "pb/nested/c.yaml": "name: c\non: [server_down]\nsteps: [{ wait: 1s }]\n",
      "extra/one.yaml":
        "name: one\ndescription: d\non: [server_down]\ntargets: [api]\nlabels: { team: x }\nsteps: [{ exec: { argv: [echo, hi] } }]\n",
    });
    const result = await loadConfig(join(dir, "medic.yaml"), { env: {} });
    const c = config(result);
    expect(c.playbooks.map((p) => [p.name, p.file])).toEqual([
      ["a", join(dir, "pb/a.yaml")],
      ["b", join(dir, "pb/b.yml")],
      ["one", join(dir, "extra/one.yaml")],
    ]);
    expect(c.playbooks[0]).toMatchObject({
      targets: ["*"],
      labels: {},
      onFailure: "escalate",
      verify: { withinMs: 60_000 },
      steps: [{ kind: "wait", name: "pause", params: { forMs: 5000 }, timeoutMs: 3_600_000 }],
    });
    expect(c.playbooks[1]).toMatchObject({
      verify: { withinMs: 30_000 },
      steps: [{ kind: "service.restart", params: {}, timeoutMs: 5000 }],
    });
    expect(c.playbooks[2]).toMatchObject({
      description: "d",
      targets: ["api"],
      labels: { team: "x" },
      steps: [{ kind: "exec", timeoutMs: 60_000, params: { argv: ["echo", "hi"] } }],
    });
    // Warnings, not errors: the playbook for team x matches no target; api has no service to restart.
    if (result.ok) {
      expect(result.warnings.map((w) => [w.file, w.message])).toEqual([
        [join(dir, "extra/one.yaml"), 'playbook "one" matches no target'],
        [
          join(dir, "pb/b.yml"),
          'step "service.restart" needs a service, but 1 target it matches has none (api); on them this playbook escalates instead',
        ],
      ]);
    }
  });
});

describe("files", () => {
  it("reports a missing config file at 1:1 with a hint", async () => {
    const dir = await writeTree({});
    expect(issues(await loadConfig(join(dir, "medic.yaml")))).toEqual([
      {
        file: join(dir, "medic.yaml"),
        line: 1,
        col: 1,
        path: "",
        level: "error",
        message: "file not found",
        hint: "create it, or name another file with --config PATH or MEDIC_CONFIG",
      },
    ]);
  });

  it("accepts a missing default playbooks folder but not a missing listed path", async () => {
    const ok = await writeTree({ "medic.yaml": MINIMAL });
    expect((await loadConfig(join(ok, "medic.yaml"), { env: {} })).ok).toBe(true);
    const text = `playbooks: [./playbooks, ./gone]\n${MINIMAL}`;
    const bad = await writeTree({ "medic.yaml": text });
    expect(issues(await loadConfig(join(bad, "medic.yaml"), { env: {} }))).toMatchObject([
      { ...positionIn(text, "./playbooks"), path: "playbooks[0]", message: `playbook path ${join(bad, "playbooks")} does not exist` },
      { ...positionIn(text, "./gone"), path: "playbooks[1]" },
    ]);
  });

  it("reports a listed playbook path that is not a YAML file at the listing, and reads nothing from it", async () => {
    const text = `playbooks: [/bin/sh]\n${MINIMAL}`;
    const dir = await writeTree({ "medic.yaml": text });
    expect(issues(await loadConfig(join(dir, "medic.yaml"), { env: {} }))).toEqual([
      {
        file: join(dir, "medic.yaml"),
        ...positionIn(text, "/bin/sh"),
        path: "playbooks[0]",
        level: "error",
        message: "playbook path /bin/sh is not a .yaml or .yml file",
        hint: "list playbook files ending in .yaml or .yml, or a folder of them",
      },
    ]);
    // The default ./playbooks, when it is a file: said at the top of the config, which lists nothing.
    const plain = await writeTree({ "medic.yaml": MINIMAL, playbooks: "name: p\n" });
    expect(issues(await loadConfig(join(plain, "medic.yaml"), { env: {} }))).toMatchObject([
      {
        file: join(plain, "medic.yaml"),
        line: 1,
        col: 1,
        path: "playbooks",
        message: `playbook path ${join(plain, "playbooks")} is not a .yaml or .yml file`,
      },
    ]);
  });

  it("reports problems of the config and of every playbook together, sorted by file then line", async () => {
    const dir = await writeTree({
      "medic.yaml": `${MINIMAL}bogus: 1\n`,
      "playbooks/a.yaml": "name: a\non: [server_down]\nsteps: []\n",
      "playbooks/b.yaml": "name: b\non: [server_down]\n  bad: indent\n",
    });
    const found = issues(await loadConfig(join(dir, "medic.yaml"), { env: {} }));
    expect(found.map((i) => [i.file.slice(dir.length + 1), i.line])).toEqual([
      ["medic.yaml", 4],
      ["playbooks/a.yaml", 3],
      ["playbooks/b.yaml", 3],
    ]);
  });
});

describe("messages", () => {
  it("points at a bad record key and shows the key, and says what an empty file lacks", async () => {
    const text = 'targets:\n  - name: api\n    labels: { "bad key!": x }\n    probe: { tcp: { port: 1 } }\n';
    const dir = await writeTree({ "medic.yaml": text, "empty.yaml": "" });
    expect(issues(await loadConfig(join(dir, "medic.yaml"), { env: {} }))).toMatchObject([
      {
        ...positionIn(text, '"bad key!"'),
        path: 'targets[0].labels["bad key!"]',
        message: 'label keys are letters, digits and _./- (got "bad key!")',
      },
    ]);
    expect(issues(await loadConfig(join(dir, "empty.yaml"), { env: {} }))).toMatchObject([
      { line: 1, col: 1, path: "", message: "expected a mapping, got nothing" },
    ]);
  });

  it("names a missing required key at the mapping that lacks it, and a wrong type with what it got", async () => {
    const text = "targets:\n  - name: api\n    failureThreshold: three\n";
    const dir = await writeTree({ "medic.yaml": text });
    expect(issues(await loadConfig(join(dir, "medic.yaml"), { env: {} }))).toMatchObject([
      {
        ...positionIn(text, "name: api"),
        path: "targets[0].probe",
        message: 'missing required key "probe"',
        hint: expect.stringContaining("probe: { http:"),
      },
      { ...positionIn(text, "three"), path: "targets[0].failureThreshold", message: 'expected a number, got "three"' },
    ]);
  });

  it("reports a key that is a list together with the other problems of the file", async () => {
    const text = "targets:\n  - name: api\n    ? [x, y]\n    : 1\n    failureThreshold: three\n";
    const dir = await writeTree({ "medic.yaml": text });
    expect(issues(await loadConfig(join(dir, "medic.yaml"), { env: {} }))).toMatchObject([
      { ...positionIn(text, "name: api"), path: "targets[0].probe", message: 'missing required key "probe"' },
      { ...positionIn(text, "[x, y]"), path: "targets[0]", message: expect.stringMatching(/^a key must be a word or a quoted string/) },
      { ...positionIn(text, "three"), path: "targets[0].failureThreshold", message: 'expected a number, got "three"' },
    ]);
  });
});

describe("retention", () => {
  it("takes a duration of a day or more, and refuses a shorter one at its line with what to write", async () => {
    const dir = await writeTree({ "medic.yaml": `retention: 14d\n${MINIMAL}`, "short.yaml": `retention: 90\n${MINIMAL}` });
    expect(config(await loadConfig(join(dir, "medic.yaml"), { env: {} })).retentionMs).toBe(14 * 24 * 3_600_000);
    const text = `retention: 90\n${MINIMAL}`;
    expect(issues(await loadConfig(join(dir, "short.yaml"), { env: {} }))).toMatchObject([
      {
        ...positionIn(text, "90"),
        path: "retention",
        message: "must be at least 1d (got 90)",
        hint: expect.stringMatching(/^like 90d/),
      },
    ]);
  });
});

describe("resolveConfigPath", () => {
  it("prefers the flag, then MEDIC_CONFIG, then /etc/medic/medic.yaml, always absolute", () => {
    expect(resolveConfigPath("x.yaml", { MEDIC_CONFIG: "/y.yaml" })).toBe(join(process.cwd(), "x.yaml"));
    expect(resolveConfigPath(undefined, { MEDIC_CONFIG: "/y.yaml" })).toBe("/y.yaml");
    expect(resolveConfigPath(undefined, {})).toBe("/etc/medic/medic.yaml");
  });
});

describe("artifacts", () => {
  it("defaults to 64MiB an artifact, 256MiB an incident, 1GiB in all and 14d, and takes sizes with units", async () => {
    const dir = await writeTree({
      "medic.yaml": MINIMAL,
      "set.yaml": `artifacts: { maxBytes: 1MiB, incidentBytes: 4MiB, totalBytes: 1GB, retention: 2d }\n${MINIMAL}`,
    });
    expect(config(await loadConfig(join(dir, "medic.yaml"), { env: {} })).artifacts).toEqual({
      maxBytes: 64 * 1024 ** 2,
      incidentBytes: 256 * 1024 ** 2,
      totalBytes: 1024 ** 3,
      retentionMs: 14 * 24 * 3_600_000,
    });
    expect(config(await loadConfig(join(dir, "set.yaml"), { env: {} })).artifacts).toEqual({
      maxBytes: 1024 ** 2,
      incidentBytes: 4 * 1024 ** 2,
      totalBytes: 1e9,
      retentionMs: 2 * 24 * 3_600_000,
    });
  });

  it("refuses a size that is not one, and a per-artifact cap above the incident's, each at its line", async () => {
    const bad = `artifacts:\n  maxBytes: lots\n${MINIMAL}`;
    const inverted = `artifacts:\n  maxBytes: 8MiB\n  incidentBytes: 4MiB\n${MINIMAL}`;
    const dir = await writeTree({ "bad.yaml": bad, "inverted.yaml": inverted });
    expect(issues(await loadConfig(join(dir, "bad.yaml"), { env: {} }))).toMatchObject([
      { ...positionIn(bad, "lots"), path: "artifacts.maxBytes", message: expect.stringContaining("not a size") },
    ]);
    expect(issues(await loadConfig(join(dir, "inverted.yaml"), { env: {} }))).toMatchObject([
      { ...positionIn(inverted, "8MiB"), path: "artifacts.maxBytes", message: expect.stringContaining("larger than incidentBytes") },
    ]);
  });
});
