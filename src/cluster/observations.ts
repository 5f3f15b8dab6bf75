import type pg from "pg";

// What followers see of each target, published to the store: a row per node and target, written
// when the node's view changes (not every round). A row is as fresh as its node's heartbeat.

/** One node's latest view of one target. */
export interface ObservationRow {
  node: string;
  target: string;
  failing: boolean;
  evidence: string;
  /** How long ago the node's last heartbeat was (its row means nothing once the node is silent). */
  silentMs: number;
}

/** Records this node's view of a target (on a change of it). */
export async function publishObservation(
  db: pg.Pool,
  o: { cluster: string; node: string; target: string; failing: boolean; evidence: string },
): Promise<void> {
  await db.query(
    `INSERT INTO medic_observations (cluster, node, target, failing, evidence, at) VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (cluster, node, target) DO UPDATE SET failing = $4, evidence = $5, at = now()`,
    [o.cluster, o.node, o.target, o.failing, o.evidence.slice(0, 500)],
  );
}

/** Every node's latest view of every target, with how long ago each node last beat. */
export async function readObservations(db: pg.Pool, cluster: string): Promise<ObservationRow[]> {
  const { rows } = await db.query<{ node: string; target: string; failing: boolean; evidence: string; silent: number }>(
    `SELECT o.node, o.target, o.failing, o.evidence, (extract(epoch FROM now() - n.heartbeat_at) * 1000)::float8 AS silent
       FROM medic_observations o JOIN medic_nodes n ON n.cluster = o.cluster AND n.node = o.node WHERE o.cluster = $1`,
    [cluster],
  );
  return rows.map((r) => ({ node: r.node, target: r.target, failing: r.failing, evidence: r.evidence, silentMs: Number(r.silent) }));
}

/**
 * A follower's side: publishes its view of each target when it changes (failing or not), so that
 * the store holds one row per node and target, not a row per round. A publish that fails is tried
 * again on the next round.
 */
export class ObservationPublisher {
  private readonly published = new Map<string, boolean>();

  constructor(
    private readonly db: pg.Pool,
    private readonly me: { cluster: string; node: string },
  ) {}

  /** Told of every round this node probes. */
  round(target: string, failing: boolean, evidence: string): void {
    if (this.published.get(target) === failing) return;
    this.published.set(target, failing);
    publishObservation(this.db, { ...this.me, target, failing, evidence }).catch(() => this.published.delete(target));
  }
}
