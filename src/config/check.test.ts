import { BUILTIN_KINDS } from "../classify/types.js";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { positionIn, removeTrees, writeTree } from "../../test/fixtures/config-tmp.js";
import { formatIssue, type ConfigIssue } from "./issues.js";
import { loadConfig } from "./load.js";

afterEach(removeTrees);

/** Every issue of loading `files` (medic.yaml plus playbooks), as [file, line:col, level, message, hint]. */
async function check(files: Record<string, string>, env: NodeJS.ProcessEnv = {}): Promise<{ dir: string; found: ConfigIssue[] }> {
  const dir = await writeTree(files);
  const result = await loadConfig(join(dir, "medic.yaml"), { env });
  return { dir, found: result.ok ? result.warnings : result.issues };
}

const target = (name: string, extra = "") => `  - name: ${name}\n    probe: { tcp: { port: 1 } }\n${extra}`;

describe("targets", () => {
  it("reports a duplicate name at the second, naming the first line", async () => {
    const text = `targets:\n${target("api")}${target("api")}`;
    const { found } = await check({ "medic.yaml": text });
    expect(found).toMatchObject([
      {
        ...positionIn(text, "api", 1),
        path: "targets[1].name",
        level: "error",
        message: expect.stringMatching(/target name "api" is already used at .*medic\.yaml:2$/),
      },
    ]);
  });

  it("reports dependsOn naming an unknown target, with a did-you-mean", async () => {
    const text = `targets:\n${target("orders-db")}${target("api", "    dependsOn: [orders-dbb]\n")}`;
    const { found } = await check({ "medic.yaml": text });
    expect(found).toMatchObject([
      {
        ...positionIn(text, "orders-dbb"),
        path: "targets[1].dependsOn[0]",
        message: 'unknown target "orders-dbb"',
        hint: 'did you mean "orders-db"?',
      },
    ]);
  });

  it("names each dependsOn cycle once, including a target that depends on itself", async () => {
    const text = `targets:\n${target("a", "    dependsOn: [b]\n")}${target("b", "    dependsOn: [c]\n")}${target("c", "    dependsOn: [a]\n")}${target("d", "    dependsOn: [d]\n")}`;
    const { found } = await check({ "medic.yaml": text });
    expect(found.map((i) => [i.line, i.col, i.message])).toEqual([
      [positionIn(text, "[a]").line, positionIn(text, "[a]").col + 1, "dependsOn cycle: a -> b -> c -> a"],
      [positionIn(text, "[d]").line, positionIn(text, "[d]").col + 1, "dependsOn cycle: d -> d"],
    ]);
  });
});

describe("incident kinds", () => {
  it("rejects a severity override and a playbook `on` for kinds no one defines, listing known kinds", async () => {
    const config = `targets:\n${target("api")}rules: [{ kind: queue_backlog, when: "[STATUS] == 500" }]\nseverities: { queue_backlog: P2, server_dwn: P1 }\n`;
    const playbook = "name: p\non: [queue_backlog, nope_kind]\nsteps: [{ wait: 1s }]\n";
    const { found } = await check({ "medic.yaml": config, "playbooks/p.yaml": playbook });
    expect(found).toMatchObject([
      {
        ...positionIn(config, "server_dwn"),
        path: "severities.server_dwn",
        message: 'unknown incident kind "server_dwn"',
        hint: expect.stringMatching(/^did you mean "server_down"\? known kinds: server_down, .*queue_backlog;/),
      },
      {
        ...positionIn(playbook, "nope_kind"),
        path: "on[1]",
        message: 'unknown incident kind "nope_kind"',
        hint: expect.stringContaining(`known kinds: ${Object.keys(BUILTIN_KINDS).join(", ")}, queue_backlog`),
      },
    ]);
  });
});

