import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "../src/lib/exec.js";
import { execStep } from "../src/playbooks/steps/exec.js";
import { TemplateError } from "../src/playbooks/template.js";
import { ALLOWED, DUMP_ENV, MEDIC_LOCALE, MEDIC_SECRETS, withMedicEnvironment } from "./fixtures/child-env.js";
import { incidentRenderer, killLeftovers, stepContext, waitGone } from "./fixtures/steps-context.js";

const NODE = process.execPath;
const RECORD_ARGV = "require('fs').writeFileSync(process.env.OUT, JSON.stringify(process.argv.slice(1)))";
// Spawns `sleep 60` in its own process group, records both pids, then waits forever.
const SPAWN_GRANDCHILD = `
  const { spawn } = require('child_process');
  const g = spawn('sleep', ['60'], { stdio: 'ignore' });
  require('fs').writeFileSync(process.env.OUT, JSON.stringify({ child: process.pid, grandchild: g.pid }));
  console.log('ready');
  setInterval(() => {}, 1000);`;

let dir: string;
const started: number[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "medic-steps-exec-"));
});
afterAll(async () => {
  await killLeftovers(started, /sleep (60|30)|setInterval/);
  await rm(dir, { recursive: true, force: true });
});

/** Parse, render and run an exec step the way a playbook run does. */
async function runExec(params: unknown, evidence: string, timeoutMs = 10_000, signal?: AbortSignal) {
  const rendered = execStep.render(execStep.schema.parse(params), incidentRenderer(evidence));
  return execStep.run(rendered, stepContext(dir, timeoutMs, signal ? { signal } : {}));
}

describe("exec step", () => {
  it.each(["$(reboot); rm -rf / #", "../../etc/passwd", "a b  c\t'\"`;|&<>*?", "{{ target.name }}", "ünïcødé ✓"])(
    "passes hostile evidence %j as one literal argument",
    async (evidence) => {
      const out = join(dir, `argv-${Math.random().toString(36).slice(2)}.json`);
      const result = await runExec(
        {
          argv: [NODE, "-e", RECORD_ARGV, "{{ incident.evidence }}", "--reason={{ incident.evidence }}", "{{ target.name }}"],
          env: { OUT: out },
        },
        evidence,
      );
      expect(result.ok).toBe(true);
      expect(result.detail).toMatch(/^exit 0 in \d/);
      expect(JSON.parse(await readFile(out, "utf8"))).toEqual([evidence, `--reason=${evidence}`, "orders-api"]);
    },
  );

  it.each(["--help", "-rf", "-e process.exit(9)"])(
    "refuses an external %j that would become an option before anything runs",
    (evidence) => {
      const out = join(dir, "must-not-exist.json");
      let err: unknown;
      try {
        execStep.render(
          execStep.schema.parse({ argv: [NODE, "-e", RECORD_ARGV, "{{ incident.evidence }}"], env: { OUT: out } }),
          incidentRenderer(evidence),
        );
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TemplateError);
      expect((err as TemplateError).code).toBe("TEMPLATE_UNSAFE_VALUE");
      expect(existsSync(out)).toBe(false);
    },
  );

  it("does not let a template choose the program", () => {
    const parsed = execStep.schema.safeParse({ argv: ["{{ incident.evidence }}", "x"] });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]!.message).toContain("argv[0]");
  });

  it("fails on an unexpected exit code, saying the code and the last line of stderr", async () => {
    const result = await runExec({ argv: [NODE, "-e", "console.log('out'); console.error('first\\ndisk full'); process.exit(3)"] }, "x");
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^exit 3 in .+: disk full$/);
    const accepted = await runExec({ argv: [NODE, "-e", "process.exit(3)"], expectExit: [0, 3] }, "x");
    expect(accepted.ok).toBe(true);
  });

  it("kills the whole process group on timeout", async () => {
    const out = join(dir, "pids.json");
    const t0 = Date.now();
    const result = await runExec({ argv: [NODE, "-e", SPAWN_GRANDCHILD], env: { OUT: out } }, "x", 1500);
    const pids = JSON.parse(await readFile(out, "utf8")) as { child: number; grandchild: number };
    started.push(pids.child, pids.grandchild);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^timed out after 1\.5s: ready$/);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(await waitGone(pids.child)).toBe(true);
    expect(await waitGone(pids.grandchild)).toBe(true);
  });

  it("reports a missing program without throwing", async () => {
    const result = await runExec({ argv: ["/nonexistent/medic-no-such-program", "x"] }, "x");
    expect(result).toMatchObject({ ok: false, detail: "program not found: /nonexistent/medic-no-such-program" });
  });

  it("stops the command when the playbook run is aborted", async () => {
    const out = join(dir, "abort-pids.json");
    const ac = new AbortController();
    const pending = runExec({ argv: [NODE, "-e", SPAWN_GRANDCHILD], env: { OUT: out } }, "x", 60_000, ac.signal);
    const deadline = Date.now() + 10_000;
    while (!existsSync(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    const result = await pending;
    const pids = JSON.parse(await readFile(out, "utf8")) as { child: number; grandchild: number };
    started.push(pids.child, pids.grandchild);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^aborted after/);
    expect(await waitGone(pids.child)).toBe(true);
    expect(await waitGone(pids.grandchild)).toBe(true);
  });

  it("fails when the working directory does not exist", async () => {
    const result = await runExec({ argv: [NODE, "-e", "0"], cwd: "no-such-dir" }, "x");
    expect(result.ok).toBe(false);
    expect(result.detail).toContain("working directory not found");
  });
});

