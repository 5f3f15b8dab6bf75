import { setMaxListeners } from "node:events";
import { settles } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";

/** In-flight work gets this long to finish on stop before it is cut off; the whole stop stays under 10 s. */
const DRAIN_MS = 5_000;
const ABORT_GRACE_MS = 3_000;

/**
 * The daemon's life: background work counted so that stopping waits for it, a stack of cleanups
 * undone last-first, and two signals: `stop` (start nothing new) and `cutoff` (abandon what runs).
 * Stopping: stop fires, background work gets DRAIN_MS, then cutoff fires and it gets ABORT_GRACE_MS
 * more; then the cleanups run, newest first.
 */
export class Lifecycle {
  private readonly draining = new AbortController();
  private readonly cutting = new AbortController();
  private readonly inflight = new Set<Promise<void>>();
  private readonly cleanups: { name: string; fn: () => void | Promise<void> }[] = [];
  private stopping: Promise<void> | undefined;

  // Stopping always runs on real time: even a daemon on a manual clock must be able to stop.
  constructor(private readonly log: Logger) {
    // Every probe, playbook and send in flight listens for these; thousands at once is normal, not a leak.
    setMaxListeners(0, this.draining.signal, this.cutting.signal);
  }

  /** Aborted when medic starts to stop: nothing new starts. */
  get stop(): AbortSignal {
    return this.draining.signal;
  }

  /** Aborted when medic stops waiting: work in flight is cut off. */
  get cutoff(): AbortSignal {
    return this.cutting.signal;
  }

  /** Runs a task in the background; stopping waits for it. A task that fails is logged, never thrown. */
  readonly background = (task: Promise<void>): void => {
    const tracked = task.catch((err) => this.log.error({ err: describeError(err) }, "internal error in a background task"));
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  };

  /** Undone at stop, after everything registered later. */
  defer(name: string, fn: () => void | Promise<void>): void {
    this.cleanups.push({ name, fn });
  }

  /**
   * Stops once, however often called. `halt`: what stops new work at once (schedules, timers),
   * before the drain. `drainMs` 0: work in flight is cut off at once (a leader that lost the lead).
   */
  shutdown(halt: () => Promise<void>, drainMs = DRAIN_MS): Promise<void> {
    return (this.stopping ??= this.run(halt, drainMs));
  }

  private async run(halt: () => Promise<void>, drainMs: number): Promise<void> {
    this.draining.abort(new Error("medic is stopping"));
    const halted = halt();
    if (!(await settles([...this.inflight], drainMs))) {
      this.log.warn({ inflight: this.inflight.size }, "cutting off in-flight playbooks");
      this.cutting.abort(new Error("medic is stopping"));
      await settles([...this.inflight], ABORT_GRACE_MS);
    }
    this.cutting.abort(new Error("medic is stopping"));
    await settles([halted], ABORT_GRACE_MS);
    for (const { name, fn } of this.cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        this.log.error({ err: describeError(err), cleanup: name }, "a cleanup failed while stopping");
      }
    }
  }
}
