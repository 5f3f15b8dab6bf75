import { Daemon } from "../daemon.js";
import { describeError } from "../lib/errors.js";
import { createLogger } from "../lib/log.js";
import { loadOrReport, type GlobalOptions } from "./config.js";
import { Reloader } from "./reload.js";
import { EXIT } from "./output.js";

/** A stop that takes longer than this exits anyway. */
const STOP_DEADLINE_MS = 10_000;

/** `medic run [--dry-run]`: the daemon, until SIGTERM or SIGINT. */
export async function runCommand(opts: GlobalOptions & { dryRun?: boolean }): Promise<number> {
  const config = await loadOrReport(opts);
  if (!config) return EXIT.badConfig;
  const log = createLogger({ pretty: opts.pretty });
  // Listen before starting: a SIGTERM that lands while medic starts up must still stop it cleanly.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  const reloader = new Reloader(opts, log);
  let daemon: Daemon;
  try {
    daemon = new Daemon({ config, log, dryRun: opts.dryRun });
    await daemon.start();
  } catch (err) {
    log.fatal({ err: describeError(err) }, "medic could not start");
    return EXIT.badConfig;
  }
  reloader.ready({ apply: (next) => daemon.reload(next) });
  const signal = await stopSignal;
  log.info({ signal }, "stopping");
  setTimeout(() => {
    log.error({ afterMs: STOP_DEADLINE_MS }, "stop took too long; exiting");
    process.exit(1);
  }, STOP_DEADLINE_MS).unref();
  reloader.close();
  await daemon.stop();
  return EXIT.ok;
}
