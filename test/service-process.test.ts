import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processService } from "../src/services/process.js";
import { PidTicker } from "../src/services/pid-ticker.js";
import { watchPidFile } from "../src/services/process-watch.js";
import type { WatchEvent } from "../src/probes/types.js";
import { serviceRestart } from "../src/playbooks/steps/service.js";
import { isAlive } from "../src/lib/proc.js";
import { ALLOWED, DUMP_ENV, MEDIC_LOCALE, MEDIC_SECRETS, withMedicEnvironment } from "./fixtures/child-env.js";
import { ask, FIXTURE, fixtureService as fixtureServiceIn, NODE } from "./fixtures/process-service.js";
import { killLeftovers, stepContext, waitGone } from "./fixtures/steps-context.js";

let dir: string;
const pids = new Set<number>();
const never = () => new AbortController().signal;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "medic-service-process-"));
});
afterAll(async () => {
  await killLeftovers(pids, /steps-service-server|process\.exit/);
  await rm(dir, { recursive: true, force: true });
});

const fixtureService = (name: string, extra: Record<string, unknown> = {}) => fixtureServiceIn(dir, name, extra);

async function pidIn(file: string): Promise<number> {
  const pid = Number((await readFile(file, "utf8")).trim());
  pids.add(pid);
  return pid;
}

