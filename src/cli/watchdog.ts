import type { Logger } from "../lib/log.js";
import { sdNotify, watchdogIntervalMs } from "../lib/sd-notify.js";

/**
 * Pings systemd's watchdog at half its interval while `healthy()` holds (schedules ticking, state
 * dir writable), so a medic that hangs or cannot do its job is restarted. Does nothing when no
 * watchdog is set. Returns the stop function.
 */
export function startWatchdog(healthy: () => boolean, log: Logger): () => void {
  const intervalMs = watchdogIntervalMs();
  if (intervalMs === undefined) return () => undefined;
  let warned = false;
  const timer = setInterval(
    () => {
      if (healthy()) {
        warned = false;
        void sdNotify("WATCHDOG=1", (detail) => log.warn({ detail }, "could not ping the systemd watchdog"));
      } else if (!warned) {
        warned = true;
        log.error({ intervalMs }, "medic is unhealthy: not pinging the systemd watchdog, which will restart it");
      }
    },
    Math.max(100, Math.floor(intervalMs / 2)),
  );
  timer.unref();
  return () => clearInterval(timer);
}
