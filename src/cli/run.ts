import { createApi, parseListen, type Api } from "../api/server.js";
import { ClusterNode } from "../cluster/node.js";
import type { Daemon } from "../daemon/app.js";
import { openDaemon } from "../daemon/open.js";
import { describeError } from "../lib/errors.js";
import { collectGarbage } from "../lib/gc.js";
import { createLogger } from "../lib/log.js";
import { Metrics } from "../metrics/metrics.js";
import { loadOrReport, type GlobalOptions } from "./config.js";
import { Reloader } from "./reload.js";
import { startWatchdog } from "./watchdog.js";
import { reloadingState, sdNotify } from "../lib/sd-notify.js";
import { EXIT } from "./output.js";

/** A stop that takes longer than this exits anyway. */
const STOP_DEADLINE_MS = 10_000;

/** `medic run [--dry-run]`: the daemon, until SIGTERM or SIGINT. */
export async function runCommand(opts: GlobalOptions & { dryRun?: boolean; apiListen?: string }): Promise<number> {
  const config = await loadOrReport(opts);
  if (!config) return EXIT.badConfig;
  collectGarbage(); // what parsing the config left behind, before the daemon's own memory grows on top of it
  const log = createLogger({ pretty: opts.pretty });
  // Listen before starting: a SIGTERM that lands while medic starts up must still stop it cleanly.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  const reloader = new Reloader(opts, log);
  let daemon: Daemon | ClusterNode;
  let api: Api | undefined;
  let opened: Daemon | ClusterNode | undefined;
  let stopMetrics: () => void;
  try {
    const metrics = new Metrics({ log });
    const parts = { config, log, onRecord: metrics.onRecord, onRound: metrics.onRound, onRoundStart: metrics.onRoundStart };
    // A PostgreSQL store makes this medic a node of a cluster; a dry run only reads it.
    daemon = opened =
      config.store?.postgres && !opts.dryRun ? await ClusterNode.open(parts) : await openDaemon({ ...parts, dryRun: opts.dryRun });
    metrics.bind(daemon);
    // Checked before starting (a public address without a token refuses to start); bound once the daemon runs.
    api = createApi({
      config,
      daemon,
      metrics,
      log,
      dryRun: opts.dryRun ?? false,
      ...(opts.apiListen && { listen: parseListen(opts.apiListen) }),
    });
    await daemon.start();
    const at = await api?.listen();
    if (at) log.info({ url: at.url, host: at.host, port: at.port }, "api listening");
    stopMetrics = () => metrics.stop();
  } catch (err) {
    log.fatal({ err: describeError(err) }, "medic could not start");
    await opened?.stop();
    return EXIT.badConfig;
  }
  // One at a time, in order: a RELOADING=1 must never overtake the READY=1 before it.
  let notified = Promise.resolve();
  const notify = (state: string) =>
    void (notified = notified.then(() => sdNotify(state, (detail) => log.warn({ detail }, "could not notify systemd"))));
  notify("READY=1");
  const stopWatchdog = startWatchdog(() => daemon.alive(), log);
  reloader.ready({
    apply: (next) => {
      daemon.reload(next);
      api?.setConfig(next);
      collectGarbage();
    },
    starting: () => notify(reloadingState()),
    finished: () => notify("READY=1"),
  });
  const signal = await stopSignal;
  log.info({ signal }, "stopping");
  setTimeout(() => {
    log.error({ afterMs: STOP_DEADLINE_MS }, "stop took too long; exiting");
    process.exit(1);
  }, STOP_DEADLINE_MS).unref();
  reloader.close();
  stopWatchdog();
  notify("STOPPING=1");
  await api?.close();
  await daemon.stop();
  stopMetrics();
  return EXIT.ok;
}
