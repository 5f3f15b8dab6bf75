import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { argv, duration } from "../config/fields.js";
import { sleep } from "../lib/clock.js";
import { formatDuration } from "../lib/duration.js";
import { describeError } from "../lib/errors.js";
import { signalProcess, spawnDetached } from "../lib/exec.js";
import { isAlive, readPidFile } from "../lib/proc.js";
import type { StepResult } from "../playbooks/types.js";
import { watchPidFile } from "./process-watch.js";
import type { ServiceDriver, ServiceKind } from "./types.js";

const schema = z.strictObject({
  start: argv().meta({ description: "The command that starts the service, as argv; it must stay in the foreground" }),
  pidFile: z.string().min(1).meta({ description: "Where medic records the pid it started (relative to the config file)" }),
  cwd: z.string().min(1).optional().meta({ description: "Working directory (relative to the config file; default: the config file's directory)" }),
  env: z.record(z.string(), z.string()).optional().meta({ description: "Environment variables added to medic's own" }),
  logFile: z.string().min(1).optional().meta({ description: "File the service's stdout and stderr are appended to (default: discarded)" }),
  stopSignal: z.enum(["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP"]).default("SIGTERM").meta({ description: "Signal that asks the service to stop" }),
  stopTimeout: duration().default(10_000).meta({ description: "How long to wait after stopSignal before SIGKILL" }),
  startupGrace: duration().default(500).meta({ description: "How long the service must stay up after starting to count as started" }),
});

type Params = z.output<typeof schema>;

const POLL_MS = 50;
/** How long a SIGKILLed process gets to vanish before medic gives up on it. */
const KILL_WAIT_MS = 5000;

/** A program medic starts itself, tracked by a pid file: `service: { process: { start: [...], pidFile } }`. */
export const processService: ServiceKind<typeof schema> = {
  schema,
  create(params, ctx) {
    const base = ctx.baseDir;
    const paths = {
      pidFile: resolve(base, params.pidFile),
      cwd: resolve(base, params.cwd ?? "."),
      logFile: params.logFile === undefined ? undefined : resolve(base, params.logFile),
    };
    return createDriver(params, paths);
  },
  describe: (p) => `process [${p.start.join(" ")}] (pid file ${p.pidFile})`,
};

function createDriver(p: Params, paths: { pidFile: string; cwd: string; logFile: string | undefined }): ServiceDriver {
  const { pidFile } = paths;

  async function start(signal: AbortSignal): Promise<StepResult> {
    const t0 = performance.now();
    const done = (ok: boolean, detail: string): StepResult => ({ ok, detail, durationMs: performance.now() - t0 });
    if (signal.aborted) return done(false, "aborted");
    const old = await readPidFile(pidFile);
    if (old !== undefined && (await isAlive(old))) return done(true, `already running (pid ${old})`);

    let child;
    try {
      child = await spawnDetached(p.start[0]!, p.start.slice(1), { cwd: paths.cwd, env: p.env, logFile: paths.logFile });
    } catch (err) {
      return done(false, describeError(err));
    }
    try {
      await writePidFile(pidFile, child.pid);
    } catch (err) {
      // Untracked, it could never be stopped: take it down again.
      signalProcess(child.pid, "SIGKILL", true);
      return done(false, `started pid ${child.pid} but could not write pid file ${pidFile}: ${describeError(err)}; killed it`);
    }
    try {
      await sleep(p.startupGrace, signal);
    } catch {
      return done(false, `aborted while starting pid ${child.pid}`);
    }
    if (await isAlive(child.pid)) return done(true, `started pid ${child.pid}`);

    await removePidFile(pidFile, child.pid);
    const exit = child.exited();
    const how = exit === undefined ? "exited"
      : exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
    const log = paths.logFile ? `see ${paths.logFile}` : "set logFile to keep its output";
    return done(false, `pid ${child.pid} ${how} within ${formatDuration(p.startupGrace)} of starting [${p.start.join(" ")}]; ${log}`);
  }

  async function stop(signal: AbortSignal): Promise<StepResult> {
    const t0 = performance.now();
    const done = (ok: boolean, detail: string): StepResult => ({ ok, detail, durationMs: performance.now() - t0 });
    if (signal.aborted) return done(false, "aborted");
    const pid = await readPidFile(pidFile);
    if (pid === undefined) return done(true, "not running");
    if (!(await isAlive(pid))) {
      await removePidFile(pidFile, pid);
      return done(true, `not running (removed stale pid file for pid ${pid})`);
    }
    try {
      signalProcess(pid, p.stopSignal, true);
      const gone = await waitForExit(pid, p.stopTimeout, signal);
      if (signal.aborted) return done(false, `aborted while stopping pid ${pid} (sent ${p.stopSignal})`);
      let detail = `stopped pid ${pid} with ${p.stopSignal} in ${formatDuration(performance.now() - t0)}`;
      if (!gone) {
        signalProcess(pid, "SIGKILL", true);
        if (!(await waitForExit(pid, KILL_WAIT_MS, signal))) {
          return done(false, `pid ${pid} survived SIGKILL for ${formatDuration(KILL_WAIT_MS)} (stuck in the kernel?)`);
        }
        detail = `pid ${pid} did not stop within ${formatDuration(p.stopTimeout)} of ${p.stopSignal}; killed with SIGKILL`;
      }
      await removePidFile(pidFile, pid);
      return done(true, detail);
    } catch (err) {
      return done(false, `could not stop pid ${pid}: ${describeError(err)}`);
    }
  }

  return {
    describe: () => `process [${p.start.join(" ")}] (pid file ${pidFile})`,
    start,
    stop,
    async restart(signal) {
      const t0 = performance.now();
      const stopped = await stop(signal);
      if (!stopped.ok) return { ok: false, detail: `stop: ${stopped.detail}`, durationMs: performance.now() - t0 };
      const started = await start(signal);
      return { ok: started.ok, detail: `${stopped.detail}; ${started.detail}`, durationMs: performance.now() - t0 };
    },
    watch: (onEvent) => watchPidFile(pidFile, onEvent),
  };
}

/** True once `pid` is gone (a zombie counts), false when `ms` passed or the signal aborted first. */
async function waitForExit(pid: number, ms: number, signal: AbortSignal): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    if (!(await isAlive(pid))) return true;
    if (signal.aborted || performance.now() >= deadline) return false;
    try {
      await sleep(Math.min(POLL_MS, Math.max(1, deadline - performance.now())), signal);
    } catch {
      return false;
    }
  }
}

/** Write-then-rename, so a reader never sees a half-written pid. */
async function writePidFile(path: string, pid: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${pid}\n`);
  await rename(tmp, path);
}

/** Removes the pid file unless it now names another process (a concurrent start). */
async function removePidFile(path: string, pid: number): Promise<void> {
  if ((await readPidFile(path)) === pid) await rm(path, { force: true });
}
