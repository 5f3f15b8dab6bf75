import type pg from "pg";
import type { ClusterConfig } from "../config/cluster.js";
import type { Config } from "../config/types.js";
import type { Daemon } from "../daemon/app.js";
import { sleep } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";
import type { StepResult } from "../services/types.js";
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
  private taking: Promise<void> | undefined;
  private stopped = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** The steps running here, by run and step: a next leader's task for the same step waits for that run, never starts a second. */
  private readonly running = new Map<string, Promise<StepResult>>();

  constructor(private readonly deps: HostStepsDeps) {}

  take(): Promise<void> {
    const { me, config } = this.deps;
    if (this.taking || this.stopped || !config().targets.some((t) => t.node === me.node)) return Promise.resolve();
    const daemon = this.deps.daemon();
    if (!daemon) return Promise.resolve();
    this.taking = this.claim(daemon).finally(() => (this.taking = undefined));
    return this.taking;
  }

  /** Takes nothing more, and waits for the steps under way (and a claim on its way) to end and be reported. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.taking;
    await Promise.all(this.inFlight);
  }

  private async claim(daemon: Daemon): Promise<void> {
    const { me, log, pool } = this.deps;
    let tasks: ClaimedTask[];
    try {
      tasks = await claimTasks(pool, me.name, me.node);
    } catch (err) {
      return void log.debug({ err: describeError(err) }, "could not look for steps the leader handed this node");
    }
    for (const task of tasks) {
      const run: Promise<void> = this.carry(daemon, task)
        .catch((err) => log.error({ err: describeError(err), task: task.id }, "internal error carrying out a step for the leader"))
        .finally(() => this.inFlight.delete(run));
      this.inFlight.add(run);
    }
  }

  private async carry(daemon: Daemon, task: ClaimedTask): Promise<void> {
    const { log } = this.deps;
    const started = performance.now();
    let result: StepResult;
    if (task.unreadable)
      result = { ok: false, detail: "this node cannot read the task (written by another version of medic?); nothing was run" };
    else if (this.stopped) result = { ok: false, detail: "this node was stopping; nothing was run" };
    else {
      const about = { incident: task.incident.id, target: task.incident.target, step: task.index + 1, leaderEpoch: task.epoch };
      const key = `${task.runId}:${task.index}`;
      const under = this.running.get(key);
      if (under) {
        log.info(about, "the leader handed again a step already running here: waiting for that run instead of starting another");
        const same = await under;
        result = { ...same, detail: `the same step, already under way here when a new leader asked: ${same.detail}` };
      } else {
        log.info({ ...about, description: task.description }, "carrying out a step the leader handed this node");
        const running = daemon.carryOut(task, new AbortController().signal);
        this.running.set(key, running);
        try {
          result = await running;
        } finally {
          this.running.delete(key);
        }
      }
    }
    const outcome = !result.ok ? "failed" : result.changed === false ? "skipped" : "ok";
    await this.report(task, { outcome, detail: result.detail, durationMs: Math.round(result.durationMs ?? performance.now() - started) });
    log[outcome === "failed" ? "warn" : "info"]({ task: task.id, outcome, detail: result.detail }, "carried out a step for the leader");
  }

  // Said until the store takes it, for as long as the leader may still be waiting.
  private async report(task: ClaimedTask, report: { outcome: string; detail: string; durationMs: number }): Promise<void> {
    const until = Date.now() + REPORT_FOR_MS;
    for (;;) {
      try {
        return await finishTask(this.deps.pool, this.deps.me.name, task.id, report);
      } catch (err) {
        if (Date.now() > until)
          return void this.deps.log.error(
            { task: task.id, err: describeError(err) },
            "could not tell the leader how a step ended; it will treat the step as cut off",
          );
        await sleep(500);
      }
    }
  }
}
