import type pg from "pg";
import type { ClusterConfig } from "../config/cluster.js";
import type { Config } from "../config/types.js";
import type { Daemon } from "../daemon/app.js";
import { sleep } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";
import { claimTasks, finishTask, type ClaimedTask } from "./tasks.js";

/** How often a node with targets on its host looks for steps the leader handed it. */
export const TAKE_MS = 500;
/** How long a node keeps trying to say how a step ended while the store is away. */
const REPORT_FOR_MS = 30_000;

/** What carrying out the leader's host steps needs of the node. */
export interface HostStepsDeps {
  pool: pg.Pool;
  me: ClusterConfig;
  config: () => Config;
  log: Logger;
  /** The daemon this node runs now (it has the targets' services), if any. */
  daemon: () => Daemon | undefined;
}

/**
 * The node's side of a host step: it takes the steps the leader handed it (only a node that some
 * target names as its `node` looks), carries each out through its own daemon, which plans it again
 * from this node's config, and says how it ended. A step under way when the node stops is let finish
 * (its timeout bounds it), so that what it did is reported.
 */
export class HostSteps {
  private taking = false;
  private stopped = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly deps: HostStepsDeps) {}

  async take(): Promise<void> {
    const { me, config, log } = this.deps;
    if (this.taking || this.stopped || !config().targets.some((t) => t.node === me.node)) return;
    const daemon = this.deps.daemon();
    if (!daemon) return;
    this.taking = true;
    try {
      for (const task of await claimTasks(this.deps.pool, me.name, me.node)) {
        const run: Promise<void> = this.carry(daemon, task).finally(() => this.inFlight.delete(run));
        this.inFlight.add(run);
      }
    } catch (err) {
      log.debug({ err: describeError(err) }, "could not look for steps the leader handed this node");
    } finally {
      this.taking = false;
    }
  }

  /** Takes nothing more, and waits for the steps under way to end and be reported. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.inFlight);
  }

  private async carry(daemon: Daemon, task: ClaimedTask): Promise<void> {
    const { log, pool, me } = this.deps;
    const about = { incident: task.incident.id, target: task.incident.target, step: task.index + 1, leaderEpoch: task.epoch };
    log.info({ ...about, description: task.description }, "carrying out a step the leader handed this node");
    const started = performance.now();
    const result = await daemon.carryOut(task, new AbortController().signal);
    const outcome = !result.ok ? "failed" : result.changed === false ? "skipped" : "ok";
    const report = { outcome, detail: result.detail, durationMs: Math.round(result.durationMs ?? performance.now() - started) };
    const until = Date.now() + REPORT_FOR_MS;
    for (;;) {
      try {
        await finishTask(pool, me.name, task.id, report);
        break;
      } catch (err) {
        if (Date.now() > until) {
          log.error({ ...about, err: describeError(err) }, "could not tell the leader how a step ended; it will treat the step as cut off");
          return;
        }
        await sleep(500);
      }
    }
    log[outcome === "failed" ? "warn" : "info"]({ ...about, outcome, detail: result.detail }, "carried out a step for the leader");
  }
}
