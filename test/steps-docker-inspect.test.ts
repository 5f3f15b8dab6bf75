import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Target } from "../src/config/types.js";
import { Redactor } from "../src/lib/redact.js";
import { dockerInspect } from "../src/playbooks/steps/docker-inspect.js";
import { HIDDEN_LABEL, secretLabel, type Inspected } from "../src/playbooks/steps/docker-inspect-view.js";
import { stepKinds } from "../src/playbooks/steps/registry.js";
import { buildTemplateVars, createRenderer } from "../src/playbooks/template.js";
import { dirSink, type DirSink } from "./fixtures/artifact-dir.js";
import { startTcpServer } from "./fixtures/probes-servers.js";
import { stepContext, testTarget } from "./fixtures/steps-context.js";
import { containerName, engineUp, runHttpContainer } from "./docker-harness.js";
import { cleanup, tempDir } from "./harness.js";

// docker.inspect against the real engine: a container failing its healthcheck, one the kernel OOM-killed.

afterEach(cleanup);
beforeAll(async () => {
  if (!(await engineUp())) throw new Error("no Docker engine: run bash scripts/setup.sh");
});

const ENV_SECRET = "env-secret-Qx71";
const LABEL_SECRET = "label-secret-Pw88";
const URL_SECRET = "url-pw-5531";
const MIB = 1024 ** 2;

function serviceTarget(container: string): Target {
  return { ...testTarget("orders-api", {}), service: { kind: "docker", params: { container, stopTimeout: 1000 } } };
}

async function inspect(
  params: unknown,
  target: Target,
  sink: DirSink | null = dirSink(tempDir("medic-inspect-"), MIB, new Redactor()),
  timeoutMs = 10_000,
) {
  const rendered = dockerInspect.render(dockerInspect.schema.parse(params), createRenderer(buildTemplateVars(target)));
  const result = await dockerInspect.run(rendered, stepContext("/", timeoutMs, { target, ...(sink && { artifacts: sink }) }));
  const text = sink?.saved[0] ? sink.read(sink.saved[0]).toString("utf8") : "";
  const json = sink?.saved[1] ? (JSON.parse(sink.read(sink.saved[1]).toString("utf8")) as Inspected) : undefined;
  return { result, text, json, sink };
}

