import type pg from "pg";
import { z } from "zod";
import type { StepTask } from "../daemon/ports.js";
import { redactor } from "../lib/redact.js";

// Host steps the leader hands to the node whose host they act on (medic_tasks). A task moves
// pending -> running (the node claimed it) -> done (it said how it ended), or pending -> expired
// (the leader gave up first): each move is one atomic UPDATE, so a task is run at most once, and
// never after the leader stopped waiting. A node claims only tasks of the epoch that leads now, on
// a lease that has not run out: a deposed leader's task is never run.

/** A task as the node it is for claims it; `unreadable` when its row could not be read as a task. */
export type ClaimedTask =
  | (StepTask & { id: string; epoch: number; unreadable?: never })
  | { id: string; epoch: number; playbook: string; index: number; description: string; unreadable: true };

const taskPlan = z.object({
  runId: z.string().max(200),
  incident: z.object({ id: z.string(), kind: z.string(), severity: z.string(), target: z.string(), evidence: z.string() }),
  timeoutMs: z.number().int().min(0),
});

/** A task as the leader waiting on it reads it. `silentMs`: how long its node has not beaten (null: no such node). */
export interface TaskState {
  state: "pending" | "running" | "done" | "expired";
  outcome: string | null;
  detail: string | null;
  durationMs: number | null;
  silentMs: number | null;
}

/** The task's id: one per run, step and term (a step retried by the next leader is a new task). */
export const taskId = (task: StepTask, epoch: number): string => `${task.runId}:${task.index}:${epoch}`;

/** Hands a step to `node` as task `id`; rows older than a day, whatever became of them, go at the same time. */
export async function offerTask(db: pg.Pool, cluster: string, id: string, node: string, epoch: number, task: StepTask): Promise<void> {
  await db.query("DELETE FROM medic_tasks WHERE cluster = $1 AND created_at < now() - interval '1 day'", [cluster]);
  await db.query(
    `INSERT INTO medic_tasks (cluster, id, node, epoch, incident, target, playbook, step_index, description, plan)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (cluster, id) DO NOTHING`,
    [
      cluster,
      id,
      node,
      epoch,
      task.incident.id,
      task.incident.target,
      task.playbook,
      task.index,
      redactor.text(task.description),
      JSON.stringify(redactor.value({ runId: task.runId, incident: task.incident, timeoutMs: task.timeoutMs })),
    ],
  );
}

/** Where a task is, and how long its node has been silent. */
export async function readTask(db: pg.Pool, cluster: string, id: string): Promise<TaskState | undefined> {
  const { rows } = await db.query<{
    state: TaskState["state"];
    outcome: string | null;
    detail: string | null;
    duration_ms: number | null;
    silent: number | null;
  }>(
    `SELECT t.state, t.outcome, t.detail, t.duration_ms, (extract(epoch FROM now() - n.heartbeat_at) * 1000)::float8 AS silent
       FROM medic_tasks t LEFT JOIN medic_nodes n ON n.cluster = t.cluster AND n.node = t.node
       WHERE t.cluster = $1 AND t.id = $2`,
    [cluster, id],
  );
  const r = rows[0];
  if (!r) return undefined;
  const silentMs = r.silent === null ? null : Math.round(Number(r.silent));
  return { state: r.state, outcome: r.outcome, detail: r.detail, durationMs: r.duration_ms, silentMs };
}

/** The leader gives up on a task no node took: true when it did (false: the node claimed it first). */
export async function expireTask(db: pg.Pool, cluster: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query("UPDATE medic_tasks SET state = 'expired' WHERE cluster = $1 AND id = $2 AND state = 'pending'", [
    cluster,
    id,
  ]);
  return rowCount === 1;
}

/** The leader recorded how the task ended: its row has done its job. */
export async function dropTask(db: pg.Pool, cluster: string, id: string): Promise<void> {
  await db.query("DELETE FROM medic_tasks WHERE cluster = $1 AND id = $2", [cluster, id]);
}

/** Claims the tasks waiting for `node` from the leader that leads now. */
export async function claimTasks(db: pg.Pool, cluster: string, node: string): Promise<ClaimedTask[]> {
  const { rows } = await db.query<{
    id: string;
    epoch: string;
    playbook: string;
    step_index: number;
    description: string;
    plan: { runId: string; incident: StepTask["incident"]; timeoutMs: number };
  }>(
    `UPDATE medic_tasks t SET state = 'running', claimed_at = now() FROM medic_leader l
       WHERE t.cluster = $1 AND t.node = $2 AND t.state = 'pending'
         AND l.cluster = t.cluster AND l.epoch = t.epoch AND l.lease_until > now()
       RETURNING t.id, t.epoch, t.playbook, t.step_index, t.description, t.plan`,
    [cluster, node],
  );
  return rows.map((r) => {
    const plan = taskPlan.safeParse(r.plan);
    const claimed = { id: r.id, epoch: Number(r.epoch), playbook: r.playbook, index: r.step_index, description: r.description };
    // A row this node cannot read (another version wrote it, or someone by hand) is reported failed, never guessed at.
    return plan.success ? { ...claimed, ...plan.data } : { ...claimed, unreadable: true as const };
  });
}

/** The node says how a task it claimed ended. */
export async function finishTask(
  db: pg.Pool,
  cluster: string,
  id: string,
  result: { outcome: string; detail: string; durationMs: number },
): Promise<void> {
  await db.query(
    `UPDATE medic_tasks SET state = 'done', finished_at = now(), outcome = $3, detail = $4, duration_ms = $5
       WHERE cluster = $1 AND id = $2 AND state = 'running'`,
    [cluster, id, result.outcome, redactor.text(result.detail), result.durationMs],
  );
}
