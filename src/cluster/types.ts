// What a node of a cluster knows of leadership.

/** What a node knows of the leader, from the last look at the leader row. */
export interface LeaderSeen {
  node: string | null;
  epoch: number;
  /** When its lease ends, on the database's clock (ms since the epoch). */
  leaseUntil: number;
}

/** This node's part in the cluster now. */
export type Role =
  | { mode: "connecting"; why?: string }
  | { mode: "follower"; leader?: LeaderSeen }
  | { mode: "leader"; epoch: number; since: number; deadlineMs: number }
  | { mode: "stopped" };
