import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { positionIn, removeTrees, writeTree } from "../../test/fixtures/config-tmp.js";
import { loadPlaybooks, type PlaybookLoadOptions } from "./load.js";
import { stepKinds } from "./steps/registry.js";

afterEach(removeTrees);

async function load(text: string, env: NodeJS.ProcessEnv = {}) {
  const dir = await writeTree({ "p.yaml": text });
  return { dir, ...(await loadPlaybooks(["p.yaml"], { baseDir: dir, env })) };
}

describe("steps", () => {
  it("takes `- kind:` with nothing after it, a name and a timeout, defaulting the timeout to the kind's", async () => {
    const { playbooks, issues } = await load(
      "name: p\non: [server_down]\nsteps:\n  - service.restart:\n    name: bounce\n  - service.stop: {}\n    timeout: 2s\n",
    );
    expect(issues).toEqual([]);
    expect(playbooks[0]!.steps).toEqual([
      { kind: "service.restart", params: {}, name: "bounce", timeoutMs: 60_000 },
      { kind: "service.stop", params: {}, timeoutMs: 2000 },
    ]);
  });

  it("names unknown step kinds, misspelt common keys, two kinds in one step and a step that is not a mapping", async () => {
    const text =
      "name: p\non: [server_down]\nsteps:\n  - service.restat: {}\n  - wait: 1s\n    timout: 5s\n  - { wait: 1s, exec: { argv: [x] } }\n  - restart\n";
    const { issues } = await load(text);
    expect(issues.map((i) => [i.line, i.col, i.path, i.message, i.hint])).toEqual([
      [4, 5, "steps[0].service.restat", 'unknown step kind "service.restat"', `one of ${[...stepKinds.keys()].join(", ")}`],
      [6, 5, "steps[1].timout", 'unknown key "timout"', 'did you mean "timeout"?'],
      [7, 5, "steps[2]", "has 2 step kinds (exec, wait) but takes exactly one", "split them into separate steps"],
      [8, 5, "steps[3]", 'expected a mapping with one step kind, got "restart"', "write it like - service.restart: {}"],
    ]);
  });

  it("parses a step's onlyIf and locates a bad one at its column", async () => {
    const good = await load('name: p\non: [server_down]\nsteps:\n  - wait: 1s\n    onlyIf: "[STATUS] == 503"\n');
    expect(good.issues).toEqual([]);
    expect(good.playbooks[0]!.steps[0]!.onlyIf?.map((c) => c.source)).toEqual(["[STATUS] == 503"]);
    const bad = await load('name: p\non: [server_down]\nsteps:\n  - wait: 1s\n    onlyIf: "[STATSU] == 503"\n');
    expect(bad.issues.map((i) => [i.line, i.col, i.path])).toEqual([[5, 14, "steps[0].onlyIf"]]);
  });

  it("checks templates in every string a step receives, at the offending {{", async () => {
    const text = [
      "name: p",
      "on: [server_down]",
      "steps:",
      '  - exec: { argv: [echo, "x \\t {{ target.nme }}"], env: { A: "{{ incident.kind }}" } }',
      "  - http:",
      "      url: http://127.0.0.1:9/{{ target.name }}",
      "      body: { text: 'it''s {{ oops' }",
      "",
    ].join("\n");
    const { issues } = await load(text);
    expect(issues).toMatchObject([
      {
        ...positionIn(text, "{{ target.nme"),
        path: "steps[0].exec.argv[1]",
        message: 'unknown template variable "target.nme"',
        hint: expect.stringContaining("target.name"),
      },
      { ...positionIn(text, "{{ oops"), path: "steps[1].http.body.text", message: expect.stringContaining("unclosed") },
    ]);
  });
});

describe("files", () => {
  // Where the config lists its paths: the issue lands on playbooks[index] of medic.yaml.
  const badPath: PlaybookLoadOptions["badPath"] = (index, p) => ({
    file: "medic.yaml",
    line: 9,
    col: index + 1,
    path: `playbooks[${index}]`,
    message: p.message,
    hint: p.hint,
    level: "error",
  });

  it("reports a missing listed path through badPath, and skips it silently without one", async () => {
    const dir = await writeTree({});
    const quiet = await loadPlaybooks(["./playbooks"], { baseDir: dir });
    expect(quiet).toEqual({ playbooks: [], issues: [], unresolved: [], secrets: [], files: [] });
    const loud = await loadPlaybooks(["./gone"], { baseDir: dir, badPath });
    expect(loud.issues).toEqual([
      {
        file: "medic.yaml",
        line: 9,
        col: 1,
        path: "playbooks[0]",
        level: "error",
        message: `playbook path ${join(dir, "gone")} does not exist`,
        hint: `create it, or fix the path; relative paths start at ${dir}`,
      },
    ]);
  });

  it("reads a listed file only when it is a regular .yaml or .yml file: a program or a pipe is an issue at the listing, never parsed", async () => {
    const dir = await writeTree({ "run.sh": "#!/bin/sh\necho hi\n" });
    execFileSync("mkfifo", [join(dir, "pipe.yaml")]);
    const found = await loadPlaybooks(["/bin/sh", "run.sh", "pipe.yaml"], { baseDir: dir, badPath });
    const hint = "list playbook files ending in .yaml or .yml, or a folder of them";
    expect(found).toEqual({
      playbooks: [],
      secrets: [],
      files: [],
      unresolved: [],
      issues: [
        {
          file: "medic.yaml",
          line: 9,
          col: 1,
          path: "playbooks[0]",
          level: "error",
          message: "playbook path /bin/sh is not a .yaml or .yml file",
          hint,
        },
        {
          file: "medic.yaml",
          line: 9,
          col: 2,
          path: "playbooks[1]",
          level: "error",
          message: `playbook path ${join(dir, "run.sh")} is not a .yaml or .yml file`,
          hint,
        },
        {
          file: "medic.yaml",
          line: 9,
          col: 3,
          path: "playbooks[2]",
          level: "error",
          message: `playbook path ${join(dir, "pipe.yaml")} is not a regular file`,
          hint,
        },
      ],
    });
  });

  it("fills ${VAR} in playbooks and keeps the secret out of issues", async () => {
    const text = 'name: p\non: [server_down]\nsteps:\n  - http: { url: "${HOOK}", headers: { X-Key: "${KEY}" } }\n';
    const { playbooks, secrets } = await load(text, { HOOK: "http://127.0.0.1:9/hook", KEY: "k3y-value" });
    expect(secrets).toEqual(["http://127.0.0.1:9/hook", "k3y-value"]);
    expect(playbooks[0]!.steps[0]!.params).toMatchObject({ url: "http://127.0.0.1:9/hook", headers: { "X-Key": "k3y-value" } });
  });
});
