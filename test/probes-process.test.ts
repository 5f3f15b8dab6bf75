import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readProc } from "../src/lib/proc.js";
import { processProbe } from "../src/probes/process.js";
import { runProbe } from "../src/probes/run.js";
import type { Observation, Probe } from "../src/probes/types.js";

let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "medic-probes-process-"));
});

afterEach(async () => {
  await Promise.all(children.splice(0).map(killAndWait));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function start(file: string, args: string[]): ChildProcess {
  const child = spawn(file, args, { stdio: "ignore" });
  children.push(child);
  return child;
}

function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

const probeOf = (params: Record<string, unknown>): Probe =>
  processProbe.create(processProbe.schema.parse(params), { target: "app", timeoutMs: 2000, baseDir: dir });
const run = (probe: Probe): Promise<Observation> => runProbe(probe, { target: "app", timeoutMs: 2000 });

async function pollUntil(probe: Probe, done: (obs: Observation) => boolean, withinMs = 5000): Promise<Observation> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const obs = await run(probe);
    if (done(obs) || Date.now() > deadline) return obs;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("process probe against real processes", () => {
  it("pid file (relative to baseDir): alive with resident memory", async () => {
    const child = start("sleep", ["60"]);
    await writeFile(join(dir, "sleep.pid"), `${child.pid}\n`);
    const obs = await run(probeOf({ pidFile: "sleep.pid" }));
    expect(obs.ok).toBe(true);
    expect(obs.error).toBeUndefined();
    expect(obs.facts).toMatchObject({ pid: child.pid, alive: true });
    expect(obs.facts.rssBytes).toBeGreaterThan(0);
    expect(obs.facts.state).toMatch(/^[RSD]$/);
    expect(obs.facts.memoryUtilization).toBeUndefined();
  });

  it("memoryLimit gives memoryUtilization in (0, 1]", async () => {
    const child = start("sleep", ["60"]);
    await writeFile(join(dir, "mem.pid"), String(child.pid));
    const obs = await run(probeOf({ pidFile: join(dir, "mem.pid"), memoryLimit: "1GiB" }));
    expect(obs.facts.memoryUtilization).toBeGreaterThan(0);
    expect(obs.facts.memoryUtilization).toBeLessThanOrEqual(1);
    expect(obs.facts.memoryUtilization).toBeCloseTo((obs.facts.rssBytes ?? 0) / 1024 ** 3, 9);
  });

  it("match by regex finds the process; after kill -9 it is not alive; a new one is found again", async () => {
    const arg = `60.${String(process.pid).padStart(7, "0")}${Math.floor(Math.random() * 1e6)}`;
    const first = start("sleep", [arg]);
    const probe = probeOf({ match: `^sleep ${arg.replace(".", "\\.")}$` });
    const alive = await pollUntil(probe, (o) => o.ok);
    expect(alive.facts).toMatchObject({ pid: first.pid, alive: true });

    first.kill("SIGKILL");
    const dead = await pollUntil(probe, (o) => !o.ok);
    expect(dead.ok).toBe(false);
    expect(dead.facts.alive).toBe(false);
    expect(dead.error?.code).toBe("ESRCH");

    const second = start("sleep", [arg]);
    const again = await pollUntil(probe, (o) => o.ok);
    expect(again.facts.pid).toBe(second.pid);
  });

  it("a real zombie is dead: ESRCH, 'exited (zombie)'", async () => {
    const pidFile = join(dir, "zombie.pid");
    // The child exits only once its parent has exec'd `sleep 30`, which never waits, so it stays a zombie.
    // (A child that exits at once is sometimes reaped by sh before the exec: 3 runs in 200 here.)
    start("sh", ["-c", '(while [ "$(cat /proc/$$/comm)" != sleep ]; do sleep 0.01; done) & echo $! > "$1"; exec sleep 30', "sh", pidFile]);
    const probe = probeOf({ pidFile });
    const obs = await pollUntil(probe, (o) => o.facts.state === "Z");
    expect(obs.facts.state).toBe("Z");
    expect((await readProc(obs.facts.pid ?? -1))?.state).toBe("Z");
    expect(obs.ok).toBe(false);
    expect(obs.facts.alive).toBe(false);
    expect(obs.error?.code).toBe("ESRCH");
    expect(obs.error?.message).toContain("exited (zombie)");
  });

  it("missing pid file: ENOENT naming the file", async () => {
    const obs = await run(probeOf({ pidFile: "nope.pid" }));
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ENOENT");
    expect(obs.error?.message).toContain(join(dir, "nope.pid"));
  });

  it("a pid file without a pid: EINVAL", async () => {
    await writeFile(join(dir, "empty.pid"), "");
    const obs = await run(probeOf({ pidFile: "empty.pid" }));
    expect(obs.error?.code).toBe("EINVAL");
  });

  it("a pattern nothing matches: ESRCH", async () => {
    const obs = await run(probeOf({ match: "^no-such-program-[0-9a-f]{32}$" }));
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ESRCH");
  });
});