describe("playbooks against targets", () => {
  it("warns once per playbook, naming the targets without a service that a service step would act on", async () => {
    const config = `targets:\n${target("web-1")}${target("web-2", "    labels: { tier: web }\n")}${target("db", "    labels: { tier: web }\n    service: { process: { start: [x], pidFile: ./p } }\n")}`;
    const playbook = "name: p\non: [server_down]\nlabels: { tier: web }\nsteps:\n  - wait: 1s\n  - service.restart: {}\n";
    const { found } = await check({ "medic.yaml": config, "playbooks/p.yaml": playbook });
    expect(found).toMatchObject([
      {
        ...positionIn(playbook, "service.restart"),
        level: "warning",
        message:
          'step "service.restart" needs a service, but 1 target it matches has none (web-2); on them this playbook escalates instead',
        hint: expect.stringContaining("add service:"),
      },
    ]);
  });

  it("names at most five service-less targets in that one warning", async () => {
    const config = `targets:\n${Array.from({ length: 7 }, (_, i) => target(`t${i}`)).join("")}`;
    const { found } = await check({
      "medic.yaml": config,
      "playbooks/p.yaml": "name: p\non: [server_down]\nsteps:\n  - service.restart:\n",
    });
    expect(found.map((i) => i.message)).toEqual([
      'step "service.restart" needs a service, but 7 targets it matches have none (t0, t1, t2, t3, t4 and 2 more); on them this playbook escalates instead',
    ]);
  });

  it("warns when a playbook matches no target, by name glob or label", async () => {
    const config = `targets:\n${target("orders-api")}`;
    const { found } = await check({
      "medic.yaml": config,
      "playbooks/a.yaml": "name: a\non: [server_down]\ntargets: [billing-*]\nsteps: [{ wait: 1s }]\n",
      "playbooks/b.yaml": "name: b\non: [server_down]\ntargets: [orders-*]\nsteps: [{ wait: 1s }]\n",
    });
    expect(found).toMatchObject([
      {
        line: 3,
        col: 10,
        level: "warning",
        message: 'playbook "a" matches no target',
        hint: "check its targets and labels; targets are orders-api",
      },
    ]);
  });

  it("rejects a playbook name used twice, at the second, naming the first file:line", async () => {
    const { dir, found } = await check({
      "medic.yaml": `targets:\n${target("api")}`,
      "playbooks/a.yaml": "# first\nname: same\non: [server_down]\nsteps: [{ wait: 1s }]\n",
      "playbooks/b.yaml": "name: same\non: [server_down]\nsteps: [{ wait: 1s }]\n",
    });
    expect(found).toMatchObject([
      {
        file: join(dir, "playbooks/b.yaml"),
        line: 1,
        col: 7,
        message: `playbook name "same" is already used at ${join(dir, "playbooks/a.yaml")}:2`,
      },
    ]);
  });
});

describe("alertmanager routes", () => {
  const routes = (lines: string) => `alertmanager:\n  routes:\n${lines}`;

  it("rejects a route to a target that is not configured, with a did-you-mean, and a kind no one defines", async () => {
    const text = `targets:\n${target("orders-api")}${routes("    - { match: { alertname: Down }, target: orders-apj, kind: server_down }\n    - { match: { alertname: Slow }, target: orders-api, kind: slowness }\n")}`;
    const { found } = await check({ "medic.yaml": text });
    expect(found).toMatchObject([
      {
        ...positionIn(text, "orders-apj"),
        level: "error",
        path: "alertmanager.routes[0].target",
        message: 'unknown target "orders-apj"',
        hint: 'did you mean "orders-api"?',
      },
      {
        ...positionIn(text, "slowness"),
        level: "error",
        path: "alertmanager.routes[1].kind",
        message: 'unknown incident kind "slowness"',
        hint: expect.stringContaining("a rule in medic.yaml can define more"),
      },
    ]);
  });

  it("accepts a rule's kind, a label-named target, and with discovery a target not in the config", async () => {
    const text = `discovery: { docker: {} }\ntargets:\n${target("orders-api")}rules: [{ kind: queue_backlog, when: "[STATUS] == 500" }]\n${routes('    - { match: { alertname: Backlog }, target: worker-7, kind: queue_backlog }\n    - { matchRe: { alertname: ".*Down" }, targetLabel: service, kind: server_down }\n')}`;
    const { found } = await check({ "medic.yaml": text });
    expect(found).toEqual([]);
  });

  it("without discovery names the targets there are", async () => {
    const text = `targets:\n${target("a")}${target("b")}${routes("    - { target: zzz, kind: server_down }\n")}`;
    const { found } = await check({ "medic.yaml": text });
    expect(found.map((i) => [i.message, i.hint])).toEqual([
      ['unknown target "zzz"', "targets are a, b; or take it from a label with targetLabel:"],
    ]);
  });
});

