import { readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { isRunningState, readBootId, readProcNow, startedAtMs, type ProcInfo } from "./proc.js";

// Who holds a state dir. A pid alone proves nothing: it is reused after a crash, every container
// on a shared volume may be pid 7, and another host's pids are not ours to look up. So the lock
// names the holder fully, and a medic judges a record only where it can see the holder: same boot
// (the same kernel) and same pid namespace. There the holder is alive exactly when its pid still
// has its recorded start time. Anywhere else medic cannot prove the holder dead; the holder's
// heartbeat (it touches the file every few seconds) decides that (see lockfile.ts).

/** The record in `<stateDir>/medic.lock`. */
export interface LockOwner {
  host: string;
  /** /proc/sys/kernel/random/boot_id: which boot of which kernel. */
  bootId: string;
  /** readlink /proc/self/ns/pid, e.g. "pid:[4026531836]": each container has its own. */
  pidNs: string;
  pid: number;
  /** Its start time in clock ticks since boot: tells a live holder from a process that reused its pid. */
  startTicks: number;
  startedAt: string;
  /** Random per lock: two locks of one process are told apart. */
  token: string;
}

/** This process as a lock owner. */
export function ownerNow(): LockOwner {
  return {
    host: hostname(),
    bootId: readBootId(),
    pidNs: pidNamespace(),
    pid: process.pid,
    startTicks: readProcNow(process.pid)?.startTicks ?? -1,
    startedAt: new Date().toISOString(),
    token: randomBytes(8).toString("hex"),
  };
}

function pidNamespace(): string {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return "";
  }
}

/** A lock record, or undefined when the text is not one (empty, cut short, a bare pid). */
export function parseOwner(text: string): LockOwner | undefined {
  let v: Partial<LockOwner>;
  try {
    v = JSON.parse(text) as Partial<LockOwner>;
  } catch {
    return undefined;
  }
  const ok =
    typeof v === "object" &&
    v !== null &&
    typeof v.host === "string" &&
    typeof v.bootId === "string" &&
    typeof v.pidNs === "string" &&
    Number.isInteger(v.pid) &&
    Number.isInteger(v.startTicks) &&
    typeof v.startedAt === "string" &&
    typeof v.token === "string";
  return ok ? (v as LockOwner) : undefined;
}

/** What a medic can tell about a lock's holder from where it runs. */
export type HolderVerdict =
  /** Proven: the holder runs, here. */
  | { kind: "alive" }
  /** Proven: the holder is gone; `why` is for the log line of the take-over. */
  | { kind: "dead"; why: string }
  /** Another boot or pid namespace: the heartbeat decides. `sameBoot`: same kernel, so the same clock. */
  | { kind: "unseen"; sameBoot: boolean };

/** Judges a lock's holder from this process's place and what /proc says about the holder's pid here. Pure. */
export function judgeHolder(owner: LockOwner, self: LockOwner, found: ProcInfo | undefined): HolderVerdict {
  const sameBoot = owner.bootId !== "" && owner.bootId === self.bootId;
  if (!sameBoot || owner.pidNs === "" || owner.pidNs !== self.pidNs) return { kind: "unseen", sameBoot };
  if (owner.pid === self.pid && owner.startTicks === self.startTicks) return { kind: "dead", why: "an earlier lock of this very process" };
  if (!found || !isRunningState(found.state)) return { kind: "dead", why: `pid ${owner.pid} is gone` };
  if (found.startTicks !== owner.startTicks) {
    return { kind: "dead", why: `pid ${owner.pid} is now another process, started ${startedAt(found.startTicks)}` };
  }
  return { kind: "alive" };
}

function startedAt(startTicks: number): string {
  const ms = startedAtMs(startTicks);
  return ms === undefined ? "after the lock was taken" : `at ${new Date(ms).toISOString()}`;
}

/** One line naming a holder, for errors and logs. */
export function describeOwner(owner: LockOwner): string {
  return `pid ${owner.pid} on host ${owner.host}, locked at ${owner.startedAt}`;
}
