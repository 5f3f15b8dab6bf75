import type pg from "pg";
import type { StepTask } from "../daemon/ports.js";
import { sleep } from "../lib/clock.js";
import { formatDuration } from "../lib/duration.js";
import type { Logger } from "../lib/log.js";
import type { StepResult } from "../services/types.js";
import { dropTask, expireTask, offerTask, readTask, taskId, type TaskState } from "./tasks.js";

/** How often the leader looks at a task it handed out. */
const POLL_MS = 200;
/** A node that beats after a task was offered has this long to take it. */
const CLAIM_MS = 5_000;
/** After the step's timeout and the grace a step gets to stop, this long for its node to say so. */
const REPORT_MS = 5_000;

/** What the leader needs to hand a step to another node. */
export interface CarryDeps {
  pool: pg.Pool;
  cluster: string;
  epoch: number;
  log: Logger;
  /** A node silent this long is gone (node_down's limit): a task it has not taken by then fails. */
  silentMs: number;
}

/**
 * Hands a host step to `node` and waits for it to say how the step ended: the leader journals it as
 * it would a step of its own. A node that never joined, went silent, or beats but does not take the
 * step within CLAIM_MS ends it failed, nothing run; one that took it and says nothing past the step's
 * timeout may have died mid-step. `signal` (the leader's term ending) ends the wait; a task not yet
 * taken is withdrawn first, and one taken is left to the journal's rule for an interrupted step.
 */
export async function carryStep(deps: CarryDeps, node: string, task: StepTask, signal: AbortSignal): Promise<StepResult> {
  const { pool, cluster } = deps;
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const on = `on node ${node}`;
  // Named before it is written: an insert whose reply was lost is written again (a no-op) or withdrawn, never forgotten.
  const id = taskId(task, deps.epoch);
  let offered = false;
  let claimedAt: number | undefined;
  let last: TaskState | undefined;
  for (;;) {
    if (signal.aborted) {
      if (claimedAt === undefined) await withdraw(pool, cluster, id);
      return { ok: false, detail: `${on}: this leader's term ended while it waited` };
    }
    try {
      if (!offered) await offerTask(pool, cluster, id, node, deps.epoch, task);
      offered = true;
      last = await readTask(pool, cluster, id);
    } catch {
      // The store is away: this leader's lease says how long it may wait for it (its end aborts `signal`).
    }
    if (last?.state === "done") {
      await dropTask(pool, cluster, id).catch(() => {});
      return result(on, last);
    }
    if (last?.state === "running") claimedAt ??= elapsed();
    if (claimedAt === undefined) {
      // Given up only once the task is taken back for sure: a node that claimed it meanwhile is waited for.
      const why = last && unclaimed(last, elapsed(), deps.silentMs, node);
      if (why && (await withdraw(pool, cluster, id)))
        return { ok: false, detail: `${why}; nothing was run there, and no other node acts on its host` };
    } else if (elapsed() - claimedAt > task.timeoutMs + REPORT_MS) {
      return {
        ok: false,
        detail: `node ${node} took the step and has not said how it ended within ${formatDuration(task.timeoutMs + REPORT_MS)}: it may have died mid-step`,
      };
    }
    await sleep(POLL_MS, signal).catch(() => {});
  }
}

/** Takes back a task no node has taken (true), and drops it; false when its node took it first (or the store is away). */
async function withdraw(pool: pg.Pool, cluster: string, id: string): Promise<boolean> {
  const expired = await expireTask(pool, cluster, id).catch(() => false);
  if (expired) await dropTask(pool, cluster, id).catch(() => {});
  return expired;
}

/** Why a task no node took should be given up on now, or undefined to wait on. */
function unclaimed(last: TaskState, waitedMs: number, silentLimitMs: number, node: string): string | undefined {
  if (last.silentMs === null) return `node ${node} is not in this cluster: no node of that name has ever joined`;
  if (last.silentMs >= silentLimitMs)
    return `node ${node} has sent no heartbeat for ${Math.round(last.silentMs / 1000)} s: its host or its medic is gone`;
  if (waitedMs > CLAIM_MS && last.silentMs < waitedMs)
    return `node ${node} beats but did not take the step within ${formatDuration(CLAIM_MS)} (does it run this version of medic?)`;
  return undefined;
}

function result(on: string, task: TaskState): StepResult {
  const detail = `${on}: ${task.detail ?? ""}`;
  const durationMs = task.durationMs ?? 0;
  if (task.outcome === "ok") return { ok: true, detail, durationMs };
  if (task.outcome === "skipped") return { ok: true, changed: false, detail, durationMs };
  return { ok: false, detail, durationMs };
}
