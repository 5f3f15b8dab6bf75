import { onChildExit } from "../lib/children.js";
import { isRunningState, readPidFileNow } from "../lib/proc.js";
import { checkPidNow } from "../lib/process-identity.js";
import { openProcStat, type ProcStatHandle } from "../lib/proc-stat-handle.js";
import type { WatchEvent } from "../probes/types.js";
import { sharedPidTicker, type PidTicker } from "./pid-ticker.js";

/** The looks of every watch by pid file: medic's own start makes them look at once. */
const watchesOf = new Map<string, Set<() => void>>();

/** medic just wrote `pidFile` for a process it started: its watches follow that child now, not from the next tick. */
export function pidFileWritten(pidFile: string): void {
  for (const look of [...(watchesOf.get(pidFile) ?? [])]) look();
}

/** The process a watch follows: its identity, and how its death will be learnt. */
interface Watched {
  pid: number;
  startTicks: number;
  /** For a child of this medic: the unsubscribe from its exit. Else its stat file, read at each tick. */
  exit?: () => void;
  stat?: ProcStatHandle;
}

/**
 * Watches the process a pid file names and calls `onEvent` once when a process seen alive is gone
 * (killed, crashed, a zombie, its pid reused by another). A process this medic started is known dead
 * from its exit, at once; any other (started by someone else, or by medic before it restarted) is
 * looked at on `ticker`'s ticks, one read of its /proc stat file each. The pid file is read again only
 * when the process it gave is gone. A pid file that changes to another live pid (someone restarted the
 * service) is no event, and a pid medic's identity record says is not its process is not watched.
 * Returns the unwatch.
 */
export function watchPidFile(pidFile: string, onEvent: (event: WatchEvent) => void, ticker: PidTicker = sharedPidTicker): () => void {
  let watched: Watched | undefined;
  let stopped = false;
  let removeTick: (() => void) | undefined;

  const alive = (w: Watched): boolean => {
    if (w.stat === undefined) return true; // a child: its exit says when it is not
    const info = w.stat.read();
    return info !== undefined && isRunningState(info.state) && info.startTicks === w.startTicks;
  };
  const release = (): void => {
    watched?.exit?.();
    watched?.stat?.close();
    watched = undefined;
  };
  const follow = (pid: number, startTicks: number): Watched => {
    // Subscribed before anything else can run: an exit cannot be emitted in between (it needs the event loop).
    const exit = onChildExit(pid, startTicks, () => look(true));
    return exit !== undefined ? { pid, startTicks, exit } : { pid, startTicks, stat: openProcStat(pid) };
  };
  /** `exited`: the watched child's exit was just emitted (libuv reaped it; its pid may be someone else's already). */
  function look(exited = false): void {
    if (stopped) return;
    if (watched !== undefined && !exited && alive(watched)) return;
    const lost = watched?.pid;
    release();
    const next = readPidFileNow(pidFile);
    const check = next === undefined ? undefined : checkPidNow(pidFile, next);
    if (check?.kind === "recorded" || check?.kind === "unrecorded") watched = follow(next!, check.startTicks);
    // The ticker looks for a pid file to appear, and at processes that are not this medic's children.
    const polled = watched?.exit === undefined;
    if (polled && removeTick === undefined) removeTick = ticker.add(() => look());
    if (!polled && removeTick !== undefined) {
      removeTick();
      removeTick = undefined;
    }
    if (lost !== undefined && next === lost) onEvent({ what: `pid ${lost} (from ${pidFile}) exited`, confirmsFailure: true });
  }

  look();
  const looks = watchesOf.get(pidFile) ?? new Set();
  const lookNow = (): void => look();
  watchesOf.set(pidFile, looks.add(lookNow));
  return () => {
    stopped = true;
    looks.delete(lookNow);
    if (looks.size === 0 && watchesOf.get(pidFile) === looks) watchesOf.delete(pidFile);
    release();
    removeTick?.();
    removeTick = undefined;
  };
}
