import { lockStateDir } from "../lib/lockfile.js";
import { openFileStore } from "../store/file/open.js";
import { openReadOnly } from "../store/file/read-only.js";
import { SKIPPED_LINES } from "../incidents/journal-read.js";
import { MemoryStore } from "../store/memory.js";
import { recentWindowMs } from "../store/window.js";
import { Daemon, type DaemonOptions } from "./app.js";

/**
 * Builds a daemon on its state dir. A real run takes the state dir's lock first and only then opens
 * the file store (which may cut a torn line, migrate an old journal and write a snapshot: nothing
 * touches the journal before the lock is held). A dry run takes no lock and writes nothing: it
 * starts from a read-only view of the journal, its guards decide on the real history, and its own
 * records stay in memory.
 */
export async function openDaemon(opts: Omit<DaemonOptions, "store" | "unlock">): Promise<Daemon> {
  const { config, log } = opts;
  const recentMs = recentWindowMs(config.safety);
  if (opts.dryRun) {
    const base = openReadOnly(config.stateDir, { recentMs });
    if (base.skipped.skipped > 0) log.warn(base.skipped, SKIPPED_LINES);
    return new Daemon({ ...opts, store: new MemoryStore({ base, recentMs, ...(opts.clock && { clock: opts.clock }) }) });
  }
  let daemon: Daemon | undefined;
  let lostEarly: string | undefined;
  const unlock = await lockStateDir(config.stateDir, {
    log,
    onLost: (why) => (daemon ? daemon.lockLost(why) : (lostEarly = why)),
  });
  try {
    const store = await openFileStore({
      stateDir: config.stateDir,
      recentMs,
      retentionMs: config.retentionMs,
      log,
      ...(opts.clock && { clock: opts.clock }),
    });
    daemon = new Daemon({ ...opts, store, unlock });
  } catch (err) {
    unlock();
    throw err;
  }
  if (lostEarly !== undefined) daemon.lockLost(lostEarly);
  return daemon;
}
