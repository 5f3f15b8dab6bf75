import { BUILTIN_KINDS } from "../classify/types.js";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { positionIn, removeTrees, writeTree } from "../../test/fixtures/config-tmp.js";
import type { ConfigIssue } from "./issues.js";
import { loadConfig } from "./load.js";

afterEach(removeTrees);

/** Every issue of loading `files` (medic.yaml plus playbooks), as [file, line:col, level, message, hint]. */
async function check(files: Record<string, string>): Promise<{ dir: string; found: ConfigIssue[] }> {
  const dir = await writeTree(files);
  const result = await loadConfig(join(dir, "medic.yaml"), { env: {} });
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
