import { describeError } from "./errors.js";
import { runCommand } from "./exec.js";

// sd_notify(3) for a Type=notify unit. Node has no datagram sockets, so medic runs systemd-notify(1),
// which sends from its own pid: the unit needs NotifyAccess=all. It waits until systemd has read the
// message (its default, unlike --no-block), so systemd can still tell which unit sent it.
// https://www.freedesktop.org/software/systemd/man/latest/sd_notify.html

/** What systemd put in medic's environment for notifications and the watchdog. */
export interface NotifyEnvironment {
  NOTIFY_SOCKET?: string;
  WATCHDOG_USEC?: string;
  WATCHDOG_PID?: string;
}

// Taken once, at load, and removed from process.env: with NotifyAccess=all, a program medic starts
// (a process service, an exec step) that read NOTIFY_SOCKET could speak for medic's own unit.
const taken: NotifyEnvironment = takeNotifyEnvironment(process.env);

function takeNotifyEnvironment(env: NodeJS.ProcessEnv): NotifyEnvironment {
  const out: NotifyEnvironment = {};
  for (const key of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] as const) {
    if (env[key] !== undefined) out[key] = env[key];
    delete env[key];
  }
  return out;
}

const NOTIFY_TIMEOUT_MS = 5_000;
const ASSIGNMENT = /^[A-Z_][A-Z0-9_]*=[^\0]*$/;

/**
 * Tells systemd `state` (`READY=1`, `WATCHDOG=1`, `STATUS=…`, several separated by newlines) when medic
 * runs under a unit that listens (NOTIFY_SOCKET set); otherwise does nothing. Never throws: a failure
 * goes to `onFailure`, if given.
 */
export async function sdNotify(state: string, onFailure?: (detail: string) => void): Promise<void> {
  const socket = taken.NOTIFY_SOCKET;
  if (socket === undefined) return;
  try {
    const args = notifyArgs(state);
    if (args === undefined) return onFailure?.(`not a notification: ${JSON.stringify(state.slice(0, 60))}`);
    const res = await runCommand("systemd-notify", args, { env: { NOTIFY_SOCKET: socket }, timeoutMs: NOTIFY_TIMEOUT_MS });
    if (res.error || res.timedOut || res.exitCode !== 0) {
      const why = res.error?.message ?? (res.timedOut ? "timed out" : `exit ${res.exitCode}: ${res.stderr.trim().slice(0, 200)}`);
      onFailure?.(`systemd-notify ${args.join(" ")}: ${why}`);
    }
  } catch (err) {
    onFailure?.(`systemd-notify: ${describeError(err)}`);
  }
}

/** `READY=1\nSTATUS=x` to systemd-notify's argv, one assignment each; undefined when a line is not `KEY=value`. Pure. */
export function notifyArgs(state: string): string[] | undefined {
  const lines = state.split("\n").filter((l) => l.length > 0);
  return lines.length > 0 && lines.every((l) => ASSIGNMENT.test(l)) ? lines : undefined;
}

/** The watchdog interval systemd expects pings within (WatchdogSec=), or undefined when it watches no one here. */
export function watchdogIntervalMs(): number | undefined {
  return parseWatchdog(taken, process.pid);
}

/** WATCHDOG_USEC as milliseconds, when it applies to `pid` (WATCHDOG_PID unset or equal). Pure. */
export function parseWatchdog(env: NotifyEnvironment, pid: number): number | undefined {
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== String(pid)) return undefined;
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || !/^\d{1,15}$/.test(usec) || Number(usec) === 0) return undefined;
  return Math.max(1, Math.floor(Number(usec) / 1000));
}

/** `RELOADING=1` with the CLOCK_MONOTONIC time systemd 253+ wants beside it (older ones ignore it). */
export function reloadingState(): string {
  // process.hrtime is CLOCK_MONOTONIC on Linux (libuv's uv_hrtime).
  return `RELOADING=1\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`;
}
