import type pg from "pg";
import type { ClusterConfig } from "../config/cluster.js";

/** What a node says of itself in its heartbeat. */
export interface NodeDetail {
  mode: string;
  epoch?: number;
  elected: number;
  steppedDown: number;
  fenced: number;
  problem: string | null;
}

/** A node as the cluster's table of nodes has it. */
export interface NodeRow {
  node: string;
  startedAt: number;
  heartbeatAt: number;
  /** How long ago its last heartbeat was, on the database's clock. */
  silentMs: number;
  version: string;
  detail: Partial<NodeDetail>;
}

const VERSION = process.env.npm_package_version ?? "0.1.0";

/** Records that this node is alive, and what it is doing (on the database's clock). */
export async function heartbeat(pool: pg.Pool, cluster: ClusterConfig, detail: NodeDetail): Promise<void> {
  await pool.query(
    `INSERT INTO medic_nodes (cluster, node, started_at, heartbeat_at, version, detail) VALUES ($1, $2, now(), now(), $3, $4)
       ON CONFLICT (cluster, node) DO UPDATE SET heartbeat_at = now(), version = $3, detail = $4`,
    [cluster.name, cluster.node, VERSION, JSON.stringify(detail)],
  );
}

/** Every node that ever joined the cluster, newest heartbeat first. */
export async function listNodes(pool: pg.Pool | pg.Client, cluster: string): Promise<NodeRow[]> {
  const { rows } = await pool.query<{
    node: string;
    started: number;
    beat: number;
    silent: number;
    version: string;
    detail: Partial<NodeDetail>;
  }>(
    `SELECT node, (extract(epoch FROM started_at) * 1000)::float8 AS started, (extract(epoch FROM heartbeat_at) * 1000)::float8 AS beat,
       (extract(epoch FROM now() - heartbeat_at) * 1000)::float8 AS silent, version, detail
       FROM medic_nodes WHERE cluster = $1 ORDER BY heartbeat_at DESC`,
    [cluster],
  );
  return rows.map((r) => ({
    node: r.node,
    startedAt: Number(r.started),
    heartbeatAt: Number(r.beat),
    silentMs: Math.round(Number(r.silent)),
    version: r.version,
    detail: r.detail,
  }));
}