describe("a cluster's targets with a service on one host", () => {
  it("warns at a process or systemd service that names no node, and at nothing else", async () => {
    const text =
      'store: { postgres: { url: "postgres://medic@db.internal/medic" } }\ncluster: { name: prod }\ntargets:\n' +
      target("web", "    service: { process: { start: [/bin/true], pidFile: w.pid } }\n") +
      target("worker", "    node: ops-2\n    service: { systemd: { unit: worker.service } }\n") +
      target("cache", "    service: { docker: { container: cache, host: tcp://10.0.0.5:2375 } }\n") +
      target("plain");
    const { found } = await check({ "medic.yaml": text });
    expect(found).toEqual([
      expect.objectContaining({
        path: "targets[0].service",
        level: "warning",
        message: 'target "web" has a process service but names no node',
        hint: expect.stringMatching(/^in a cluster on several hosts, add node: NAME/),
        ...positionIn(text, "service: { process"),
      }),
    ]);
    // Without a shared store there is one host, and nothing to say.
    const single = await check({
      "medic.yaml": `targets:\n${target("web", "    service: { process: { start: [/bin/true], pidFile: w.pid } }\n")}`,
    });
    expect(single.found).toEqual([]);
  });
});

describe("targets that reach the server of medic's own store", () => {
  const PASSWORD = "s3cret-store-pw";
  const store = (url: string) => `store: { postgres: { url: "${url}" } }\ncluster: { name: prod }\n`;
  const pgTarget = (name: string, probe: string) => `  - name: ${name}\n    probe: { ${probe} }\n`;
  const hint = (name: string) =>
    "a restart of that server takes medic's store with it, and then no medic can act; " +
    `keep medic's store on a server medic does not heal, or remove the service of "${name}" and the playbooks that act on it`;

  it("warns at each probe that reaches the store's host and port, saying whether it is the store's database too", async () => {
    const text =
      store(`postgres://medic:${PASSWORD}@db.internal:6432/medic?sslmode=require`) +
      "targets:\n" +
      pgTarget("store-db", 'postgres: { url: "postgres://monitor:pw-1234@DB.internal:6432/medic" }') +
      pgTarget("orders-db", "postgres: { host: db.internal, port: 6432, user: app, database: orders }") +
      pgTarget("medic-role", "postgres: { host: db.internal, port: 6432, user: medic }") +
      pgTarget("db-port", "tcp: { host: db.internal, port: 6432 }") +
      pgTarget("other-port", 'postgres: { url: "postgres://medic@db.internal:5432/medic" }') +
      pgTarget("other-host", 'postgres: { url: "postgres://medic@db2.internal:6432/medic" }') +
      pgTarget("api", 'http: { url: "http://db.internal:6432/health" }');
    const { found } = await check({ "medic.yaml": text });
    const server = "the PostgreSQL server that holds medic's store (db.internal:6432)";
    expect(found).toEqual([
      {
        file: expect.any(String),
        ...positionIn(text, `"postgres://monitor`),
        path: "targets[0].probe.postgres.url",
        level: "warning",
        message: `target "store-db" probes ${server}, and the store's own database "medic"`,
        hint: hint("store-db"),
      },
      {
        file: expect.any(String),
        ...positionIn(text, "db.internal", 1),
        path: "targets[1].probe.postgres.host",
        level: "warning",
        message: `target "orders-db" probes ${server}; its database "orders" is beside the store's "medic"`,
        hint: hint("orders-db"),
      },
      // No database named: libpq takes the role's name, as for the store's connection.
      expect.objectContaining({
        path: "targets[2].probe.postgres.host",
        message: `target "medic-role" probes ${server}, and the store's own database "medic"`,
      }),
      expect.objectContaining({
        ...positionIn(text, "6432 }"),
        path: "targets[3].probe.tcp.port",
        message: `target "db-port" probes ${server}`,
      }),
    ]);
    // The store's URL holds a password: the warnings name host:port and databases, never the URL.
    expect(found.map(formatIssue).join("\n")).not.toContain(PASSWORD);
  });

  it("counts localhost, 127.0.0.1, ::1 and a local socket as one host, and port 5432 when none is given", async () => {
    const text =
      store("postgres://medic@localhost/medic") +
      "targets:\n" +
      pgTarget("by-ip", 'postgres: { url: "postgres://medic@127.0.0.1:5432/app" }') +
      pgTarget("by-v6", 'postgres: { url: "postgres://medic@[::1]/app" }') +
      pgTarget("by-fields", "postgres: { user: medic }") +
      pgTarget("by-socket", 'postgres: { url: "postgres://medic@/app?host=/var/run/postgresql" }') +
      pgTarget("by-tcp", "tcp: { port: 5432 }") +
      pgTarget("next-port", "tcp: { port: 5433 }") +
      pgTarget("templated", 'postgres: { url: "postgres://medic@{{ target.labels.host }}/app" }');
    const { found } = await check({ "medic.yaml": text });
    expect(found.map((i) => [i.path, /^target "([^"]+)"/.exec(i.message)?.[1]])).toEqual([
      ["targets[0].probe.postgres.url", "by-ip"],
      ["targets[1].probe.postgres.url", "by-v6"],
      ["targets[2].probe.postgres", "by-fields"],
      ["targets[3].probe.postgres.url", "by-socket"],
      ["targets[4].probe.tcp.port", "by-tcp"],
    ]);
  });

  it("warns at a postgres.* step whose own connection reaches the store, naming the targets it acts for", async () => {
    const config = store("postgres://medic@10.0.0.5/medic") + "targets:\n" + target("api") + target("worker");
    const playbook = (name: string, url: string, targets = "[api, worker]") =>
      `name: ${name}\non: [server_down]\ntargets: ${targets}\nsteps:\n  - wait: 1s\n  - postgres.terminate: { connection: { url: "${url}" } }\n`;
    const { found } = await check({
      "medic.yaml": config,
      "playbooks/a.yaml": playbook("on-store", "postgres://ops@10.0.0.5:5432/medic"),
      "playbooks/b.yaml": playbook("elsewhere", "postgres://ops@10.0.0.6:5432/medic"),
      // Matches no target, so it never runs: "matches no target" is the one warning.
      "playbooks/c.yaml": playbook("idle", "postgres://ops@10.0.0.5/medic", "[nothing-*]"),
    });
    expect(found.map((i) => [i.file.slice(-16), i.line, i.col, i.message, i.hint])).toEqual([
      [
        "playbooks/a.yaml",
        6,
        positionIn(playbook("x", "u"), '"u"').col,
        'playbook "on-store" step postgres.terminate connects to the PostgreSQL server that holds medic\'s store (10.0.0.5:5432), ' +
          'and the store\'s own database "medic"',
        "it acts for api, worker; a restart of that server takes medic's store with it, and then no medic can act; " +
          "keep medic's store on a server medic does not heal, or point this step at another server",
      ],
      ["playbooks/c.yaml", 3, 10, 'playbook "idle" matches no target', expect.any(String)],
    ]);
  });

  it("reads the store's URL after ${...} substitution, and without store.postgres warns about nothing", async () => {
    const targets = "targets:\n" + pgTarget("db", 'postgres: { url: "postgres://medic@127.0.0.1/medic" }');
    const withStore = await check(
      { "medic.yaml": 'store: { postgres: { url: "${MEDIC_STORE_URL}" } }\n' + targets },
      {
        MEDIC_STORE_URL: `postgres://medic:${PASSWORD}@localhost:5432/medic`,
      },
    );
    expect(withStore.found.map(formatIssue)).toEqual([
      expect.stringContaining('target "db" probes the PostgreSQL server that holds medic'),
    ]);
    expect(withStore.found.map(formatIssue).join("\n")).not.toContain(PASSWORD);
    const single = await check({ "medic.yaml": targets });
    expect(single.found).toEqual([]);
  });
});
