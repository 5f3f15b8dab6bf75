import { z } from "zod";
import { formatDuration, parseDuration } from "../../lib/duration.js";
import { pgConnectionSchema } from "../../config/pg-connection.js";
import { TemplateError, type Renderer } from "../template.js";

// Which sessions postgres.terminate and postgres.cancel act on. The SQL text is fixed per action;
// every value an operator or an incident supplies travels as a bind parameter ($n), never as text.
// https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ACTIVITY-VIEW
// https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL

/** What a step does to the sessions it selects. */
export type SessionAction = "terminate" | "cancel";

/** Session states an operator may select (pg_stat_activity.state). */
export const SESSION_STATES = ["idle", "idle in transaction", "idle in transaction (aborted)", "active"] as const;
/** One session state. */
export type SessionState = (typeof SESSION_STATES)[number];

/** application_name of medic's own connections (steps and the postgres probe): never touched. */
export const MEDIC_APPLICATION_NAMES = ["medic", "medic-probe"] as const;

const names = (what: string, description: string) =>
  z
    .array(z.string().min(1, `${what} may not be empty`))
    .min(1, `an empty list matches nothing (hint: drop ${what} to mean any)`)
    .optional()
    .meta({ description });

/** Fields both steps share: where to connect and which sessions to pick. */
export const sessionFilterShape = {
  connection: pgConnectionSchema.optional().meta({
    description:
      "Where to connect (default: the target's postgres probe, else that of the first target in dependsOn with one); " +
      "the role needs superuser, or pg_signal_backend and pg_read_all_stats",
  }),
  olderThan: durationOrTemplate()
    .prefault("5m")
    .meta({
      description:
        "Only sessions longer than this in their state (cancel: running the query this long); default 5m. " +
        'A template follows the target: "{{ target.thresholds.idleInTransaction }}"',
    }),
  databases: names("databases", "Only sessions on these databases (exact names; {{ }} allowed)"),
  users: names("users", "Only sessions of these roles (exact names; {{ }} allowed)"),
  applications: names("applications", "Only sessions with one of these application_name values (exact)"),
  excludeApplications: names("excludeApplications", "Never sessions with one of these application_name values (exact)"),
  max: z.number().int().min(1).max(1000).default(50).meta({ description: "At most this many sessions per run, oldest first" }),
  allowSuperuser: z.boolean().default(false).meta({ description: "Also act on sessions of superuser roles (default: never)" }),
};

// A duration now, or a template (the target's threshold) that becomes one when the step is planned.
function durationOrTemplate() {
  return z.union([z.string(), z.number()]).transform((value, ctx): number | string => {
    if (typeof value === "string" && value.includes("{{")) return value;
    const ms = parseDuration(value);
    if (ms !== undefined) return ms;
    ctx.addIssue({
      code: "custom",
      message: `not a duration (got ${JSON.stringify(value)}; hint: write it like 30s or 5m, or "{{ target.thresholds.idleInTransaction }}")`,
    });
    return z.NEVER;
  });
}

const state = z.enum(SESSION_STATES);
/** `state: idle` or `state: [idle, idle in transaction]`, as a list without repeats. */
export const sessionStates = () =>
  z.union([
    state.transform((s) => [s]),
    z
      .array(state)
      .min(1)
      .transform((l) => [...new Set(l)]),
  ]);

/** A filter with templates rendered, ready to become bind parameters. */
export interface SessionFilter {
  states: SessionState[];
  olderThan: number;
  databases?: string[];
  users?: string[];
  applications?: string[];
  excludeApplications?: string[];
  max: number;
  allowSuperuser: boolean;
}

/** Renders a filter's templates: the name lists, and `olderThan` to milliseconds. */
export function renderFilterParams<
  P extends Partial<Record<"databases" | "users" | "applications" | "excludeApplications", string[]>> & { olderThan: number | string },
>(p: P, r: Renderer): Omit<P, "olderThan"> & { olderThan: number } {
  const out = { ...p, olderThan: typeof p.olderThan === "number" ? p.olderThan : renderDuration(p.olderThan, r) };
  for (const key of ["databases", "users", "applications", "excludeApplications"] as const) {
    const list = p[key];
    if (list !== undefined) out[key] = list.map((s) => r.text(s)) as P[typeof key];
  }
  return out;
}

function renderDuration(template: string, r: Renderer): number {
  const text = r.text(template);
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw new TemplateError(
      "TEMPLATE_UNSAFE_VALUE",
      `olderThan ${template} is ${JSON.stringify(text.slice(0, 60))}, not a duration`,
      "use a duration like 5m, or a duration threshold: {{ target.thresholds.idleInTransaction }} or {{ target.thresholds.queryDuration }}",
    );
  }
  return ms;
}

