import type { Confirmation } from "../daemon/ports.js";
import type { ObservationRow } from "./observations.js";

/**
 * Whether enough nodes see `target` failing for the leader (which does) to act. Pure. A node counts
 * only while its heartbeat is fresh. Until `graceMs` after the incident opened the others may not
 * have probed it yet, so too few is a wait; after it, any node that sees it healthy makes it a
 * disagreement of vantage points, and silence an escalation.
 */
export function confirmFailure(
  rows: readonly ObservationRow[],
  o: { me: string; target: string; quorum: number; waitedMs: number; graceMs: number; freshMs: number },
): Confirmation {
  // A node that reaches none of its targets says more about its own network than about them: it is not asked.
  const blind = blindNodes(rows);
  const fresh = rows.filter((r) => r.target === o.target && r.node !== o.me && r.silentMs < o.freshMs && !blind.has(r.node));
  const failing = [
    o.me,
    ...fresh
      .filter((r) => r.failing)
      .map((r) => r.node)
      .sort(),
  ];
  const healthy = fresh
    .filter((r) => !r.failing)
    .map((r) => r.node)
    .sort();
  const seen = `${failing.length} of ${o.quorum} needed (${failing.join(", ")})`;
  if (failing.length >= o.quorum) return { act: true, detail: `confirmed by ${seen}` };
  if (o.waitedMs < o.graceMs) return { act: false, hold: `waiting for ${o.quorum} nodes to see ${o.target} failing: ${seen} so far` };
  if (healthy.length > 0)
    return {
      act: false,
      disagree: `${failing.join(", ")} see${failing.length === 1 ? "s" : ""} ${o.target} failing, but ${healthy.join(", ")} see${healthy.length === 1 ? "s" : ""} it healthy: the network path is at fault, not ${o.target}`,
    };
  return { act: false, escalate: `only ${seen} see ${o.target} failing; the other nodes say nothing of it, so medic does not act alone` };
}

/** Nodes that see every one of their targets failing (two or more): blind, not witnesses. */
export function blindNodes(rows: readonly ObservationRow[]): Set<string> {
  const seen = new Map<string, { all: number; failing: number }>();
  for (const r of rows) {
    const n = seen.get(r.node) ?? { all: 0, failing: 0 };
    n.all++;
    if (r.failing) n.failing++;
    seen.set(r.node, n);
  }
  return new Set([...seen].filter(([, n]) => n.all >= 2 && n.failing === n.all).map(([node]) => node));
}

/**
 * Why the leader should heal nothing now, or undefined: it reaches none of its targets (two or
 * more) while another node, not blind itself, reaches some: its own network is suspect. When every
 * node sees everything down, that is an outage, and the leader acts (within its guards).
 */
export function blindLeader(
  mine: readonly { up: boolean | null }[],
  rows: readonly ObservationRow[],
  o: { me: string; freshMs: number },
): string | undefined {
  if (mine.length < 2 || !mine.every((t) => t.up === false)) return undefined;
  const blind = blindNodes(rows);
  const seeing = [
    ...new Set(rows.filter((r) => r.node !== o.me && r.silentMs < o.freshMs && !blind.has(r.node)).map((r) => r.node)),
  ].sort();
  if (seeing.length === 0) return undefined;
  const they = `${seeing.join(", ")} reach${seeing.length === 1 ? "es" : ""} some`;
  return `${o.me} reaches none of its ${mine.length} targets while ${they}: its own network is suspect, so it heals nothing it cannot see`;
}
