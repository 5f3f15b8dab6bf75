import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createArtifactSink } from "../src/artifacts/store.js";
import type { Target } from "../src/config/types.js";
import { runCommand } from "../src/lib/exec.js";
import { Redactor } from "../src/lib/redact.js";
import type { IncidentEvent } from "../src/incidents/types.js";
import { runPlaybook } from "../src/playbooks/run.js";
import { captureLogs } from "../src/playbooks/steps/capture-logs.js";
import { captureSignal } from "../src/playbooks/steps/capture-signal.js";
import { processService } from "../src/services/process.js";
import { stepKinds } from "../src/playbooks/steps/registry.js";
import { buildTemplateVars, createRenderer } from "../src/playbooks/template.js";
import type { ArtifactSink, StepKind } from "../src/playbooks/types.js";
import { stepContext, testTarget } from "./fixtures/steps-context.js";
import { cleanup, onCleanup, tempDir } from "./harness.js";

// Capture steps against real parts: real files, the machine's journalctl, real processes that dump on a signal
// (the Docker cases are in capture-docker.test.ts, with the other engine tests).

afterEach(cleanup);

const LIMITS = { maxBytes: 1024 ** 2, incidentBytes: 8 * 1024 ** 2, totalBytes: 64 * 1024 ** 2, retentionMs: 3600_000 };

function sinkIn(stateDir: string, redactor = new Redactor()): ArtifactSink {
  return createArtifactSink({ stateDir, incident: "feed0001", limits: LIMITS, redactor });
}

