import type pg from "pg";
import type { Incident, JournalRecord } from "../../incidents/types.js";
import type { Cursor } from "../query.js";
import type { HistoryQuery } from "../types.js";

// The statements that read the store. Every one filters on the cluster: clusters share tables.

/** What a store starts from: the live view's folds and the newest seq, from one snapshot of the database. */
export async function loadLive(
  pool: pg.Pool,
  cluster: string,
  opts: { recentSince: number; maxResolved: number },
): Promise<{ incidents: Incident[]; seq: number }> {
  const client = await pool.connect();
  let failed: unknown;
  try {
    // One snapshot, so the folds and the seq agree even while the leader writes.
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    // Resolved incidents: the newest `maxResolved` only (the live view's own cap), of which those
    // still recent or still owed a notification; a bounded read, whatever the history's length.
    const { rows } = await client.query<{ fold: Incident }>(
      `SELECT fold FROM medic_incidents WHERE cluster = $1 AND state <> 'resolved'
       UNION ALL
       SELECT fold FROM (SELECT fold, resolved_at FROM medic_incidents WHERE cluster = $1 AND state = 'resolved'
                         ORDER BY resolved_at DESC LIMIT $3) AS r
       WHERE r.resolved_at >= $2 OR r.fold -> 'notifications' @> '[{"status":"queued"}]'`,
      [cluster, Math.floor(opts.recentSince), opts.maxResolved],
    );
    const seq = await client.query<{ seq: string }>("SELECT coalesce(max(seq), 0) AS seq FROM medic_records WHERE cluster = $1", [cluster]);
    await client.query("COMMIT");
    return { incidents: rows.map((r) => r.fold), seq: Number(seq.rows[0]!.seq) };
  } catch (err) {
    failed = err;
    throw err;
  } finally {
    client.release(failed === undefined ? undefined : failed instanceof Error ? failed : true);
  }
}

/** One page of stored incidents in the history order, after `cursor`, with the query's filters. */
export async function historyRows(
  pool: pg.Pool,
  cluster: string,
  q: HistoryQuery,
  cursor: Cursor | undefined,
  limit: number,
): Promise<Incident[]> {
  // The same filters as query.ts `matches`, and its order: ids compared byte-wise, as JavaScript does.
  const { rows } = await pool.query<{ fold: Incident }>(
    `SELECT fold FROM medic_incidents WHERE cluster = $1
       AND ($2::text IS NULL OR target = $2)
       AND ($3::text IS NULL OR root = $3)
       AND ($4::text IS NULL OR CASE WHEN $4 = 'unresolved' THEN state <> 'resolved' ELSE state = $4 END)
       AND ($5::float8 IS NULL OR opened_at <= $5)
       AND ($6::float8 IS NULL OR resolved_at IS NULL OR resolved_at >= $6)
       AND ($7::bigint IS NULL OR opened_at < $7 OR (opened_at = $7 AND id COLLATE "C" < $8))
     ORDER BY opened_at DESC, id COLLATE "C" DESC
     LIMIT $9`,
    [
      cluster,
      q.target ?? null,
      q.root ?? null,
      q.state ?? null,
      q.until ?? null,
      q.since ?? null,
      cursor?.openedAt ?? null,
      cursor?.id ?? null,
      limit,
    ],
  );
  return rows.map((r) => r.fold);
}

/** A stored incident by its exact id. */
export async function storedIncident(pool: pg.Pool, cluster: string, id: string): Promise<Incident | undefined> {
  const { rows } = await pool.query<{ fold: Incident }>("SELECT fold FROM medic_incidents WHERE cluster = $1 AND id = $2", [cluster, id]);
  return rows[0]?.fold;
}

/** Stored incidents whose id starts with `prefix`, those in `besides` left out: how many, and one of them. */
export async function storedByPrefix(
  pool: pg.Pool,
  cluster: string,
  prefix: string,
  besides: string[],
): Promise<{ count: number; one?: Incident }> {
  const { rows } = await pool.query<{ fold: Incident; n: string }>(
    `SELECT fold, count(*) OVER () AS n FROM medic_incidents
     WHERE cluster = $1 AND starts_with(id, $2) AND NOT (id = ANY($3::text[])) LIMIT 1`,
    [cluster, prefix, besides],
  );
  return rows[0] ? { count: Number(rows[0].n), one: rows[0].fold } : { count: 0 };
}

/** Records committed after `seq`, in order, at most `limit`. */
export async function recordsAfter(pool: pg.Pool, cluster: string, seq: number, limit: number): Promise<JournalRecord[]> {
  const { rows } = await pool.query<{ record: JournalRecord }>(
    "SELECT record FROM medic_records WHERE cluster = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    [cluster, seq, limit],
  );
  return rows.map((r) => r.record);
}

/** The stored folds of these incidents (those that have one). */
export async function storedFolds(pool: pg.Pool, cluster: string, ids: string[]): Promise<Incident[]> {
  const { rows } = await pool.query<{ fold: Incident }>("SELECT fold FROM medic_incidents WHERE cluster = $1 AND id = ANY($2::text[])", [
    cluster,
    ids,
  ]);
  return rows.map((r) => r.fold);
}
