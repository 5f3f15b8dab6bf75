import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, open, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { trackChild } from "./children.js";
import { MedicError, errorCode } from "./errors.js";
import { readProcNow } from "./proc.js";

// The one module in src/ that starts programs. Always file + argv, never a shell.

/** How a finished command went. `runCommand` always resolves one of these. */
export interface CommandResult {
  exitCode: number | null;
  /** The signal that ended the program, when one did (SIGTERM after a timeout, ...). */
  signal: string | null;
  /** The last `maxOutputBytes` of stdout: the end is where programs say why they failed. */
  stdout: string;
  stderr: string;
  /** True when the output was longer than the cap and its head was dropped. */
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
  /** The program could not be started (ENOENT, EACCES, a missing cwd); no exit code then. */
  error?: { code: string; message: string };
}

/**
 * What a program medic starts gets from medic's own environment: enough to find programs, know who
 * and where it is, and speak the locale and time zone. Never medic's secrets (PAGERDUTY_ROUTING_KEY,
 * SLACK_WEBHOOK_URL, database passwords): a step or service that needs a value says so in `env:`.
 */
export const INHERITED_ENV: readonly string[] = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR"];

/** How a child's environment is made. */
export interface ChildEnvOptions {
  /** Added last: what the step or service declares. */
  env?: Record<string, string>;
  /** The whole of medic's environment instead of INHERITED_ENV (an explicit opt-in: it carries medic's secrets). */
  inheritEnv?: boolean;
}

/** The environment of a program medic starts: INHERITED_ENV of `from` (all of it with inheritEnv), then `env`. */
export function childEnv(opts: ChildEnvOptions, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [name, value] of Object.entries(from)) {
    if (value !== undefined && (opts.inheritEnv === true || inherited(name))) base[name] = value;
  }
  return { ...base, ...opts.env };
}

function inherited(name: string): boolean {
  return INHERITED_ENV.some((allowed) => (allowed.endsWith("*") ? name.startsWith(allowed.slice(0, -1)) : name === allowed));
}

/** Options for `runCommand`; the environment is childEnv's. */
export interface RunOptions extends ChildEnvOptions {
  cwd?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  maxOutputBytes?: number;
}

const DEFAULT_MAX_OUTPUT = 64 * 1024;
/** Time between SIGTERM and SIGKILL when a command overstays. */
const KILL_GRACE_MS = 2000;
/** How long to wait for pipes after the program exits: a background grandchild may hold them. */
const PIPE_GRACE_MS = 500;

/** Runs `file args…` in its own process group; a timeout or abort ends the whole group. Never rejects. */
export async function runCommand(file: string, args: string[], opts: RunOptions): Promise<CommandResult> {
  const started = performance.now();
  const cap = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const failed = (code: string, message: string, aborted = false): CommandResult => ({
    exitCode: null,
    signal: null,
    stdout: "",
    stderr: "",
    stdoutTruncated: false,
    stderrTruncated: false,
    timedOut: false,
    aborted,
    durationMs: performance.now() - started,
    error: { code, message },
  });
  if (opts.signal?.aborted) return failed("ABORT_ERR", "aborted before it started", true);
  if (opts.cwd !== undefined && !(await isDirectory(opts.cwd))) {
    return failed("ENOENT", `working directory not found: ${opts.cwd}`);
  }

  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: opts.cwd,
      env: childEnv(opts),
      shell: false,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    // spawn throws synchronously for arguments it cannot pass (NUL bytes, bad types).
    return failed(errorCode(err, "EINVAL"), `cannot start ${file}: ${(err as Error).message}`);
  }

  const out = new TailBuffer(cap);
  const errOut = new TailBuffer(cap);
  child.stdout!.on("data", (b: Buffer) => out.push(b));
  child.stderr!.on("data", (b: Buffer) => errOut.push(b));

  return new Promise<CommandResult>((resolve) => {
    let timedOut = false;
    let aborted = false;
    let exit: { code: number | null; signal: string | null } | undefined;
    let spawnError: { code: string; message: string } | undefined;
    let killDone: Promise<void> = Promise.resolve();
    let pipeTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const timer = setTimeout(() => {
      timedOut = true;
      killDone = endGroup(child);
    }, opts.timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      killDone = endGroup(child);
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort(); // aborted while the cwd was checked

    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(pipeTimer);
      opts.signal?.removeEventListener("abort", onAbort);
      child.stdout!.destroy();
      child.stderr!.destroy();
      const result: CommandResult = {
        exitCode: exit?.code ?? null,
        signal: exit?.signal ?? null,
        stdout: out.text(),
        stderr: errOut.text(),
        stdoutTruncated: out.truncated,
        stderrTruncated: errOut.truncated,
        timedOut,
        aborted,
        durationMs: 0,
        ...(spawnError ? { error: spawnError } : {}),
      };
      // Resolve only once the group is gone, so a caller never races leftovers of a killed command.
      void killDone.then(() => resolve({ ...result, durationMs: performance.now() - started }));
    };

    child.on("error", (err) => {
      // With a pid the program did start: this is a failed signal, and the exit will still come.
      if (child.pid !== undefined) return;
      const code = errorCode(err, "ESPAWN");
      spawnError = { code, message: code === "ENOENT" ? `program not found: ${file}` : `cannot start ${file}: ${err.message}` };
      finish();
    });
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      // It ended in time: whatever still holds its pipes is not reason to call it timed out.
      clearTimeout(timer);
      pipeTimer = setTimeout(finish, PIPE_GRACE_MS);
    });
    child.once("close", (code, signal) => {
      if (spawnError === undefined) exit ??= { code, signal };
      finish();
    });
  });
}

