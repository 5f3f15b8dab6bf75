import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, freePort, medic, MEDIC, serviceConfig, SHIPPED_PLAYBOOKS, tempDir } from "./harness.js";

afterEach(cleanup);

async function httpServer(status: number): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(status, { "content-type": "application/json" }).end('{"status":"UP"}'));
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/health`, server };
}

describe("medic CLI", () => {
  it("prints help, and exits 2 on a usage mistake (never 1, which means unhealthy)", async () => {
    const r = await medic(["--help"]);
    expect(r.code).toBe(0);
    for (const cmd of ["run", "check", "validate", "plan", "incidents", "demo"]) expect(r.stdout).toContain(cmd);
    const bad = await medic(["plan", "--target", "api"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("required option '--incident <kind>' not specified");
  });

  it("validate accepts the shipped playbooks", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "medic.yaml"), serviceConfig(dir, 8000));
    const r = await medic(["validate", "--config", join(dir, "medic.yaml")]);
    const shipped = readdirSync(SHIPPED_PLAYBOOKS).filter((f) => f.endsWith(".yaml")).length;
    expect(r.stdout).toContain(`ok (1 target, ${shipped} playbooks, 0 rules)`);
    expect(r.code).toBe(0);
    // Playbooks for labelled database and container targets match nothing here: one line says so, not a screenful.
    expect(r.stderr).toMatch(
      /^note: \d+ of the shipped playbooks do not fit these targets as they are; medic validate --verbose says why\n$/,
    );
    // --verbose: each of them, as a warning with file:line:col.
    const verbose = await medic(["validate", "--verbose", "--config", join(dir, "medic.yaml")]);
    expect(verbose.code).toBe(0);
    const lines = verbose.stderr.trim().split("\n");
    expect(lines.length).toBe(Number(/^note: (\d+)/.exec(r.stderr)![1]));
    for (const line of lines)
      expect(line).toMatch(/playbooks\/[\w-]+\.yaml:\d+:\d+ warning: (labels|targets): playbook "[\w-]+" matches no target/);
  });

  it("warnings about the user's own files stay in full, and plan prints the plan before any warning", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "mine.yaml"),
      "name: mine\non: [server_down]\ntargets: [nothing-*]\nsteps:\n  - wait: 1s\nverify: { within: 10s }\nonFailure: escalate\n",
    );
    // The README's kind of config: a target without a service, so shipped restart playbooks need one it lacks.
    writeFileSync(
      join(dir, "medic.yaml"),
      serviceConfig(dir, 8000).replace(/^playbooks: \[(.*)\]$/m, "playbooks: [$1, ./mine.yaml]") +
        "  - name: db-port\n    probe: { tcp: { port: 5432 } }\n",
    );
    const validated = await medic(["validate", "--config", join(dir, "medic.yaml")]);
    expect(validated.code).toBe(0);
    expect(validated.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/\/mine\.yaml:3:10 warning: targets: playbook "mine" matches no target \(hint: .*targets are api, db-port\)$/),
      expect.stringMatching(/^note: \d+ of the shipped playbooks do not fit these targets as they are; medic validate --verbose says why$/),
    ]);

    // One file for stdout and stderr, so the order they were written in is kept.
    const out = join(dir, "plan.out");
    const fd = openSync(out, "w");
    const child = spawn(
      process.execPath,
      [MEDIC, "plan", "--config", join(dir, "medic.yaml"), "--target", "api", "--incident", "server_down"],
      { cwd: dir, stdio: ["ignore", fd, fd] },
    );
    const code = await new Promise((resolve) => child.once("exit", resolve));
    closeSync(fd);
    expect(code).toBe(0);
    const text = readFileSync(out, "utf8");
    expect(text.indexOf("playbook restart-on-server-down")).toBeGreaterThan(-1);
    expect(text.indexOf("then verify:")).toBeLessThan(text.indexOf('playbook "mine" matches no target'));
    expect(text.indexOf('playbook "mine" matches no target')).toBeLessThan(text.indexOf("note: "));
    expect(text.match(/warning:/g)).toHaveLength(1);
  });

  it("validate reports five different mistakes at once with file:line:col, exit 2", async () => {
    const dir = tempDir();
    const text = [
      "stateDir: ./state",
      "defaults: { interval: ten }",
      "targets:",
      "  - name: api",
      "    probe: { http: { url: localhost:8000 } }",
      "    intervl: 5s",
      "  - name: db",
      "    probe: { htp: { url: http://127.0.0.1:1 } }",
      "  - name: web",
      '    probe: { http: { url: "${MEDIC_TEST_UNSET_VAR}" } }',
      "rules:",
      '  - { kind: backlog, severity: P3, when: "[BODY].depth >" }',
    ].join("\n");
    writeFileSync(join(dir, "medic.yaml"), text);
    const r = await medic(["validate", "--config", join(dir, "medic.yaml")]);
    expect(r.code).toBe(2);
    const lines = r.stderr.split("\n").filter((l) => /medic\.yaml:\d+:\d+ /.test(l));
    const at = (line: number) => lines.filter((l) => new RegExp(`medic\\.yaml:${line}:\\d+ `).test(l));
    expect(at(2).join()).toMatch(/interval/);
    expect(at(5).join()).toMatch(/http/);
    expect(at(6).join()).toMatch(/intervl/);
    expect(at(8).join()).toMatch(/htp/);
    expect(at(12).join()).toMatch(/when/);
    expect(lines.length).toBeGreaterThanOrEqual(5);
  });

  it("check exits 0 when all targets are healthy, 1 when one is not, 2 on a bad config", async () => {
    const ok = await httpServer(200);
    const bad = await httpServer(500);
    try {
      const dir = tempDir();
      const cfg = (urls: string[]) =>
        `stateDir: ./state\ntargets:\n${urls.map((u, i) => `  - name: t${i}\n    probe: { http: { url: "${u}" } }\n`).join("")}`;
      writeFileSync(join(dir, "good.yaml"), cfg([ok.url]));
      writeFileSync(join(dir, "mixed.yaml"), cfg([ok.url, bad.url, `http://127.0.0.1:${await freePort()}/`]));
      writeFileSync(join(dir, "broken.yaml"), "targets: 3\n");

      const good = await medic(["check", "--config", join(dir, "good.yaml")]);
      expect(good.code).toBe(0);
      expect(good.stdout).toMatch(/t0\s+GET http:\/\/127\.0\.0\.1:\d+\/health\s+healthy/);

      const mixed = await medic(["check", "--json", "--config", join(dir, "mixed.yaml")]);
      expect(mixed.code).toBe(1);
      const rows = JSON.parse(mixed.stdout) as { target: string; healthy: boolean; kind: string | null; status: number | null }[];
      expect(rows.map((r) => [r.target, r.healthy, r.kind])).toEqual([
        ["t0", true, null],
        ["t1", false, "server_down"],
        ["t2", false, "server_down"],
      ]);
      expect(rows[1]!.status).toBe(500);

      expect((await medic(["check", "--config", join(dir, "broken.yaml")])).code).toBe(2);
    } finally {
      ok.server.close();
      bad.server.close();
    }
  });

  it("plan prints the rendered steps and touches nothing", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "medic.yaml"), serviceConfig(dir, 8000));
    const r = await medic(["plan", "--target", "api", "--incident", "server_down", "--config", join(dir, "medic.yaml")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("playbook restart-on-server-down");
    expect(r.stdout).toMatch(/1\. service\.restart: .*api\.pid/);
    expect(r.stdout).toContain("then verify: healthy within 30s, else escalate");
    expect(existsSync(join(dir, "state"))).toBe(false);
    expect(existsSync(join(dir, "api.pid"))).toBe(false);

    const unknown = await medic(["plan", "--target", "nope", "--incident", "server_down", "--config", join(dir, "medic.yaml")]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown target "nope" (hint: one of api)');
  });
});
