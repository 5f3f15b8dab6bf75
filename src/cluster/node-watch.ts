import type { NodeRow } from "./nodes.js";

/** The source of a node's `node_down` incident: one per node, opened and resolved by the leader. */
export const nodeSource = (node: string): string => `cluster-node:${node}`;

/** What the leader should do about the nodes' heartbeats. */
export interface NodeReview {
  /** Nodes silent past the limit with no open node_down: open one, saying how long. */
  down: { node: string; silentMs: number }[];
  /** Nodes with an open node_down whose heartbeat is back (or that are no longer in the cluster). */
  back: { node: string; why: string }[];
}

/**
 * Which nodes went silent and which came back. Pure. `leadingMs`: how long this leader has led; a
 * leader that just took over (after the store was away, every heartbeat is old) judges nobody until
 * each node has had `silentMs` to beat again.
 */
export function reviewNodes(
  nodes: readonly NodeRow[],
  opts: { me: string; silentMs: number; leadingMs: number; open: ReadonlySet<string> },
): NodeReview {
  const review: NodeReview = { down: [], back: [] };
  const known = new Set(nodes.map((n) => n.node));
  for (const n of nodes) {
    if (n.node === opts.me) continue;
    const silent = n.silentMs >= opts.silentMs;
    if (silent && !opts.open.has(n.node) && opts.leadingMs >= opts.silentMs) review.down.push({ node: n.node, silentMs: n.silentMs });
    if (!silent && opts.open.has(n.node)) review.back.push({ node: n.node, why: `node ${n.node}'s heartbeat is back` });
  }
  for (const node of opts.open)
    if (!known.has(node) || node === opts.me) review.back.push({ node, why: `node ${node} is no longer in the cluster` });
  return review;
}
