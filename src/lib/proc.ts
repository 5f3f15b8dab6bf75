import { readFileSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";

/** What /proc says about one process. */
export interface ProcInfo {
  pid: number;
  /** Single-letter state from /proc/PID/stat: R, S, D, T, Z (zombie), X (dead), ... */
  state: string;
  /** Resident set size in bytes. */
  rssBytes: number;
  ppid: number;
  /** The process group it belongs to (a group leader has pgid === pid). */
  pgid: number;
  /** When it started, in clock ticks since boot (stat field 22): with the boot id, a pid that is never reused. */
  startTicks: number;
}

const PAGE_BYTES = 4096;

/** /proc/PID/stat parsed, or undefined when there is no such process. */
export async function readProc(pid: number): Promise<ProcInfo | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  return parseStat(pid, stat);
}

/** readProc without a round trip through the thread pool (a /proc read never waits on a disk). */
export function readProcNow(pid: number): ProcInfo | undefined {
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

function parseStat(pid: number, stat: string): ProcInfo {
  // The command name sits in parentheses and may itself contain ") ": split after the last one.
  // What follows starts at field 3 (state), so field N is rest[N - 3]; see proc_pid_stat(5).
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    pid,
    state: rest[0] ?? "?",
    ppid: Number(rest[1]),
    pgid: Number(rest[2]),
    startTicks: Number(rest[19]),
    rssBytes: Number(rest[21]) * PAGE_BYTES,
  };
}

let bootId: string | undefined;

/** This boot's random id (/proc/sys/kernel/random/boot_id); "" when the kernel does not say. */
export function readBootId(): string {
  if (bootId !== undefined) return bootId;
  try {
    bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    bootId = "";
  }
  return bootId;
}

// USER_HZ, the unit of stat's start time: 100 on every Linux architecture Node runs on.
const TICKS_PER_SECOND = 100;

/** Wall-clock time (ms since the epoch) of a start time in ticks since boot; undefined when /proc/stat has no btime. */
export function startedAtMs(startTicks: number): number | undefined {
  try {
    const btime = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1];
    return btime === undefined ? undefined : Number(btime) * 1000 + (startTicks * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** A zombie or dead entry is a process that has exited; PID 1 here reaps orphans late. */
export function isRunningState(state: string): boolean {
  return state !== "Z" && state !== "X" && state !== "x";
}

/** True when the process exists and has not exited (a zombie counts as dead). */
export async function isAlive(pid: number): Promise<boolean> {
  const info = await readProc(pid);
  return info !== undefined && isRunningState(info.state);
}

/**
 * isAlive without a round trip through the thread pool: reading /proc never waits on a disk, and
 * a watch that asks several times a second should cost microseconds, not a libuv request.
 */
export function isAliveNow(pid: number): boolean {
  const info = readProcNow(pid);
  return info !== undefined && isRunningState(info.state);
}

/**
 * The exact argv of a process, synchronously: empty arguments kept, so it can be compared with the
 * argv medic would start. [] for a kernel thread or a zombie; undefined when the process is gone.
 */
export function readArgvNow(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return raw === "" ? [] : (raw.endsWith("\0") ? raw.slice(0, -1) : raw).split("\0");
  } catch {
    return undefined;
  }
}

function splitCmdline(raw: string): string[] {
  return raw.split("\0").filter((s) => s.length > 0);
}

/** The command line of a process as argv, or undefined when it is gone. */
export async function readCmdline(pid: number): Promise<string[] | undefined> {
  try {
    return splitCmdline(await readFile(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    return undefined;
  }
}

/** Pids of live processes whose space-joined command line matches `pattern`. */
export async function findProcesses(pattern: RegExp, exceptPid = process.pid): Promise<number[]> {
  const pids = (await readdir("/proc")).filter((d) => /^\d+$/.test(d)).map(Number);
  const found: number[] = [];
  for (const pid of pids) {
    if (pid === exceptPid) continue;
    const argv = await readCmdline(pid);
    if (argv && argv.length > 0 && pattern.test(argv.join(" ")) && (await isAlive(pid))) found.push(pid);
  }
  return found;
}

/** The pid a pid file names, or undefined when the file is missing or not a pid. */
export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    return parsePid(await readFile(path, "utf8"));
  } catch {
    return undefined;
  }
}

/** readPidFile, synchronously: for a watch that reads it only after the pid it gave has died. */
export function readPidFileNow(path: string): number | undefined {
  try {
    return parsePid(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

function parsePid(text: string): number | undefined {
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) && Number(trimmed) > 0 ? Number(trimmed) : undefined;
}
