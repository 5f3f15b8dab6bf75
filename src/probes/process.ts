import { access } from "node:fs/promises";
import { resolve as resolvePath } from "node:path";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { bytes } from "../config/fields.js";
import { describeError, errorCode } from "../lib/errors.js";
import { isRunningState, readCmdline, readPidFile, readProc, findProcesses } from "../lib/proc.js";
import { checkPid } from "../lib/process-identity.js";
import type { Facts, Observation, Probe, ProbeKind } from "./types.js";

const compiles = (source: string): boolean => {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
};

const schema = z
  .strictObject({
    pidFile: z.string().min(1).optional().meta({ description: "Pid file to read; relative paths resolve against the config's directory" }),
    match: z
      .string()
      .min(1)
      .refine(compiles, { message: "not a valid regular expression (hint: escape special characters like ( ) [ ] with \\)" })
      .optional()
      .meta({ description: "Regular expression over the process's command line (arguments joined by spaces); the first match is probed" }),
    memoryLimit: bytes()
      .refine((n) => n > 0, { message: "memoryLimit must be more than 0" })
      .optional()
      .meta({ description: "Memory the process may use; sets memoryUtilization = RSS / limit" }),
  })
  .refine((p) => (p.pidFile === undefined) !== (p.match === undefined), {
    message: 'set exactly one of pidFile or match (hint: pidFile: /run/app.pid, or match: "^/usr/bin/app ")',
  });

type ProcessParams = z.output<typeof schema>;

/** The `process` probe: is the process from a pid file (or the first matching one) running, and how big. */
export const processProbe: ProbeKind<typeof schema> = {
  schema,
  create(params, ctx): Probe {
    const locate =
      params.pidFile !== undefined ? fromPidFile(resolvePath(ctx.baseDir, params.pidFile)) : fromMatch(new RegExp(params.match ?? ""));
    return { run: (signal) => probeProcess(params, locate, ctx.target, signal) };
  },
  describe(params) {
    const what = params.pidFile !== undefined ? `pid file ${params.pidFile}` : `matching /${params.match ?? ""}/`;
    return `process ${what}`;
  },
};

type Located = { pid: number } | { code: string; message: string; pid?: number };
type Locate = () => Promise<Located>;

function fromPidFile(path: string): Locate {
  return async () => {
    const pid = await readPidFile(path);
    if (pid !== undefined) {
      // A pid medic's record says is not the process it started is not running, whatever holds the
      // number now. Without a record (another program wrote the pid file) the pid is taken at its word.
      const check = await checkPid(path, pid);
      return check.kind === "reused" ? { code: "PID_REUSED", message: check.reason, pid } : { pid };
    }
    // Only on failure: tell a missing file apart from one that holds no pid (yet).
    const exists = await access(path).then(
      () => true,
      () => false,
    );
    return exists
      ? { code: "EINVAL", message: `pid file ${path} does not hold a pid` }
      : { code: "ENOENT", message: `pid file ${path} does not exist` };
  };
}

// A /proc scan reads every process's cmdline; remember the last match so a steady state costs
// two reads per probe, and scan only when that process is gone.
function fromMatch(pattern: RegExp): Locate {
  let last: number | undefined;
  return async () => {
    if (last !== undefined) {
      const argv = await readCmdline(last);
      if (argv && argv.length > 0 && pattern.test(argv.join(" "))) return { pid: last };
    }
    const pids = await findProcesses(pattern);
    last = pids.length > 0 ? Math.min(...pids) : undefined;
    return last !== undefined ? { pid: last } : { code: "ESRCH", message: `no running process matches /${pattern.source}/` };
  };
}

async function probeProcess(params: ProcessParams, locate: Locate, target: string, signal: AbortSignal): Promise<Observation> {
  const at = Date.now();
  const start = performance.now();
  const facts: Facts = {};
  const done = (ok: boolean, error?: { code: string; message: string }): Observation => {
    const obs: Observation = { target, at, ok, latencyMs: performance.now() - start, facts };
    if (error) obs.error = error;
    return obs;
  };
  const timedOut = (): Observation => done(false, { code: "ETIMEDOUT", message: "process probe cancelled" });
  try {
    if (signal.aborted) return timedOut();
    const found = await locate();
    if (signal.aborted) return timedOut();
    if ("code" in found) {
      facts.alive = false;
      if (found.pid !== undefined) facts.pid = found.pid;
      return done(false, { code: found.code, message: found.message });
    }
    facts.pid = found.pid;
    const info = await readProc(found.pid);
    if (!info) {
      facts.alive = false;
      return done(false, { code: "ESRCH", message: `process ${found.pid} does not exist` });
    }
    facts.state = info.state;
    facts.alive = isRunningState(info.state);
    if (!facts.alive) {
      const how = info.state === "Z" ? "exited (zombie)" : "exited";
      return done(false, { code: "ESRCH", message: `process ${found.pid} ${how}` });
    }
    facts.rssBytes = info.rssBytes;
    if (params.memoryLimit !== undefined) facts.memoryUtilization = info.rssBytes / params.memoryLimit;
    return done(true);
  } catch (err) {
    // /proc reads are wrapped in lib/proc; this only catches the unexpected (EACCES on readdir).
    return done(false, { code: errorCode(err, "EPROC"), message: `process probe failed: ${describeError(err)}` });
  }
}
