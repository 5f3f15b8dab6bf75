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
  const fresh = rows.filter((r) => r.target === o.target && r.node !== o.me && r.silentMs < o.freshMs);
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
