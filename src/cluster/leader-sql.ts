import type pg from "pg";
import type { LeaderSeen } from "./types.js";

// The statements of leader election, on the leader row of medic_leader (one per cluster) and a
// session advisory lock keyed by the cluster's name. Every lease is counted on the database's clock.

/** What a takeover found and made. */
export interface TakeOver {
  epoch: number;
  /** The node that led before, and at which epoch (null: nobody ever led). */
  previous: { node: string | null; epoch: number };
}

/** A session's application_name holds at most 63 bytes. */
const NAME_BYTES = 63;

/** The leadership statements of one node of one cluster. */
export function leaderSql(cluster: string, node: string) {
  const applicationName = truncate(`medic-leader ${cluster} ${node}`);
  const lockKey = ["medic-leader", cluster];
  const ttl = (ms: number) => `${ms} milliseconds`;
  return {
    applicationName,
    setName: { text: "SELECT set_config('application_name', $1, false)", values: [applicationName] },
    tryLock: { text: "SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS got", values: lockKey },

    /** Takes the lead: the epoch moves on, the lease starts, and the cluster's log says who took over from whom. */
    async takeOver(client: pg.Client, ttlMs: number): Promise<TakeOver> {
      await client.query("BEGIN");
      try {
        await client.query("INSERT INTO medic_leader (cluster) VALUES ($1) ON CONFLICT (cluster) DO NOTHING", [cluster]);
        const before = await client.query<{ node: string | null; epoch: string }>(
          "SELECT node, epoch FROM medic_leader WHERE cluster = $1 FOR UPDATE",
          [cluster],
        );
        const previous = { node: before.rows[0]!.node, epoch: Number(before.rows[0]!.epoch) };
        const { rows } = await client.query<{ epoch: string }>(
          `UPDATE medic_leader SET node = $2, epoch = epoch + 1, lease_until = now() + $3::interval,
             backend_pid = pg_backend_pid(), since = now() WHERE cluster = $1 RETURNING epoch`,
          [cluster, node, ttl(ttlMs)],
        );
        const epoch = Number(rows[0]!.epoch);
        const detail = previous.node === null ? "first leader" : `took over from ${previous.node} (epoch ${previous.epoch})`;
        await client.query("INSERT INTO medic_cluster_log (cluster, node, epoch, event, detail) VALUES ($1, $2, $3, 'elected', $4)", [
          cluster,
          node,
          epoch,
          detail,
        ]);
        await client.query("COMMIT");
        return { epoch, previous };
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw err;
      }
    },

    /** Extends the lease; false when the row no longer names this node, its epoch and its session. */
    async renew(client: pg.Client, epoch: number, ttlMs: number): Promise<boolean> {
      const { rowCount } = await client.query(
        `UPDATE medic_leader SET lease_until = now() + $4::interval
           WHERE cluster = $1 AND node = $2 AND epoch = $3 AND backend_pid = pg_backend_pid()`,
        [cluster, node, epoch, ttl(ttlMs)],
      );
      return rowCount === 1;
    },

    /** The leader row as the database sees it now; undefined before anyone led. */
    async leader(client: pg.Client): Promise<{ leader: LeaderSeen; pid: number | null; expired: boolean } | undefined> {
      const { rows } = await client.query<{ node: string | null; epoch: string; until: string; pid: number | null; expired: boolean }>(
        `SELECT node, epoch, (extract(epoch FROM lease_until) * 1000)::float8 AS until, backend_pid AS pid,
           lease_until < now() AS expired FROM medic_leader WHERE cluster = $1`,
        [cluster],
      );
      const row = rows[0];
      if (!row) return undefined;
      const until = Number(row.until);
      return {
        leader: { node: row.node, epoch: Number(row.epoch), leaseUntil: Number.isFinite(until) ? until : 0 },
        pid: row.pid,
        expired: row.expired,
      };
    },

    /**
     * Ends a stalled leader's session, if it is still there and is that leader's leadership session
     * (a pid alone may have been reused); true when one was ended.
     */
    async endSession(client: pg.Client, pid: number, leaderNode: string): Promise<boolean> {
      const { rows } = await client.query<{ ended: boolean }>(
        "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE pid = $1 AND application_name = $2",
        [pid, truncate(`medic-leader ${cluster} ${leaderNode}`)],
      );
      return rows[0]?.ended === true;
    },
  };
}

function truncate(name: string): string {
  const bytes = Buffer.from(name);
  return bytes.length <= NAME_BYTES
    ? name
    : bytes
        .subarray(0, NAME_BYTES)
        .toString("utf8")
        .replace(/\uFFFD$/, "");
}
