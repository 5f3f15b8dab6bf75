import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createArtifactSink } from "../src/artifacts/store.js";
import type { Target } from "../src/config/types.js";
import { Redactor } from "../src/lib/redact.js";
import { captureLogs } from "../src/playbooks/steps/capture-logs.js";
import { captureSignal } from "../src/playbooks/steps/capture-signal.js";
import { buildTemplateVars, createRenderer } from "../src/playbooks/template.js";
import type { ArtifactSink, StepKind } from "../src/playbooks/types.js";
import { docker, engineUp, runHttpContainer } from "./docker-harness.js";
import { stepContext, testTarget } from "./fixtures/steps-context.js";
import { cleanup, tempDir, waitUntil } from "./harness.js";

// Capture steps against a real Docker engine: a container's log, a container's dump on a signal.

afterEach(cleanup);

const LIMITS = { maxBytes: 1024 ** 2, incidentBytes: 8 * 1024 ** 2, totalBytes: 64 * 1024 ** 2, retentionMs: 3600_000 };

function sinkIn(stateDir: string): ArtifactSink {
  return createArtifactSink({ stateDir, incident: "feed0001", limits: LIMITS, redactor: new Redactor() });
}

async function run(step: StepKind, params: unknown, target: Target, artifacts: ArtifactSink) {
  const rendered = step.render(step.schema.parse(params), createRenderer(buildTemplateVars(target)));
  return step.run(rendered, stepContext("/", 10_000, { target, artifacts }));
}

describe("capture.logs from docker", () => {
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

describe("capture.signal on a docker service", () => {
  it("signals the container through the engine and keeps the dump it writes to its volume", async () => {
    if (!(await engineUp())) throw new Error("no Docker engine: run bash scripts/setup.sh");
    // busybox sh runs a trap between commands: the dump lands within a second of the signal.
    const script = 'trap "echo dump of $$ > /www/dump.out" USR2; while true; do sleep 1; done';
    const c = await runHttpContainer({ cmd: ["/bin/busybox", "sh", "-c", script] });
    const state = tempDir();
    const target: Target = { ...testTarget(), service: { kind: "docker", params: { container: c.name, stopTimeout: 1000 } } };
    const r = await run(captureSignal, { signal: "SIGUSR2", pattern: "dump.*", dir: c.www, settle: "300ms" }, target, sinkIn(state));
    expect(r).toMatchObject({ ok: true, detail: expect.stringContaining(`that container ${c.name} wrote on SIGUSR2`) });
    expect(readFileSync(join(state, r.artifacts![0]!.path), "utf8")).toBe("dump of 1\n");
    expect((await c.inspect()).State.Running).toBe(true);
  });
});
