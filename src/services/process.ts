import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { argv, duration } from "../config/fields.js";
import { sleep } from "../lib/clock.js";
import { formatDuration } from "../lib/duration.js";
import { describeError } from "../lib/errors.js";
import { signalProcess, spawnDetached } from "../lib/exec.js";
import { readBootId, readPidFile } from "../lib/proc.js";
import { removeIdentity, stillRunning, writeIdentity } from "../lib/process-identity.js";
import type { StepResult } from "../playbooks/types.js";
import { locateService } from "./process-locate.js";
import { pidFileWritten, watchPidFile } from "./process-watch.js";
import type { ServiceDriver, ServiceKind } from "./types.js";

const schema = z.strictObject({
  start: argv().meta({ description: "The command that starts the service, as argv; it must stay in the foreground" }),
  pidFile: z.string().min(1).meta({ description: "Where medic records the pid it started (relative to the config file)" }),
  cwd: z
    .string()
    .min(1)
    .optional()
    .meta({ description: "Working directory (relative to the config file; default: the config file's directory)" }),
  env: z
    .record(z.string(), z.string())
    .optional()
    .meta({
      description:
        "Environment variables for the service, added to PATH, HOME, USER, LOGNAME, LANG, LANGUAGE, LC_*, TZ " + "and TMPDIR from medic's",
    }),
  inheritEnv: z
    .boolean()
    .optional()
    .meta({
      description:
        "Give the service all of medic's environment (its secrets too) instead of only PATH, HOME, LANG " + "and the like (default false)",
    }),
  logFile: z.string().min(1).optional().meta({ description: "File the service's stdout and stderr are appended to (default: discarded)" }),
  stopSignal: z
    .enum(["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP"])
    .default("SIGTERM")
    .meta({ description: "Signal that asks the service to stop" }),
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

  /** `quiet`: the stop before it already said why the pid file's process is left alone. */
  async function start(signal: AbortSignal, quiet = false): Promise<StepResult> {
    const t0 = performance.now();
    const done = (ok: boolean, detail: string): StepResult => ({ ok, detail, durationMs: performance.now() - t0 });
    if (signal.aborted) return done(false, "aborted");
    const found = await locateService(pidFile, p.start);
    if (found.kind === "service") {
      // The record found it while the pid file did not name it: put the pid file right for other tools.
      if (found.note !== "") await writePidFile(pidFile, found.pid).catch(() => {});
      return done(true, `already running (pid ${found.pid})${found.note === "" ? "" : `; ${found.note}`}`);
    }
    // A pid file naming someone else's process is replaced below; that process is left alone.
    const replaced = found.kind === "foreign" && !quiet ? `${found.reason}; left alone; ` : "";

    let child;
    try {
      child = await spawnDetached(p.start[0]!, p.start.slice(1), {
        cwd: paths.cwd,
        env: p.env,
        inheritEnv: p.inheritEnv,
        logFile: paths.logFile,
      });
    } catch (err) {
      return done(false, `${replaced}${describeError(err)}`);
    }
    try {
      await mkdir(dirname(pidFile), { recursive: true });
      // The record first: a pid file medic wrote always has its record.
      if (child.startTicks !== undefined) {
        await writeIdentity(pidFile, {
          pid: child.pid,
          bootId: readBootId(),
          startTicks: child.startTicks,
          startedAt: new Date().toISOString(),
          program: p.start[0]!,
          ownGroup: true,
        });
      }
      await writePidFile(pidFile, child.pid);
    } catch (err) {
      // Untracked, it could never be stopped: take it down again (its group is the one medic just made).
      if (child.startTicks !== undefined && stillRunning(child.pid, child.startTicks)) signalProcess(child.pid, "SIGKILL", true);
      await removeIdentity(pidFile, child.pid).catch(() => {});
      return done(false, `${replaced}started pid ${child.pid} but could not write pid file ${pidFile}: ${describeError(err)}; killed it`);
    }
    // Its watches follow it from its exit now, not from their next tick.
    pidFileWritten(pidFile);
    // Up for startupGrace counts as started; an exit before that is known at once, not at its end.
    const grace = new AbortController();
    const endGrace = (): void => grace.abort();
    signal.addEventListener("abort", endGrace, { once: true });
    void child.exit.then(endGrace);
    try {
      await sleep(p.startupGrace, grace.signal);
    } catch {
      if (signal.aborted) return done(false, `${replaced}aborted while starting pid ${child.pid}`);
    } finally {
      signal.removeEventListener("abort", endGrace);
    }
    const up = child.startTicks !== undefined && stillRunning(child.pid, child.startTicks);
    if (up) return done(true, `${replaced}started pid ${child.pid}`);

    await removePidFile(pidFile, child.pid);
    const exit = child.exited();
    const how = exit === undefined ? "exited" : exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
    const log = paths.logFile ? `see ${paths.logFile}` : "set logFile to keep its output";
    return done(
      false,
      `${replaced}pid ${child.pid} ${how} within ${formatDuration(p.startupGrace)} of starting [${p.start.join(" ")}]; ${log}`,
    );
  }

  async function stop(signal: AbortSignal): Promise<StepResult> {
    const t0 = performance.now();
    const done = (ok: boolean, detail: string): StepResult => ({ ok, detail, durationMs: performance.now() - t0 });
    if (signal.aborted) return done(false, "aborted");
    const found = await locateService(pidFile, p.start);
    if (found.kind === "none") return done(true, "not running");
    if (found.kind === "gone") {
      await removePidFile(pidFile, found.pid);
      return done(true, `not running (removed stale pid file for pid ${found.pid})`);
    }
    // Never signal what medic cannot prove is its service: as far as medic can tell it is not running.
    // The pid file stays: it may be another program's own (start replaces it).
    if (found.kind === "foreign") return done(true, `not running: ${found.reason}; left alone`);
    const { pid, group } = found;
    const here = (): boolean => stillRunning(pid, found.startTicks);
    const note = found.adopted
      ? " (its pid file was not written by medic, its command is start's: signalled the process, not its group)"
      : found.note === ""
        ? ""
        : ` (${found.note})`;
    try {
      signalProcess(pid, p.stopSignal, group);
      const gone = await waitForExit(here, p.stopTimeout, signal);
      if (signal.aborted) return done(false, `aborted while stopping pid ${pid} (sent ${p.stopSignal})`);
      let detail = `stopped pid ${pid} with ${p.stopSignal} in ${formatDuration(performance.now() - t0)}`;
      if (!gone) {
        // Checked again right before: within stopTimeout the service may have exited and its pid been reused.
        if (here()) signalProcess(pid, "SIGKILL", group);
        if (!(await waitForExit(here, KILL_WAIT_MS, signal))) {
          return done(false, `pid ${pid} survived SIGKILL for ${formatDuration(KILL_WAIT_MS)} (stuck in the kernel?)`);
        }
        detail = `pid ${pid} did not stop within ${formatDuration(p.stopTimeout)} of ${p.stopSignal}; killed with SIGKILL`;
      }
      await removePidFile(pidFile, pid);
      return done(true, detail + note);
    } catch (err) {
      return done(false, `could not stop pid ${pid}: ${describeError(err)}`);
    }
  }

  return {
    describe: () => `process [${p.start.join(" ")}] (pid file ${pidFile})`,
    start: (signal) => start(signal),
    stop,
    async restart(signal) {
      const t0 = performance.now();
      const stopped = await stop(signal);
      if (!stopped.ok) return { ok: false, detail: `stop: ${stopped.detail}`, durationMs: performance.now() - t0 };
      const started = await start(signal, true);
      return { ok: started.ok, detail: `${stopped.detail}; ${started.detail}`, durationMs: performance.now() - t0 };
    },
    watch: (onEvent) => watchPidFile(pidFile, onEvent),
  };
}

/** True once the process is gone (a zombie or a reused pid counts), false when `ms` passed or the signal aborted first. */
async function waitForExit(running: () => boolean, ms: number, signal: AbortSignal): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    if (!running()) return true;
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

/** Removes the pid file and its identity record unless they now name another process (a concurrent start). */
async function removePidFile(path: string, pid: number): Promise<void> {
  if ((await readPidFile(path)) === pid) await rm(path, { force: true });
  await removeIdentity(path, pid);
}