const FUNCTION: Record<SessionAction, string> = { terminate: "pg_terminate_backend", cancel: "pg_cancel_backend" };
// terminate: how long the session has been in its state; cancel: how long the query has run.
const SINCE: Record<SessionAction, string> = { terminate: "state_change", cancel: "query_start" };

/** The read-only SELECT of the sessions a step would act on (fixed text per action). */
export function selectSql(action: SessionAction): string {
  const since = `a.${SINCE[action]}`;
  return [
    "SELECT a.pid, a.usename, a.application_name, a.datname, a.state,",
    `       (extract(epoch FROM now() - ${since}) * 1000)::float8 AS age_ms`,
    "  FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid",
    " WHERE a.backend_type = 'client backend'",
    "   AND a.pid <> pg_backend_pid()",
    "   AND NOT (coalesce(a.application_name, '') = ANY ($1::text[]))",
    "   AND a.state = ANY ($2::text[])",
    `   AND ${since} < now() - $3::float8 * interval '1 millisecond'`,
    "   AND ($4::text[] IS NULL OR a.datname = ANY ($4::text[]))",
    "   AND ($5::text[] IS NULL OR a.usename = ANY ($5::text[]))",
    "   AND ($6::text[] IS NULL OR a.application_name = ANY ($6::text[]))",
    "   AND NOT (coalesce(a.application_name, '') = ANY ($7::text[]))",
    // An unknown role counts as a superuser: when in doubt, leave the session alone.
    "   AND ($8::boolean OR NOT coalesce(r.rolsuper, true))",
    ` ORDER BY ${since}, a.pid`,
    " LIMIT $9",
  ].join("\n");
}

/** The one statement a step runs: the SELECT above, and the signal sent to each row it returns. */
export function actSql(action: SessionAction): string {
  // A subquery with LIMIT is never flattened, so the signal function runs only on the rows it returns.
  return [`SELECT s.*, ${FUNCTION[action]}(s.pid) AS signalled FROM (`, selectSql(action), ") s", "ORDER BY s.age_ms DESC, s.pid"].join(
    "\n",
  );
}

/** The bind parameters of both statements, in $n order, each with what it means. */
export function sessionParams(f: SessionFilter): { value: unknown; means: string }[] {
  return [
    { value: [...MEDIC_APPLICATION_NAMES], means: "medic's own application names (never touched)" },
    { value: f.states, means: "states" },
    { value: f.olderThan, means: "in that state longer than, ms" },
    { value: f.databases ?? null, means: "databases (null: any)" },
    { value: f.users ?? null, means: "users (null: any)" },
    { value: f.applications ?? null, means: "applications (null: any)" },
    { value: f.excludeApplications ?? [], means: "applications left alone" },
    { value: f.allowSuperuser, means: "superusers' sessions too" },
    { value: f.max, means: "at most" },
  ];
}

/** One row of either statement. */
export interface SessionRow {
  pid: number;
  usename: string | null;
  application_name: string | null;
  datname: string | null;
  state: string | null;
  age_ms: number;
  signalled?: boolean;
}

/** `pid 123 app@orders "psql" (idle 6m12s)`; names came from clients, so they are cleaned and capped. */
export function formatSession(row: SessionRow): string {
  const app = row.application_name ? ` ${JSON.stringify(clean(row.application_name))}` : "";
  return `pid ${row.pid} ${clean(row.usename ?? "?")}@${clean(row.datname ?? "?")}${app} (${row.state ?? "?"} ${formatDuration(Math.max(0, row.age_ms))})`;
}

const MAX_NAME = 64;

function clean(s: string): string {
  const one = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
  return one.length > MAX_NAME ? `${one.slice(0, MAX_NAME - 1)}…` : one;
}

/** `sessions idle over 5m (users: app; not superusers)`: the filter in one line. */
export function describeFilter(action: SessionAction, f: SessionFilter): string {
  const what =
    action === "cancel"
      ? `queries running over ${formatDuration(f.olderThan)}`
      : `sessions ${f.states.join(" or ")} over ${formatDuration(f.olderThan)}`;
  const parts = [
    f.databases && `databases: ${list(f.databases)}`,
    f.users && `users: ${list(f.users)}`,
    f.applications && `applications: ${list(f.applications)}`,
    f.excludeApplications && `not applications: ${list(f.excludeApplications)}`,
    f.allowSuperuser ? "superusers too" : "not superusers",
  ].filter(Boolean);
  return `${what} (${parts.join("; ")})`;
}

const list = (names: string[]): string => names.map(clean).join(", ");
