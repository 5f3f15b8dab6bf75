import { z } from "zod";
import type { PgConnection } from "../../lib/pg.js";
import { resolveConnection, where, withPgClient } from "./postgres-connect.js";
import type { PreviewContext, StepKind, StepResult } from "../types.js";
import {
  actSql,
  describeFilter,
  formatSession,
  renderFilterParams,
  selectSql,
  sessionFilterShape,
  sessionParams,
  sessionStates,
  type SessionAction,
  type SessionFilter,
  type SessionRow,
} from "./postgres-sessions.js";

const terminateSchema = z.strictObject({
  ...sessionFilterShape,
  state: sessionStates().prefault(["idle"]).meta({
    description: "Session states to end: idle, idle in transaction, idle in transaction (aborted), active; one or a list (default idle)",
  }),
});
// Cancelling only means something for a running query, so cancel has no state to choose.
const cancelSchema = z.strictObject(sessionFilterShape);

// Rendered: olderThan is milliseconds, a template in it filled from the target.
type TerminateParams = Omit<z.output<typeof terminateSchema>, "olderThan"> & { olderThan: number };
type CancelParams = Omit<z.output<typeof cancelSchema>, "olderThan"> & { olderThan: number };

const LISTED = 10;

/** `postgres.terminate`: end client sessions that match a filter (idle ones by default), oldest first. */
export const postgresTerminate: StepKind<typeof terminateSchema, TerminateParams> = {
  schema: terminateSchema,
  defaultTimeoutMs: 30_000,
  // Terminating a session that is already gone is harmless; running the filter again is the point.
  idempotent: true,
  needsService: false,
  render: (p, r) => renderFilterParams(p, r),
  describe: (p) => describeStep("terminate", p.state, p),
  run: (p, ctx) => runStep("terminate", filterOf(p.state, p), p.connection, ctx),
  preview: (p, ctx) => previewStep("terminate", filterOf(p.state, p), p.connection, ctx),
};

/** `postgres.cancel`: cancel queries that have run too long, leaving their sessions connected. */
export const postgresCancel: StepKind<typeof cancelSchema, CancelParams> = {
  schema: cancelSchema,
  defaultTimeoutMs: 30_000,
  idempotent: true,
  needsService: false,
  render: (p, r) => renderFilterParams(p, r),
  describe: (p) => describeStep("cancel", ["active"], p),
  run: (p, ctx) => runStep("cancel", filterOf(["active"], p), p.connection, ctx),
  preview: (p, ctx) => previewStep("cancel", filterOf(["active"], p), p.connection, ctx),
};

function filterOf(states: SessionFilter["states"], p: CancelParams): SessionFilter {
  const { connection: _, ...rest } = p;
  return { ...rest, states };
}

function describeStep(action: SessionAction, states: SessionFilter["states"], p: CancelParams): string {
  const on = p.connection ? ` on ${where(p.connection)}` : "";
  return `${action} up to ${p.max} ${describeFilter(action, filterOf(states, p))}${on}`;
}

async function runStep(
  action: SessionAction,
  f: SessionFilter,
  explicit: PgConnection | undefined,
  ctx: PreviewContext,
): Promise<StepResult> {
  const t0 = performance.now();
  const done = (ok: boolean, detail: string): StepResult => ({ ok, detail, durationMs: performance.now() - t0 });
  const resolved = resolveConnection(explicit, ctx);
  if ("error" in resolved) return done(false, resolved.error);
  const out = await querySessions(resolved, actSql(action), f, ctx);
  if ("failed" in out) return done(false, `${action} failed: ${out.failed}`);
  const detail = summarise(action, f, out.rows);
  // Nothing signalled: the database is as it was, and the timeline should say so rather than "ok".
  return out.rows.some((r) => r.signalled) ? done(true, detail) : { ...done(true, detail), changed: false };
}

/** Runs one statement on a fresh connection; never rejects, and never reports a password. */
async function querySessions(
  target: { conn: PgConnection; via: string },
  text: string,
  f: SessionFilter,
  ctx: PreviewContext,
): Promise<{ rows: SessionRow[] } | { failed: string }> {
  const out = await withPgClient(target, ctx, "connect as a superuser, or a role granted pg_signal_backend", async (client) => {
    const result = await client.query<SessionRow>(
      text,
      sessionParams(f).map((p) => p.value),
    );
    return result.rows;
  });
  return "failed" in out ? out : { rows: out.value };
}

async function previewStep(
  action: SessionAction,
  f: SessionFilter,
  explicit: PgConnection | undefined,
  ctx: PreviewContext,
): Promise<string[]> {
  const lines = [
    "sql:",
    ...actSql(action)
      .split("\n")
      .map((l) => `  ${l}`),
    ...sessionParams(f).map((p, i) => `  $${i + 1} = ${printable(JSON.stringify(p.value))}  -- ${p.means}`),
  ];
  const resolved = resolveConnection(explicit, ctx);
  if ("error" in resolved) return [...lines, resolved.error];
  lines.push(`connects to ${where(resolved.conn)} (${resolved.via})`);
  // The same SELECT the statement above wraps, without the signal: read-only.
  const out = await querySessions(resolved, selectSql(action), f, ctx);
  if ("failed" in out) return [...lines, `cannot look right now: ${out.failed}`];
  if (out.rows.length === 0) return [...lines, "no session matches right now"];
  return [...lines, ...out.rows.map((row) => `would ${action} ${formatSession(row)}`)];
}

function summarise(action: SessionAction, f: SessionFilter, rows: SessionRow[]): string {
  const noun = (n: number): string => (action === "cancel" ? (n === 1 ? "query" : "queries") : n === 1 ? "session" : "sessions");
  const verb = action === "cancel" ? "cancelled" : "terminated";
  if (rows.length === 0) return `${verb} 0 ${noun(0)}: none ${describeFilter(action, f).replace(/^(sessions|queries) /, "")}`;
  const hit = rows.filter((r) => r.signalled).length;
  // false means the backend was gone by the time the signal went out.
  const head =
    hit === rows.length ? `${verb} ${hit} ${noun(hit)}` : `${verb} ${hit} of ${rows.length} ${noun(rows.length)} (the others had ended)`;
  const listed = rows.slice(0, LISTED).map((r) => `${formatSession(r)}${r.signalled ? "" : " already gone"}`);
  const more = rows.length > LISTED ? `, and ${rows.length - LISTED} more` : "";
  return `${head}: ${listed.join(", ")}${more}`;
}

// JSON already escapes C0 controls; C1 controls can still steer a terminal.
function printable(s: string): string {
  return s.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
