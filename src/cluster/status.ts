import type pg from "pg";
import { listNodes, type NodeRow } from "./nodes.js";

/** The cluster as the store has it: `/api/cluster` and `medic cluster status`. */
export interface ClusterStatus {
  cluster: string;
  leader: { node: string | null; epoch: number; since: number | null; leaseUntil: number; leaseLeftMs: number } | null;
  nodes: NodeRow[];
  /** The latest leadership changes, newest first. */
  changes: { at: number; node: string; epoch: number; event: string; detail: string }[];
}

/** Reads the leader row, the nodes and the latest leadership changes of a cluster. */
export async function readClusterStatus(db: pg.Pool | pg.Client, cluster: string, changes = 20): Promise<ClusterStatus> {
  const leader = await db.query<{ node: string | null; epoch: string; since: number | null; until: number; left: number }>(
    `SELECT node, epoch, (extract(epoch FROM since) * 1000)::float8 AS since,
       (extract(epoch FROM lease_until) * 1000)::float8 AS until, (extract(epoch FROM lease_until - now()) * 1000)::float8 AS left
       FROM medic_leader WHERE cluster = $1`,
    [cluster],
  );
  const log = await db.query<{ at: number; node: string; epoch: string; event: string; detail: string }>(
    `SELECT (extract(epoch FROM at) * 1000)::float8 AS at, node, epoch, event, detail FROM medic_cluster_log
       WHERE cluster = $1 ORDER BY id DESC LIMIT $2`,
    [cluster, changes],
  );
  const row = leader.rows[0];
  return {
    cluster,
    leader: row
      ? {
          node: row.node,
          epoch: Number(row.epoch),
          since: row.since === null ? null : Number(row.since),
          leaseUntil: Number.isFinite(Number(row.until)) ? Number(row.until) : 0,
          leaseLeftMs: Number.isFinite(Number(row.left)) ? Math.round(Number(row.left)) : 0,
        }
      : null,
    nodes: await listNodes(db, cluster),
    changes: log.rows.map((r) => ({ at: Number(r.at), node: r.node, epoch: Number(r.epoch), event: r.event, detail: r.detail })),
  };
}
