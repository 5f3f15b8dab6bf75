import type pg from "pg";
import { z } from "zod";
import { pgConnectionSchema } from "../../config/pg-connection.js";
import { formatDuration } from "../../lib/duration.js";
import { describeError } from "../../lib/errors.js";
import type { ArtifactRef } from "../../services/types.js";
import type { PreviewContext, StepKind, StepResult } from "../types.js";
import { captureResult, noSink } from "./capture-kept.js";
import { resolveConnection, where, withPgClient } from "./postgres-connect.js";
import { formatSnapshot, maskPasswords, type Count, type Snapshot } from "./postgres-snapshot-report.js";
import {
  BLOCKERS_SQL,
  countRow,
  COUNTS_SQL,
  serverRow,
  SERVER_SQL,
  sessionRow,
  SESSIONS_SQL,
  waitRow,
  WAITS_SQL,
  type SnapshotSession,
} from "./postgres-snapshot-sql.js";

const params = z.strictObject({
  connection: pgConnectionSchema.optional().meta({
    description:
      "Where to connect (default: the target's postgres probe, else that of the first target in dependsOn with one); " +
      "the role needs pg_monitor to see other roles' sessions",
  }),
  queryChars: z
    .number()
    .int()
    .min(0)
    .max(10_000)
    .default(1000)
    .meta({ description: "Keep this many characters of each query text (default 1000); they are redacted as all evidence is" }),
  maxSessions: z.number().int().min(1).max(5000).default(200).meta({ description: "List at most this many busy sessions (default 200)" }),
});
// `- postgres.snapshot:` is null in YAML: the defaults.
const schema = params.nullish().transform((v): z.output<typeof params> => v ?? params.parse({}));
type Params = z.output<typeof schema>;

const STEM = "pg-activity";
const MAX_WAITS = 100;
const TOP_COUNTS = 20;

/** `postgres.snapshot`: pg_stat_activity, lock waits and the longest transactions, kept as text and JSON before a fix ends them. */
export const postgresSnapshot: StepKind<typeof schema, Params> = {
  schema,
  defaultTimeoutMs: 15_000,
  idempotent: true,
  needsService: false,
  capture: true,
  render: (p) => p,
  describe: (p) => `capture pg_stat_activity, lock waits and the longest transactions${p.connection ? ` of ${where(p.connection)}` : ""}`,
  preview: (p, ctx) => {
    const r = resolveConnection(p.connection, ctx);
    if ("error" in r) return Promise.resolve([r.error]);
    return Promise.resolve([`would capture pg_stat_activity, lock waits and the longest transactions of ${where(r.conn)} (${r.via})`]);
  },
  async run(p, ctx): Promise<StepResult> {
    const done = captureResult();
    const r = resolveConnection(p.connection, ctx);
    if ("error" in r) return done(false, r.error);
    const sink = ctx.artifacts;
    if (!sink) return done(false, `${noSink()} (would snapshot ${where(r.conn)})`);
    const out = await takeSnapshot(p, r, ctx);
    if ("failed" in out) return done(false, `snapshot failed: ${out.failed}`);
    const s = out.value;
    const refs: ArtifactRef[] = [];
    try {
      refs.push(await sink.save(STEM, formatSnapshot(s), { ext: "txt" }));
      refs.push(await sink.save(STEM, `${JSON.stringify(s, null, 2)}\n`, { ext: "json" }));
    } catch (err) {
      return done(false, `snapshot taken, but could not keep it: ${describeError(err)}`, refs.length > 0 ? refs : undefined);
    }
    return done(true, summarise(s, refs), refs);
  },
};

/** One read-only transaction: every statement sees the same pg_stat_activity (it is cached per transaction). */
async function takeSnapshot(
  p: Params,
  r: { conn: Parameters<typeof where>[0]; via: string },
  ctx: PreviewContext,
): Promise<{ value: Snapshot } | { failed: string }> {
  return withPgClient(r, ctx, "connect as a role granted pg_monitor", async (client) => {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    // A third of the step's time per statement: one slow view cannot use up the whole capture.
    await client.query("SELECT pg_catalog.set_config('statement_timeout', $1, true)", [
      String(Math.max(100, Math.floor(ctx.timeoutMs / 3))),
    ]);
    const server = serverRow.parse((await client.query(SERVER_SQL)).rows[0]);
    const sessions = await rows(client, SESSIONS_SQL, [p.queryChars, p.maxSessions + 1], sessionRow);
    const lockWaits = await rows(client, WAITS_SQL, [p.queryChars, MAX_WAITS], waitRow);
    const wanted = [...new Set(lockWaits.flatMap((w) => w.blocked_by))];
    const blockers = wanted.length === 0 ? [] : await rows(client, BLOCKERS_SQL, [p.queryChars, wanted], sessionRow);
    const counts = (await client.query(COUNTS_SQL)).rows.map((row) => countRow.parse(row));
    await client.query("COMMIT");
    const byState = countsOf(counts, 3, (c) => c.state ?? "<insufficient privilege>");
    return {
      at: server.at,
      database: where(r.conn),
      via: r.via,
      server: {
        version: server.version,
        inRecovery: server.in_recovery,
        maxConnections: server.max_connections,
        role: server.role,
        seesAll: server.sees_all,
      },
      clients: byState.reduce((sum, c) => sum + c.n, 0),
      hidden: counts.filter((c) => c.g === 3 && c.state === null).reduce((sum, c) => sum + c.n, 0),
      counts: {
        state: byState,
        application: countsOf(counts, 5, (c) => c.application_name || "(none)"),
        client: countsOf(counts, 6, (c) => c.client ?? "(unknown)"),
      },
      lockWaits: lockWaits.map(masked),
      blockers: blockers.map(masked),
      sessions: sessions.slice(0, p.maxSessions).map(masked),
      more: sessions.length > p.maxSessions,
      queryChars: p.queryChars,
    };
  });
}

async function rows<T extends z.ZodType>(client: pg.Client, sql: string, values: unknown[], row: T): Promise<z.output<T>[]> {
  return (await client.query(sql, values)).rows.map((x) => row.parse(x));
}

function countsOf(counts: z.output<typeof countRow>[], g: number, name: (c: z.output<typeof countRow>) => string): Count[] {
  return counts
    .filter((c) => c.g === g)
    .slice(0, TOP_COUNTS)
    .map((c) => ({ name: name(c), n: c.n }));
}

const masked = <T extends SnapshotSession>(x: T): T => (x.query === null ? x : { ...x, query: maskPasswords(x.query) });

/** `snapshot of app@h:5432/db: 37 client sessions (12 active, …), 2 lock waits, longest transaction 46s; kept a.txt, b.json` */
function summarise(s: Snapshot, refs: ArtifactRef[]): string {
  const states = s.counts.state.map((c) => `${c.n} ${c.name}`).join(", ");
  const longest = s.sessions.find((x) => x.xact_ms !== null)?.xact_ms;
  const parts = [
    `${s.clients} client sessions${states ? ` (${states})` : ""}`,
    `${s.lockWaits.length} lock ${s.lockWaits.length === 1 ? "wait" : "waits"}`,
    longest === undefined || longest === null ? "no open transaction" : `longest transaction ${formatDuration(longest)}`,
  ];
  const partial = s.server.seesAll ? "" : `; partial view: role ${s.server.role} lacks pg_monitor`;
  return `snapshot of ${s.database}: ${parts.join(", ")}${partial}; kept ${refs.map((r) => r.name).join(", ")}`;
}