/** Starts a long-lived program detached in its own session, output appended to `logFile` (or dropped). */
export async function spawnDetached(
  file: string,
  args: string[],
  opts: ChildEnvOptions & { cwd?: string; logFile?: string },
): Promise<DetachedProcess> {
  if (opts.cwd !== undefined && !(await isDirectory(opts.cwd))) {
    throw new MedicError("SPAWN_FAILED", `cannot start ${file}: working directory ${opts.cwd} does not exist`, {
      hint: "create the directory or fix cwd",
    });
  }
  let log;
  if (opts.logFile !== undefined) {
    try {
      await mkdir(dirname(opts.logFile), { recursive: true });
      log = await open(opts.logFile, "a");
    } catch (err) {
      throw new MedicError("SPAWN_FAILED", `cannot open log file ${opts.logFile}: ${errorCode(err, "EIO")}`, {
        hint: "make its directory writable by the user medic runs as, or change logFile",
        cause: err,
      });
    }
  }
  try {
    const out = log ? log.fd : "ignore";
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: childEnv(opts),
      shell: false,
      detached: true,
      stdio: ["ignore", out, out],
    });
    // Read before anything yields to the event loop: until then Node has not reaped the child, so
    // even one that exited at once is still this pid (a zombie), never a reused one.
    const startTicks = child.pid === undefined ? undefined : readProcNow(child.pid)?.startTicks;
    let exited: ExitInfo | undefined;
    const exit = new Promise<ExitInfo>((resolve) => {
      child.on("exit", (exitCode, signal) => resolve((exited = { exitCode, signal })));
    });
    // Its watch learns of its death from this exit, not from a poll (see children.ts).
    if (startTicks !== undefined) trackChild(child.pid!, startTicks, (listener) => child.once("exit", listener));
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    // A later 'error' (a failed kill) must not crash medic.
    child.on("error", () => {});
    child.unref();
    return { pid: child.pid!, startTicks, exited: () => exited, exit };
  } catch (err) {
    const code = errorCode(err, "ESPAWN");
    throw new MedicError("SPAWN_FAILED", `cannot start ${file}: ${code === "ENOENT" ? "program not found" : describeCode(code, err)}`, {
      hint: SPAWN_HINTS[code] ?? "check the start command and that medic's user may run it",
      cause: err,
    });
  } finally {
    // The child holds its own copy of the descriptor.
    await log?.close();
  }
}

/** How a detached program ended, once it has (only known while this medic is its parent). */
export interface ExitInfo {
  exitCode: number | null;
  signal: string | null;
}

/** A started service: its pid, and its exit status once it exits. */
export interface DetachedProcess {
  pid: number;
  /** Its start time in clock ticks since boot, read as it started; undefined if it was gone by then. */
  startTicks: number | undefined;
  exited(): ExitInfo | undefined;
  /** Settles when it exits; never settles for one that outlives this medic. */
  exit: Promise<ExitInfo>;
}

/** Sends `signal` to `pid`, or to the group it leads when `group`; false when there is no such process. */
export function signalProcess(pid: number, signal: NodeJS.Signals, group = false): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false; // 0, 1 and negatives would hit whole groups
  try {
    process.kill(group ? -pid : pid, signal);
    return true;
  } catch (err) {
    // ESRCH for -pid means pid leads no group (anymore): signal the process alone.
    if (errorCode(err) === "ESRCH" && group) return signalProcess(pid, signal, false);
    if (errorCode(err) === "ESRCH") return false;
    throw new MedicError("SIGNAL_FAILED", `cannot send ${signal} to pid ${pid}: ${errorCode(err)}`, {
      hint: "medic's user may not signal that process; run it as the service's user",
      cause: err,
    });
  }
}

const SPAWN_HINTS: Record<string, string> = {
  ENOENT: "give the program's absolute path, or make sure it is on medic's PATH",
  EACCES: "the file is not executable by medic's user (chmod +x) or is a directory",
  ENOTDIR: "a part of the program's path is not a directory",
};

/** SIGTERM the group, SIGKILL what is left after the grace period. */
async function endGroup(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  if (!signalQuietly(pid, "SIGTERM")) return;
  const deadline = Date.now() + KILL_GRACE_MS;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    // Signal 0 to the group: does any member remain? (zombies count; SIGKILL is harmless to them)
    if (!signalQuietly(pid, 0)) return;
  }
  signalQuietly(pid, "SIGKILL");
}

function signalQuietly(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Keeps the last `cap` bytes written to it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}

  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    if (this.size > 2 * this.cap) this.compact();
  }

  text(): string {
    this.compact();
    return Buffer.concat(this.chunks).toString("utf8");
  }

  private compact(): void {
    if (this.size <= this.cap) return;
    const all = Buffer.concat(this.chunks);
    this.chunks = [all.subarray(all.length - this.cap)];
    this.size = this.cap;
    this.truncated = true;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

function describeCode(code: string, err: unknown): string {
  return code === "EACCES" ? "permission denied" : ((err as Error).message ?? code);
}