async function waitUntil(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("docker.inspect", () => {
  it("keeps a failing healthcheck's state and log, and never the environment or a secret-looking label", async () => {
    const c = await runHttpContainer({
      healthcheck: true,
      env: [`DB_PASSWORD=${ENV_SECRET}`, "PLAIN=visible-env"],
      labels: { team: "payments", "db.password": LABEL_SECRET, "backup.url": `s3://backup:${URL_SECRET}@minio:9000/b` },
    });
    c.setHealthy(false);
    await waitUntil(async () => (await c.inspect()).State.Health?.Status === "unhealthy", 30_000, "unhealthy");
    const { result, text, json, sink } = await inspect(null, serviceTarget(c.name));
    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(
      new RegExp(
        `^inspected ${c.name}: running, unhealthy \\(failing streak \\d+\\), 0 restarts; kept docker-inspect-1\\.txt, docker-inspect-2\\.json$`,
      ),
    );
    expect(json!.Id).toBe(c.id);
    expect(json!.State).toMatchObject({ Status: "running", Running: true, OOMKilled: false });
    expect(json!.State.Health!.Status).toBe("unhealthy");
    expect(json!.State.Health!.Log!.at(-1)!.ExitCode).toBe(1);
    expect(json!.Config!.Labels).toEqual({
      team: "payments",
      "db.password": HIDDEN_LABEL,
      "backup.url": "s3://backup:[secret]@minio:9000/b",
    });
    expect(text).toMatch(/\nhealth: unhealthy, failing streak \d+, checked every 300ms\nlast \d healthchecks, oldest first:\n/);
    expect(text).toMatch(/\n {2}\d{4}-\d\d-\d\dT[^ ]+: exit 1 in /);
    expect(text).toContain(`status: running, OOM killed: no, restarts: 0`);
    // Nothing of the environment, the command or a hidden label anywhere in what was kept.
    const kept = readdirSync(join(sink!.stateDir, "artifacts", "inc-7"))
      .map((f) => readFileSync(join(sink!.stateDir, "artifacts", "inc-7", f), "utf8"))
      .join("\n");
    for (const secret of [ENV_SECRET, "visible-env", LABEL_SECRET, URL_SECRET, "httpd"]) expect(kept).not.toContain(secret);
    expect(JSON.stringify(json)).not.toMatch(/"Env"|"Cmd"|"Entrypoint"|"Test"/);
  }, 60_000);

  it("keeps an OOM-killed container's exit, and finds it through the docker probe", async () => {
    const c = await runHttpContainer({
      memory: 32 * MIB,
      cmd: ["/bin/busybox", "sh", "-c", 'x=$(head -c 30000000 /dev/zero | tr "\\0" a); sleep 1000'],
    });
    await waitUntil(async () => (await c.inspect()).State.OOMKilled, 45_000, "the OOM kill");
    const target = { ...testTarget("orders-api", {}), probe: { kind: "docker", params: { container: c.name } } };
    const { result, text, json } = await inspect(null, target);
    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(new RegExp(`^inspected ${c.name}: exited exit 137, OOM killed, 0 restarts; kept `));
    expect(json!.State).toMatchObject({ Status: "exited", Running: false, OOMKilled: true, ExitCode: 137 });
    expect(text).toContain("status: exited, exit code 137, OOM killed: YES, restarts: 0");
    expect(text).toMatch(/\nstarted \d{4}-[^ ]+, finished \d{4}-[^ ]+ \(ran [^)]+\)\n/);
    expect(text).toContain("memory limit 32MiB");
    expect(text).toContain("health: no healthcheck");
  }, 60_000);

  it("a container that does not exist fails and keeps nothing", async () => {
    const name = containerName("medic-absent");
    const { result, sink } = await inspect({ container: name }, testTarget());
    expect(result).toMatchObject({
      ok: false,
      detail: `inspect failed: container ${name} does not exist (hint: check the name with docker ps -a)`,
    });
    expect(sink!.saved).toEqual([]);
  });

  it("an engine that never answers fails within the timeout", async () => {
    const silent = await startTcpServer();
    try {
      const { result, sink } = await inspect({ container: "web", host: `tcp://127.0.0.1:${silent.port}` }, testTarget(), undefined, 500);
      expect(result).toMatchObject({ ok: false, detail: "inspect failed: timed out after 500ms on web" });
      expect(sink!.saved).toEqual([]);
    } finally {
      await silent.close();
    }
  });

  it("with no artifact store for the run, fails without asking the engine", async () => {
    let connections = 0;
    const engine = await startTcpServer(() => connections++);
    try {
      const { result } = await inspect({ container: "web", host: `tcp://127.0.0.1:${engine.port}` }, testTarget(), null);
      expect(result).toMatchObject({
        ok: false,
        detail: "nowhere to keep evidence here (no artifact store for this run); nothing was captured (would inspect web)",
      });
      expect(connections).toBe(0);
    } finally {
      await engine.close();
    }
  });

  it("is registered, local only on a socket, and says in a plan what it would capture", async () => {
    expect(stepKinds.get("docker.inspect")).toBe(dockerInspect);
    expect(dockerInspect).toMatchObject({ capture: true, idempotent: true, needsService: false });
    const rendered = dockerInspect.schema.parse(null);
    expect(dockerInspect.describe(rendered)).toBe("capture the state and healthcheck log of the target's container");
    expect(await dockerInspect.preview!(rendered, stepContext("/", 1000, { target: serviceTarget("orders-api") }))).toEqual([
      "would capture the state and last healthchecks of container orders-api (orders-api's docker service) on /var/run/docker.sock",
    ]);
    expect(dockerInspect.schema.safeParse({ container: "-rm" }).success).toBe(false);
    expect(["db.password", "API_KEY", "auth-token", "x.session", "tls.privatekey"].every(secretLabel)).toBe(true);
    expect(["team", "org.opencontainers.image.authors", "monkey", "com.docker.compose.project"].some(secretLabel)).toBe(false);
  });
});
