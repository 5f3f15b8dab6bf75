import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createArtifactSink } from "../src/artifacts/store.js";
import type { Target } from "../src/config/types.js";
import { runCommand } from "../src/lib/exec.js";
import { Redactor } from "../src/lib/redact.js";
import { captureLogs } from "../src/playbooks/steps/capture-logs.js";
import { stepKinds } from "../src/playbooks/steps/registry.js";
import { buildTemplateVars, createRenderer } from "../src/playbooks/template.js";
import type { ArtifactSink, StepKind } from "../src/playbooks/types.js";
import { docker, engineUp, runHttpContainer } from "./docker-harness.js";
import { stepContext, testTarget } from "./fixtures/steps-context.js";
import { cleanup, tempDir, waitUntil } from "./harness.js";

// Capture steps against real parts: real files, the machine's journalctl, a real container's log.

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

  it("docker logs: the tail of a real container's log, stdout and stderr demultiplexed, through the engine API", async () => {
    if (!(await engineUp())) throw new Error("no Docker engine: run bash scripts/setup.sh");
    const script = 'for i in $(seq 1 300); do echo "out $i"; echo "err $i" >&2; done; exec sleep 3600';
    const c = await runHttpContainer({ cmd: ["/bin/busybox", "sh", "-c", script] });
    await waitUntil(
      async () => {
        const all = (await docker.getContainer(c.name).logs({ stdout: true, stderr: true, tail: 600 })) as unknown as Buffer;
        return all.includes("out 300\n") && all.includes("err 300\n");
      },
      20_000,
      "the container to write its lines",
    );
    const state = tempDir();
    const target: Target = { ...testTarget(), service: { kind: "docker", params: { container: c.name, stopTimeout: 1000 } } };
    // The engine interleaves the two streams as its copiers wrote them, so the tail asked for covers both whole.
    const r = await run(captureLogs, { lines: 600 }, target, sinkIn(state));
    expect(r).toMatchObject({ ok: true, detail: expect.stringContaining(`docker logs of ${c.name}`) });
    const kept = readFileSync(join(state, r.artifacts![0]!.path), "utf8");
    const body = kept
      .trimEnd()
      .split("\n")
      .map((l) => l.replace(/^(stderr: )?\S+ /, "$1"));
    expect(body).toHaveLength(600);
    expect(body).toContain("out 300");
    expect(body).toContain("stderr: err 300");
    expect(kept).not.toMatch(/[\u0000-\u0008]/);
  });
});
