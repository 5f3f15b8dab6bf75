import { checkPidNow, stillRunning } from "../lib/process-identity.js";
import { readPidFileNow } from "../lib/proc.js";
import type { WatchEvent } from "../probes/types.js";

/** How often a watched pid is looked at: a dead process is noticed in a fifth of a second, not at the next round. */
export const PID_WATCH_MS = 200;

/**
 * Watches the process a pid file names and calls `onEvent` once when a process seen alive is gone
 * (killed, crashed, a zombie, its pid reused by another). The pid file is read again only when the
 * process it gave is gone, so a live service costs one /proc read per tick. A pid file that changes
 * to another live pid (someone restarted the service) is no event, and a pid medic's identity record
 * says is not its process is not watched. Returns the unwatch.
 */
export function watchPidFile(pidFile: string, onEvent: (event: WatchEvent) => void, everyMs = PID_WATCH_MS): () => void {
  let watched: { pid: number; startTicks: number } | undefined;
  const tick = (): void => {
    if (watched !== undefined && stillRunning(watched.pid, watched.startTicks)) return;
    const next = readPidFileNow(pidFile);
    const lost = watched?.pid;
    const check = next === undefined ? undefined : checkPidNow(pidFile, next);
    watched = check?.kind === "recorded" || check?.kind === "unrecorded" ? { pid: next!, startTicks: check.startTicks } : undefined;
    if (lost !== undefined && next === lost) onEvent({ what: `pid ${lost} (from ${pidFile}) exited`, confirmsFailure: true });
  };
  tick();
  const timer = setInterval(tick, everyMs);
  // The watch follows the daemon; it must not be what keeps the process alive.
  timer.unref();
  return () => clearInterval(timer);
}