describe("exec step environment", () => {
  withMedicEnvironment();

  it("gives the program PATH, the locale and the like plus its env:, never medic's secrets; inheritEnv: true gives it everything", async () => {
    const out = join(dir, "env.json");
    const result = await runExec({ argv: [NODE, "-e", DUMP_ENV], env: { OUT: out, APP_MODE: "repair {{ target.name }}" } }, "x");
    expect(result.ok).toBe(true);
    const env = JSON.parse(await readFile(out, "utf8")) as Record<string, string>;
    expect(env).toMatchObject({ ...MEDIC_LOCALE, PATH: process.env.PATH, OUT: out, APP_MODE: "repair orders-api" });
    expect(Object.keys(env).filter((k) => !ALLOWED.test(k) && k !== "OUT" && k !== "APP_MODE")).toEqual([]);
    for (const secret of Object.values(MEDIC_SECRETS)) expect(JSON.stringify(env)).not.toContain(secret);

    expect(execStep.describe(execStep.schema.parse({ argv: ["x"], inheritEnv: true }))).toBe(`run ["x"] with all of medic's environment`);
    expect((await runExec({ argv: [NODE, "-e", DUMP_ENV], env: { OUT: out }, inheritEnv: true }, "x")).ok).toBe(true);
    expect(JSON.parse(await readFile(out, "utf8"))).toMatchObject({ ...MEDIC_SECRETS, OUT: out });
  });
});

describe("runCommand", () => {
  it("keeps the tail of long output and says it cut it", async () => {
    const res = await runCommand(NODE, ["-e", "for (let i = 0; i < 5000; i++) console.log('line ' + i)"], {
      timeoutMs: 10_000,
      maxOutputBytes: 1024,
    });
    expect(res.exitCode).toBe(0);
    expect(res.stdoutTruncated).toBe(true);
    expect(res.stdout.length).toBeLessThanOrEqual(1024);
    expect(res.stdout.trimEnd().endsWith("line 4999")).toBe(true);
    expect(res.stderrTruncated).toBe(false);
  });

  it("does not wait for a background process that keeps its output open", async () => {
    const script = "const g = require('child_process').spawn('sleep', ['30'], { stdio: 'inherit' }); g.unref(); console.log(g.pid)";
    const t0 = Date.now();
    const res = await runCommand(NODE, ["-e", script], { timeoutMs: 20_000 });
    started.push(Number(res.stdout.trim()));
    expect(res).toMatchObject({ exitCode: 0, timedOut: false });
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it("never uses a shell", async () => {
    const res = await runCommand("echo $HOME; id", [], { timeoutMs: 5000 });
    expect(res.error?.code).toBe("ENOENT");
    expect(res.exitCode).toBeNull();
  });

  it("reports a program killed by a signal", async () => {
    const res = await runCommand(NODE, ["-e", "process.kill(process.pid, 'SIGKILL')"], { timeoutMs: 10_000 });
    expect(res).toMatchObject({ exitCode: null, signal: "SIGKILL", timedOut: false, aborted: false });
  });
});
