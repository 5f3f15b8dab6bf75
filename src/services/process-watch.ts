import { isAliveNow, readPidFileNow } from "../lib/proc.js";
import type { WatchEvent } from "../probes/types.js";

/** How often a watched pid is looked at: a dead process is noticed in a fifth of a second, not at the next round. */
export const PID_WATCH_MS = 200;

/**
 * Watches the process a pid file names and calls `onEvent` once when a process seen alive is gone
 * (killed, crashed, a zombie). The pid file is read again only when the pid it gave is gone, so a
 * live service costs one /proc read per tick. A pid file that changes to another live pid (someone
 * restarted the service) is no event. Returns the unwatch.
 */
export function watchPidFile(pidFile: string, onEvent: (event: WatchEvent) => void, everyMs = PID_WATCH_MS): () => void {
  let pid: number | undefined;
  const tick = (): void => {
    if (pid !== undefined && isAliveNow(pid)) return;
    const next = readPidFileNow(pidFile);
    const lost = pid;
    pid = next !== undefined && isAliveNow(next) ? next : undefined;
    if (lost !== undefined && next === lost) onEvent({ what: `pid ${lost} (from ${pidFile}) exited`, confirmsFailure: true });
  };
  tick();
  const timer = setInterval(tick, everyMs);
  // The watch follows the daemon; it must not be what keeps the process alive.
  timer.unref();
  return () => clearInterval(timer);
}