describe("process service", () => {
  it("starts, serves, is a no-op when running, stops with SIGTERM", async () => {
    const svc = fixtureService("web");
    expect(svc.driver.describe()).toBe(`process [${NODE} ${FIXTURE}] (pid file ${svc.pidFile})`);

    const started = await svc.driver.start(never());
    const pid = await pidIn(svc.pidFile);
    expect(started).toMatchObject({ ok: true, detail: `started pid ${pid}` });
    expect(await ask(svc.portFile, pid)).toBe(String(pid));

    const again = await svc.driver.start(never());
    expect(again).toMatchObject({ ok: true, detail: `already running (pid ${pid})` });
    expect(await pidIn(svc.pidFile)).toBe(pid);

    const stopped = await svc.driver.stop(never());
    expect(stopped.ok).toBe(true);
    expect(stopped.detail).toMatch(new RegExp(`^stopped pid ${pid} with SIGTERM in `));
    expect(await isAlive(pid)).toBe(false);
    expect(existsSync(svc.pidFile)).toBe(false);
    expect(await readFile(svc.logFile, "utf8")).toContain("SIGTERM: closing");

    expect(await svc.driver.stop(never())).toMatchObject({ ok: true, detail: "not running" });
  });

  it("restarts to a new pid that serves again (through the service.restart step)", async () => {
    const svc = fixtureService("restart");
    expect((await svc.driver.start(never())).ok).toBe(true);
    const first = await pidIn(svc.pidFile);
    await ask(svc.portFile, first);

    const result = await serviceRestart.run({}, stepContext(dir, 30_000, { service: svc.driver }));
    const second = await pidIn(svc.pidFile);
    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(new RegExp(`^stopped pid ${first} with SIGTERM in .+; started pid ${second}$`));
    expect(result.durationMs).toBeGreaterThan(0);
    expect(second).not.toBe(first);
    expect(await isAlive(first)).toBe(false);
    expect(await ask(svc.portFile, second)).toBe(String(second));
    expect((await svc.driver.stop(never())).ok).toBe(true);
  });

  it("knows a service it started is dead from its exit (no tick), and follows the one it starts next the same way", async () => {
    const svc = fixtureService("watched");
    // A ticker that never ticks within the test: every event below comes from a child's exit.
    const ticker = new PidTicker(() => 3_600_000);
    const events: WatchEvent[] = [];
    let wake = (): void => {};
    const unwatch = watchPidFile(svc.pidFile, (e) => (events.push(e), wake()), ticker);
    const killed = async (pid: number): Promise<void> => {
      const heard = new Promise<void>((ok) => (wake = ok));
      process.kill(pid, "SIGKILL");
      await heard;
    };
    try {
      // Down at first: the watch waits on the ticker for a pid file.
      expect(ticker.size).toBe(1);
      expect((await svc.driver.start(never())).ok).toBe(true);
      const first = await pidIn(svc.pidFile);
      // The start told the watch: it follows its child from its exit, off the ticker.
      expect(ticker.size).toBe(0);
      await killed(first);
      expect(events).toEqual([{ what: `pid ${first} (from ${svc.pidFile}) exited`, confirmsFailure: true }]);

      expect((await svc.driver.start(never())).ok).toBe(true);
      const second = await pidIn(svc.pidFile);
      expect(second).not.toBe(first);
      expect(ticker.size).toBe(0);
      await killed(second);
      expect(events.slice(1)).toEqual([{ what: `pid ${second} (from ${svc.pidFile}) exited`, confirmsFailure: true }]);
    } finally {
      unwatch();
    }
    expect(ticker.armed).toBe(false);
  });

  it("SIGKILLs a service that ignores SIGTERM after stopTimeout", async () => {
    const svc = fixtureService("stubborn", { stopTimeout: "500ms", env: { PORT_FILE: join(dir, "stubborn.port"), IGNORE_TERM: "1" } });
    expect((await svc.driver.start(never())).ok).toBe(true);
    const pid = await pidIn(svc.pidFile);
    await ask(svc.portFile, pid);
    const t0 = Date.now();
    const stopped = await svc.driver.stop(never());
    expect(stopped).toMatchObject({ ok: true, detail: `pid ${pid} did not stop within 500ms of SIGTERM; killed with SIGKILL` });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(await waitGone(pid)).toBe(true);
    expect(existsSync(svc.pidFile)).toBe(false);
    expect(await readFile(svc.logFile, "utf8")).toContain("ignoring SIGTERM");
  });

  it("gives up stopping when aborted", async () => {
    const svc = fixtureService("aborted", { stopTimeout: "30s", env: { PORT_FILE: join(dir, "aborted.port"), IGNORE_TERM: "1" } });
    expect((await svc.driver.start(never())).ok).toBe(true);
    const pid = await pidIn(svc.pidFile);
    await ask(svc.portFile, pid);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const stopped = await svc.driver.stop(ac.signal);
    expect(stopped.ok).toBe(false);
    expect(stopped.detail).toMatch(/aborted/);
    expect(stopped.durationMs!).toBeLessThan(10_000);
    expect(await isAlive(pid)).toBe(true);
    process.kill(pid, "SIGKILL");
    expect(await waitGone(pid)).toBe(true);
  });

  it("fails a start command that exits within startupGrace as soon as it exits, naming the exit code and the log", async () => {
    // A grace far longer than Node takes to start on a loaded machine: the exit ends the wait, not the grace.
    const params = processService.schema.parse({
      start: [NODE, "-e", "process.exit(3)"],
      pidFile: "run/quits.pid",
      logFile: "log/quits.log",
      startupGrace: "1h",
    });
    const driver = processService.create(params, { target: "quits", baseDir: dir });
    const result = await driver.start(never());
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^pid \d+ exited with code 3 within 1h of starting/);
    expect(result.detail).toContain(join(dir, "log", "quits.log"));
    expect(existsSync(join(dir, "run", "quits.pid"))).toBe(false);
  });

  it("fails a missing program without throwing", async () => {
    const params = processService.schema.parse({ start: ["/nonexistent/medic-no-such-server"], pidFile: "run/missing.pid" });
    const result = await processService.create(params, { target: "missing", baseDir: dir }).start(never());
    expect(result.ok).toBe(false);
    expect(result.detail).toContain("cannot start /nonexistent/medic-no-such-server: program not found");
    expect(existsSync(join(dir, "run", "missing.pid"))).toBe(false);
  });

  it("ignores a stale pid file naming a dead process", async () => {
    const svc = fixtureService("stale");
    // A pid that certainly exited: our own short-lived child, reaped once its exit event has come
    // (however long Node takes to start on a loaded machine).
    const quits = spawn(NODE, ["-e", "0"], { stdio: "ignore" });
    const [code] = await once(quits, "exit");
    expect(code).toBe(0);
    const gone = quits.pid!;
    await mkdir(dirname(svc.pidFile), { recursive: true });
    await writeFile(svc.pidFile, `${gone}\n`);
    expect(await svc.driver.stop(never())).toMatchObject({ ok: true, detail: `not running (removed stale pid file for pid ${gone})` });
    await writeFile(svc.pidFile, `${gone}\n`);
    const started = await svc.driver.start(never());
    const pid = await pidIn(svc.pidFile);
    expect(started).toMatchObject({ ok: true, detail: `started pid ${pid}` });
    expect((await svc.driver.stop(never())).ok).toBe(true);
  });

  describe("environment", () => {
    withMedicEnvironment();

    it("gives the service PATH, the locale and the like plus its env:, never medic's secrets; inheritEnv: true gives it everything", async () => {
      for (const [name, inheritEnv] of [
        ["env-clean", false],
        ["env-all", true],
      ] as const) {
        const out = join(dir, `${name}.json`);
        const params = processService.schema.parse({
          start: [NODE, "-e", DUMP_ENV],
          pidFile: `run/${name}.pid`,
          env: { OUT: out, KEEP_RUNNING: "1" },
          ...(inheritEnv && { inheritEnv }),
          startupGrace: "1ms",
        });
        const driver = processService.create(params, { target: name, baseDir: dir });
        expect((await driver.start(never())).ok).toBe(true);
        await pidIn(join(dir, "run", `${name}.pid`));
        const env = JSON.parse(await waitForFile(out)) as Record<string, string>;
        expect((await driver.stop(never())).ok).toBe(true);
        expect(env).toMatchObject({ ...MEDIC_LOCALE, PATH: process.env.PATH, OUT: out, KEEP_RUNNING: "1" });
        if (inheritEnv) {
          expect(env).toMatchObject(MEDIC_SECRETS);
        } else {
          expect(Object.keys(env).filter((k) => !ALLOWED.test(k) && k !== "OUT" && k !== "KEEP_RUNNING")).toEqual([]);
          for (const secret of Object.values(MEDIC_SECRETS)) expect(JSON.stringify(env)).not.toContain(secret);
        }
      }
    });
  });

  it("validates its config", () => {
    expect(processService.schema.safeParse({ start: "node server.js", pidFile: "x.pid" }).success).toBe(false);
    expect(processService.schema.safeParse({ start: ["node"], pidFile: "x.pid", stopSignal: "SIGKILL" }).success).toBe(false);
    expect(processService.schema.safeParse({ start: ["node"], pidFile: "x.pid", extra: 1 }).success).toBe(false);
    expect(processService.schema.parse({ start: ["node"], pidFile: "x.pid" })).toMatchObject({
      stopSignal: "SIGTERM",
      stopTimeout: 10_000,
      startupGrace: 500,
    });
  });

  it("reports a missing service from the service steps", async () => {
    const result = await serviceRestart.run(serviceRestart.schema.parse(null), stepContext(dir, 1000));
    expect(result.ok).toBe(false);
    expect(result.detail).toContain("has no service to restart");
  });
});

/** The contents of `file` once a process has written it (write-then-read races are retried until then). */
async function waitForFile(file: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await readFile(file, "utf8").catch(() => "");
    if (text.endsWith("}")) return text;
    if (Date.now() > deadline) throw new Error(`nothing written to ${file}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
