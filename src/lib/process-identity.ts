import { readFileSync } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { isRunningState, readArgvNow, readBootId, readProcNow, startedAtMs, type ProcInfo } from "./proc.js";

// A pid names a process only until it exits: then the kernel hands the number out again, and a
// pid file written by anyone can name anything. So next to a pid file it writes, medic records
// what makes its process unique: the boot it started in and its start time in clock ticks since
// that boot (two processes never share a pid and a start time within one boot). The pid file
// stays a bare pid, as other tools expect (kill $(cat …), monit, systemd's PIDFile=).
//
// The program is recorded too, but only to name the process to people: a program may rewrite its
// command line (nginx, postgres) or exec another binary in the same process (a wrapper script), and
// it is still the process medic started. Only the program, not its arguments: they may hold
// secrets, and this file sits beside the pid file, readable by whoever may read that. A pid file
// medic did not write has no record; whether medic may act on its process then is the caller's
// decision (see judgeUnrecorded).

/** What medic records about a process it started, in `<pidFile>.identity` (JSON). */
export interface ProcessIdentity {
  pid: number;
  /** /proc/sys/kernel/random/boot_id when it started. */
  bootId: string;
  /** Its start time in clock ticks since boot (/proc/PID/stat field 22). */
  startTicks: number;
  /** When medic started it (ISO 8601), for people. */
  startedAt: string;
  /** The program medic ran (argv[0]). */
  program: string;
  /** medic made it the leader of a new session and process group: the group holds only what it started. */
  ownGroup: boolean;
}

/** Where the identity of the process in `pidFile` is kept. */
export function identityFile(pidFile: string): string {
  return `${pidFile}.identity`;
}

/** The identity of `pid` as it is now, to record right after starting it; undefined when it is already gone. */
export function identityNow(pid: number, program: string, ownGroup: boolean): ProcessIdentity | undefined {
  const info = readProcNow(pid);
  if (!info) return undefined;
  return { pid, bootId: readBootId(), startTicks: info.startTicks, startedAt: new Date().toISOString(), program, ownGroup };
}

/** Records `identity` for `pidFile`, atomically (write, then rename). */
export async function writeIdentity(pidFile: string, identity: ProcessIdentity): Promise<void> {
  const file = identityFile(pidFile);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(identity)}\n`);
  await rename(tmp, file);
}

/** The identity recorded for `pidFile`, or undefined when there is none (or it is not one medic wrote). */
export async function readIdentity(pidFile: string): Promise<ProcessIdentity | undefined> {
  return parseIdentity(await readFile(identityFile(pidFile), "utf8").catch(() => ""));
}

/** readIdentity, synchronously: for a watch that reads it only when the pid file names a new pid. */
export function readIdentityNow(pidFile: string): ProcessIdentity | undefined {
  try {
    return parseIdentity(readFileSync(identityFile(pidFile), "utf8"));
  } catch {
    return undefined;
  }
}

/** Removes the identity record of `pidFile` if it is the one for `pid`, or for a process that is gone. */
export async function removeIdentity(pidFile: string, pid: number): Promise<void> {
  const record = await readIdentity(pidFile);
  if (record !== undefined && (record.pid === pid || !isRecordedAlive(record))) await rm(identityFile(pidFile), { force: true });
}

function parseIdentity(text: string): ProcessIdentity | undefined {
  let v: Partial<ProcessIdentity>;
  try {
    v = JSON.parse(text) as Partial<ProcessIdentity>;
  } catch {
    return undefined;
  }
  const ok =
    typeof v === "object" &&
    v !== null &&
    Number.isInteger(v.pid) &&
    typeof v.bootId === "string" &&
    Number.isInteger(v.startTicks) &&
    typeof v.startedAt === "string" &&
    typeof v.program === "string" &&
    typeof v.ownGroup === "boolean";
  return ok ? (v as ProcessIdentity) : undefined;
}

/** Who the pid a pid file names is, measured against medic's record. */
export type PidCheck =
  /** No process with that pid, or a zombie. */
  | { kind: "gone" }
  /** The process medic recorded. `ownGroup`: its group is still the one medic created for it. */
  | { kind: "recorded"; startTicks: number; ownGroup: boolean }
  /** A live process, and medic holds no record of this pid: someone else wrote the pid file. */
  | { kind: "unrecorded"; startTicks: number; argv: string[] }
  /** A live process that is not the one medic recorded under this pid: `reason` says how it differs. */
  | { kind: "reused"; reason: string };

/** What /proc says about a process now, as judgePid needs it. */
export interface Found {
  info: ProcInfo;
  argv: string[];
}

/** Judges a pid from its record and what /proc says now. Pure: `bootId` and `startedAt` are this host's. */
export function judgePid(
  pid: number,
  pidFile: string,
  record: ProcessIdentity | undefined,
  found: Found | undefined,
  now: { bootId: string; startedAt: (startTicks: number) => number | undefined },
): PidCheck {
  if (!found || !isRunningState(found.info.state)) return { kind: "gone" };
  const { info, argv } = found;
  if (!record) return { kind: "unrecorded", startTicks: info.startTicks, argv };
  // medic writes the record before the pid file, always for the same pid: a pid file that names
  // another pid than the record was written by someone else since.
  if (record.pid !== pid) {
    return {
      kind: "reused",
      reason:
        `pid ${pid} in ${pidFile} is not the process medic started: medic's record (${identityFile(pidFile)}) ` +
        `is for pid ${record.pid}, ${show(record.program)} started at ${record.startedAt}`,
    };
  }
  const sameBoot = record.bootId !== "" && record.bootId === now.bootId;
  if (sameBoot && record.startTicks === info.startTicks) {
    return { kind: "recorded", startTicks: info.startTicks, ownGroup: record.ownGroup && info.pgid === pid };
  }
  const at = now.startedAt(info.startTicks);
  const then = sameBoot ? record.startedAt : `${record.startedAt}, before the machine last booted`;
  return {
    kind: "reused",
    reason:
      `pid ${pid} in ${pidFile} is not the process medic started: medic started ${show(record.program)} as pid ${pid} at ${then}; ` +
      `pid ${pid} is now ${show(argv[0])}, started ${at === undefined ? "at another time" : `at ${new Date(at).toISOString()}`}`,
  };
}

