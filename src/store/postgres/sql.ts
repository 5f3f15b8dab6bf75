import type pg from "pg";
import { applyRecord } from "../../incidents/fold.js";
import type { Incident, JournalRecord } from "../../incidents/types.js";

// The statements that write the store: one batch of records and the folds they change, in one
// transaction that the database refuses once the epoch has moved on.

/** A batch as taken from the queue: serialised when taken, since the folds keep changing in memory. */
export interface Batch {
  cluster: string;
  node: string;
  epoch: number;
  /** The records, as a JSON array (each with its seq). */
  records: string;
  /** The medic_incidents rows of the incidents folded in memory, as a JSON array. */
  incidents: string;
  /** Records of incidents not in memory: folded onto their row in the database. */
  elsewhere: Map<string, JournalRecord[]>;
}

/** How a batch went: committed, or refused because this store's epoch is over (fenced). */
export type BatchOutcome = { ok: true } | { ok: false; fenced: string };

/** The seq of the newest record folded into an incident (0 when none carries one). */
export function lastSeqOf(incident: Incident): number {
  return incident.timeline[incident.timeline.length - 1]?.seq ?? 0;
}

/** An incident's medic_incidents row (without the cluster). */
export function rowOf(i: Incident): Record<string, unknown> {
  return {
    id: i.id,
    target: i.target,
    state: i.state,
    opened_at: Math.round(i.openedAt),
    resolved_at: i.resolvedAt === undefined ? null : Math.round(i.resolvedAt),
    root: i.root ?? null,
    last_seq: lastSeqOf(i),
    fold: i,
  };
}

/**
 * JSON text that jsonb takes: jsonb refuses the escaped NUL character (`\u0000`), which a probe's
 * evidence can hold; it becomes U+FFFD rather than wedging the queue behind a record that never fits.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value).replace(/(?<!\\)((?:\\\\)*)\\u0000/g, "$1\\ufffd");
}

// A retried batch whose COMMIT landed but whose answer was lost finds its records there: they are
// the same records (only the holder of this epoch numbers them), so the retry skips them.
const INSERT_RECORDS = `
  INSERT INTO medic_records (cluster, seq, incident, at, epoch, node, record)
  SELECT $1, (r->>'seq')::bigint, r->>'incident', round((r->>'at')::numeric)::bigint, $2, $3, r
  FROM jsonb_array_elements($4::jsonb) AS r
  ON CONFLICT (cluster, seq) DO NOTHING`;

const UPSERT_INCIDENTS = `
  INSERT INTO medic_incidents (cluster, id, target, state, opened_at, resolved_at, root, last_seq, fold)
  SELECT $1, x.id, x.target, x.state, x.opened_at, x.resolved_at, x.root, x.last_seq, x.fold
  FROM jsonb_to_recordset($2::jsonb)
    AS x(id text, target text, state text, opened_at bigint, resolved_at bigint, root text, last_seq bigint, fold jsonb)
  ON CONFLICT (cluster, id) DO UPDATE SET target = EXCLUDED.target, state = EXCLUDED.state, opened_at = EXCLUDED.opened_at,
    resolved_at = EXCLUDED.resolved_at, root = EXCLUDED.root, last_seq = EXCLUDED.last_seq, fold = EXCLUDED.fold
  WHERE medic_incidents.last_seq <= EXCLUDED.last_seq`;

/**
 * Writes a batch in one transaction, or refuses it when the cluster's epoch is not this store's.
 * Throws when PostgreSQL cannot be reached or fails the statement: the caller keeps the batch.
 */
export async function writeBatch(pool: pg.Pool, b: Batch): Promise<BatchOutcome> {
  const client = await pool.connect();
  let failed: unknown;
  try {
    await client.query("BEGIN");
    // FOR SHARE is the fence. It locks the leader row against change until COMMIT, so a node that
    // takes over (UPDATE medic_leader SET epoch = epoch + 1) waits for this batch to commit and only
    // then leads; and if its UPDATE committed first, READ COMMITTED makes this SELECT wait for it and
    // re-read the row, so we see the new epoch and write nothing. A check without the lock could
    // read the old epoch just before the bump and commit just after it.
    const { rows } = await client.query<{ epoch: string }>("SELECT epoch FROM medic_leader WHERE cluster = $1 FOR SHARE", [b.cluster]);
    const current = rows[0] ? Number(rows[0].epoch) : undefined;
    if (current !== b.epoch) {
      await client.query("ROLLBACK");
      return {
        ok: false,
        fenced:
          current === undefined
            ? `the cluster has no leader row; epoch ${b.epoch} may not write`
            : `the cluster's epoch is ${current}, this node writes at epoch ${b.epoch}: another node leads now`,
      };
    }
    await client.query(INSERT_RECORDS, [b.cluster, b.epoch, b.node, b.records]);
    await client.query(UPSERT_INCIDENTS, [b.cluster, b.incidents]);
    if (b.elsewhere.size > 0) {
      const folded = await foldInDatabase(client, b.cluster, b.elsewhere);
      if (folded.length > 0) await client.query(UPSERT_INCIDENTS, [b.cluster, jsonText(folded.map(rowOf))]);
    }
    await client.query("COMMIT");
    return { ok: true };
  } catch (err) {
    failed = err;
    throw err;
  } finally {
    // A client that failed mid-transaction is destroyed, not reused: the server rolls back.
    client.release(failed === undefined ? undefined : failed instanceof Error ? failed : true);
  }
}

// Incidents that left memory (an acknowledgement of an old one): their stored fold, locked, with
// the batch's records folded on (those it already holds skipped, for a retried batch).
async function foldInDatabase(client: pg.PoolClient, cluster: string, records: Map<string, JournalRecord[]>): Promise<Incident[]> {
  const { rows } = await client.query<{ fold: Incident }>(
    "SELECT fold FROM medic_incidents WHERE cluster = $1 AND id = ANY($2::text[]) FOR UPDATE",
    [cluster, [...records.keys()]],
  );
  return rows.map(({ fold }) => {
    const last = lastSeqOf(fold);
    const one = new Map([[fold.id, fold]]);
    for (const r of records.get(fold.id) ?? []) if ((r.seq ?? 0) > last) applyRecord(one, r);
    return fold;
  });
}