async function run(
  step: StepKind,
  params: unknown,
  target: Target,
  artifacts: ArtifactSink | undefined,
  baseDir = "/",
  timeoutMs = 10_000,
) {
  const rendered = step.render(step.schema.parse(params), createRenderer(buildTemplateVars(target)));
  return step.run(rendered, stepContext(baseDir, timeoutMs, { target, ...(artifacts && { artifacts }) }));
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("capture.logs", () => {
  it("is registered as a capture step", () => {
    expect(stepKinds.get("capture.logs")).toBe(captureLogs);
    expect(captureLogs).toMatchObject({ capture: true, idempotent: true, needsService: false });
    expect(captureLogs.schema.safeParse({ file: "a.log", unit: "web.service" }).success).toBe(false);
    expect(captureLogs.schema.safeParse({ unit: "-evil.service" }).success).toBe(false);
    expect(captureLogs.schema.parse(null)).toEqual({ lines: 200 });
  });

  it("a log file: keeps its last N lines, read from the end, redacted, hashed as kept", async () => {
    const state = tempDir();
    const dir = tempDir();
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${i === 4990 ? "password=s3cr3t-value" : ""}`.trimEnd());
    writeFileSync(join(dir, "web.log"), lines.join("\n") + "\n");
    const redactor = new Redactor();
    redactor.add(["s3cr3t-value"]);
    const r = await run(captureLogs, { file: "web.log", lines: 20 }, testTarget(), sinkIn(state, redactor), dir);
    expect(r).toMatchObject({ ok: true, detail: expect.stringMatching(/^kept the last 20 lines of log file .*web\.log as logs-1\.txt/) });
    const ref = r.artifacts![0]!;
    const kept = readFileSync(join(state, ref.path));
    expect(kept.toString()).toBe(
      lines
        .slice(-20)
        .map((l) => l.replace("s3cr3t-value", "[secret]"))
        .join("\n") + "\n",
    );
    expect(ref.sha256).toBe(sha(kept));
    expect(ref.excerpt!.split("\n").at(-1)).toBe("line 4999");
  });

  it("a log file: the default source is a process service's logFile; a missing file or a FIFO fails with why", async () => {
    const state = tempDir();
    const dir = tempDir();
    writeFileSync(join(dir, "svc.log"), "only line");
    const target: Target = {
      ...testTarget(),
      service: { kind: "process", params: { start: ["x"], pidFile: "p", logFile: "svc.log" } },
    };
    const r = await run(captureLogs, {}, target, sinkIn(state), dir);
    expect(r.ok).toBe(true);
    expect(readFileSync(join(state, r.artifacts![0]!.path), "utf8")).toBe("only line");
    const missing = await run(captureLogs, { file: "nope.log" }, testTarget(), sinkIn(state), dir);
    expect(missing).toMatchObject({ ok: false, detail: expect.stringMatching(/nope\.log.*ENOENT/) });
    await runCommand("mkfifo", [join(dir, "fifo")], { timeoutMs: 5000 });
    const fifo = await run(captureLogs, { file: "fifo" }, testTarget(), sinkIn(state), dir);
    expect(fifo).toMatchObject({ ok: false, detail: expect.stringContaining("not a regular file") });
  });

  it("without a source or a sink, it fails saying so (the run goes on: see run.test.ts)", async () => {
    const none = await run(captureLogs, {}, testTarget(), sinkIn(tempDir()));
    expect(none).toMatchObject({ ok: false, detail: expect.stringContaining("no log to read") });
    const noSink = await run(captureLogs, { file: "/etc/hostname" }, testTarget(), undefined);
    expect(noSink).toMatchObject({ ok: false, detail: expect.stringContaining("nothing was captured") });
  });

  it("journalctl: the real program, as argv, for the target's systemd unit", async () => {
    const probe = await runCommand("journalctl", ["-n", "1", "--no-pager", "--quiet"], { timeoutMs: 10_000 });
    if (probe.error) return void console.warn("journalctl: not on this machine; the journal case is not run");
    const state = tempDir();
    const target: Target = { ...testTarget(), service: { kind: "systemd", params: { unit: "medic-capture-test.service" } } };
    const r = await run(captureLogs, { lines: 5 }, target, sinkIn(state));
    expect(r).toMatchObject({ ok: true, detail: expect.stringContaining("journalctl -u medic-capture-test.service") });
    // What is kept is what journalctl itself says for that unit (on a machine without a journal: nothing).
    const direct = await runCommand(
      "journalctl",
      ["--unit=medic-capture-test.service", "-n", "5", "--no-pager", "-o", "short-iso", "--quiet"],
      { timeoutMs: 10_000 },
    );
    expect(direct.exitCode).toBe(0);
    expect(readFileSync(join(state, r.artifacts![0]!.path), "utf8")).toBe(direct.stdout);
  });
});

describe("capture.signal", () => {
  const DUMPER = fileURLToPath(new URL("./fixtures/dump-on-signal.mjs", import.meta.url));

  /** The dumper, started through the real process service driver (so medic holds its identity record). */
  async function startDumper(dir: string) {
    const params = {
      start: [process.execPath, DUMPER],
      pidFile: "run/dumper.pid",
      env: { DUMP_SECRET: "hunter2-secret" },
      stopTimeout: "5s",
    };
    const service = processService.create(processService.schema.parse(params), { target: "dumper", baseDir: dir });
    const started = await service.start(new AbortController().signal);
    expect(started.ok).toBe(true);
    const pid = Number(readFileSync(join(dir, "run/dumper.pid"), "utf8"));
    onCleanup(async () => {
      await service.stop(new AbortController().signal);
    });
    const target: Target = { ...testTarget("dumper"), service: { kind: "process", params: processService.schema.parse(params) } };
    return { service, pid, target };
  }

  it("signals the proven service, waits for the NEW dump to stop growing, keeps it redacted, and moves it out", async () => {
    const dir = tempDir();
    const state = tempDir();
    writeFileSync(join(dir, "dump.1.0.txt"), "an old dump, not this incident's");
    const { pid, target } = await startDumper(dir);
    const redactor = new Redactor();
    redactor.add(["hunter2-secret"]);
    const r = await run(
      captureSignal,
      { signal: "SIGUSR2", pattern: "dump.*.txt", settle: "1500ms" },
      target,
      sinkIn(state, redactor),
      dir,
    );
    expect(r).toMatchObject({ ok: true, detail: expect.stringContaining(`that pid ${pid} wrote on SIGUSR2`) });
    const ref = r.artifacts![0]!;
    expect(ref.name).toBe("dump-1.txt");
    const kept = readFileSync(join(state, ref.path), "utf8");
    expect(kept).toBe(`part 1 of dump.${pid}.1.txt\npart 2 token=[secret]\npart 3 end\n`);
    expect(ref.sha256).toBe(sha(Buffer.from(kept)));
    expect(existsSync(join(dir, `dump.${pid}.1.txt`))).toBe(false);
    expect(readFileSync(join(dir, "dump.1.0.txt"), "utf8")).toBe("an old dump, not this incident's");
  });

  it("never sends a signal the service does not catch (it would end the process), nor SIGUSR1 to Node (its inspector)", async () => {
    const dir = tempDir();
    const { pid, target } = await startDumper(dir);
    for (const [signal, said] of [
      ["SIGHUP", `pid ${pid} does not catch SIGHUP`],
      ["SIGUSR1", `pid ${pid} is Node, which answers SIGUSR1 by opening its inspector`],
    ] as const) {
      const r = await run(captureSignal, { signal, pattern: "dump.*.txt" }, target, sinkIn(tempDir()), dir);
      expect(r).toMatchObject({ ok: false, detail: expect.stringContaining(said) });
    }
    // SIGHUP would have ended it: it still runs.
    expect(() => process.kill(pid, 0)).not.toThrow();
  });

  it("never signals a pid it cannot prove is the service's: a pid file naming another program is refused", async () => {
    const dir = tempDir();
    const other = spawn("sleep", ["30"], { stdio: "ignore" });
    onCleanup(() => void other.kill("SIGKILL"));
    mkdirSync(join(dir, "run"));
    writeFileSync(join(dir, "run/dumper.pid"), `${other.pid}\n`);
    const target: Target = {
      ...testTarget("dumper"),
      service: { kind: "process", params: processService.schema.parse({ start: [process.execPath, DUMPER], pidFile: "run/dumper.pid" }) },
    };
    const r = await run(captureSignal, { signal: "SIGUSR2", pattern: "dump.*.txt" }, target, sinkIn(tempDir()), dir);
    expect(r).toMatchObject({ ok: false, detail: expect.stringMatching(new RegExp(`^not signalling pid ${other.pid}: `)) });
    // SIGUSR2 would have ended sleep: it is alive, so nothing was sent.
    expect(other.exitCode).toBeNull();
    expect(
      await captureSignal.preview!(captureSignal.schema.parse({ signal: "SIGUSR2", pattern: "x" }), stepContext(dir, 1000, { target })),
    ).toEqual([expect.stringMatching(/^would not signal: not signalling pid/)]);
  });

  it("a signal nobody answers: the capture fails at its own timeout, and the restart after it runs", async () => {
    const dir = tempDir();
    const { service, pid, target } = await startDumper(dir);
    const steps = [
      { kind: "capture.signal", params: { signal: "SIGQUIT", pattern: "dump.*.txt" }, timeoutMs: 1500 },
      { kind: "service.restart", params: {}, timeoutMs: 20_000 },
    ].map((s, index) => {
      const kind = stepKinds.get(s.kind)!;
      const rendered = kind.render(kind.schema.parse(s.params), createRenderer(buildTemplateVars(target)));
      return { index, name: s.kind, kind: s.kind, step: kind, rendered, description: kind.describe(rendered), timeoutMs: s.timeoutMs };
    });
    const events: IncidentEvent[] = [];
    const outcome = await runPlaybook({
      record: (e) => void events.push(e),
      runId: "r1",
      steps,
      verifyWithinMs: 5000,
      target,
      service,
      baseDir: dir,
      targets: new Map([[target.name, target]]),
      check: async () => undefined,
      observe: () => Promise.reject(new Error("no onlyIf here")),
      stop: new AbortController().signal,
      signal: new AbortController().signal,
      artifacts: sinkIn(tempDir()),
    });
    expect(outcome).toEqual({ outcome: "recovered" });
    const order = events.flatMap((e) => (e.type === "step_started" || e.type === "step_finished" ? [`${e.type}:${e.index}`] : []));
    expect(order).toEqual(["step_started:0", "step_finished:0", "step_started:1", "step_finished:1"]);
    const [capture, restart] = events.filter((e) => e.type === "step_finished");
    expect(capture).toMatchObject({
      outcome: "failed",
      detail: expect.stringMatching(/^capture failed: sent SIGQUIT to pid \d+; no .*; going on$/),
    });
    // The service never answers: only the capture's own timeout can have ended it, and the restart came after.
    expect(restart).toMatchObject({ outcome: "ok" });
    expect(Number(readFileSync(join(dir, "run/dumper.pid"), "utf8"))).not.toBe(pid);
  });
});