/** judgePid on this machine now: reads the record and /proc. */
export async function checkPid(pidFile: string, pid: number): Promise<PidCheck> {
  return judgeHere(pid, pidFile, await readIdentity(pidFile));
}

/** checkPid, synchronously. */
export function checkPidNow(pidFile: string, pid: number): PidCheck {
  return judgeHere(pid, pidFile, readIdentityNow(pidFile));
}

function judgeHere(pid: number, pidFile: string, record: ProcessIdentity | undefined): PidCheck {
  const info = readProcNow(pid);
  const found = info && { info, argv: readArgvNow(pid) ?? [] };
  return judgePid(pid, pidFile, record, found, { bootId: readBootId(), startedAt: startedAtMs });
}

/** True while the process `record` describes is alive on this boot, with the same start time. */
export function isRecordedAlive(record: ProcessIdentity): boolean {
  return record.bootId !== "" && record.bootId === readBootId() && stillRunning(record.pid, record.startTicks);
}

/** True while `pid` is the same live process that had `startTicks`: a reused pid is not. */
export function stillRunning(pid: number, startTicks: number): boolean {
  const info = readProcNow(pid);
  return info !== undefined && isRunningState(info.state) && info.startTicks === startTicks;
}

/**
 * Why medic may not act on a live process from a pid file it did not write, or undefined when it
 * may: only when its command line is exactly `start`, the command medic would run for it. Pure.
 */
export function judgeUnrecorded(pid: number, pidFile: string, argv: string[], start: string[]): string | undefined {
  if (argv.length === start.length && argv.every((a, i) => a === start[i])) return undefined;
  const runs = argv[0] === start[0] ? `${show(argv[0])} with other arguments than start` : `${show(argv[0])}, not ${show(start[0])}`;
  return `pid ${pid} in ${pidFile} was not started by medic (no record in ${identityFile(pidFile)}) and runs ${runs}`;
}

// Only the program: the arguments of a process medic does not own are none of its business, and
// may hold that process's secrets.
function show(program: string | undefined): string {
  const file = program ?? "";
  return file === "" ? "a process without a command line" : JSON.stringify(file.length > 80 ? `${file.slice(0, 79)}…` : file);
}
