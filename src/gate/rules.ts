import { approvalKey } from "../incidents/types.js";
import type { GateRule } from "./types.js";

/** A dry run: nothing happens; whoever asked records what would have. */
export const dryRunRule: GateRule = { name: "dry_run", check: () => "dry run: medic acts on nothing" };

/** medic lost its right to act (another medic took the state dir, or the store refused a record): nothing more happens. */
export function standingRule(lost: () => string | undefined): GateRule {
  return {
    name: "standing",
    check: () => {
      const why = lost();
      return why === undefined ? undefined : `medic may no longer act: ${why}`;
    },
  };
}

/** A cluster: only the leader acts, at its epoch, before its lease runs out; `standing` says why not. */
export function leaderRule(standing: () => string | undefined): GateRule {
  return {
    name: "leader",
    check: () => {
      const why = standing();
      return why === undefined ? undefined : `not the leader: ${why}`;
    },
  };
}

/**
 * A cluster's follower: it probes and keeps its own view, but the leader acts and pages. Messages
 * about medic itself still go out (a node that cannot reach the store must be able to say so).
 */
export function followerRule(leader: () => string): GateRule {
  return {
    name: "follower",
    check: (action) => (action.kind === "announce" ? undefined : `this node follows; ${leader()} acts and pages`),
  };
}

/**
 * A cluster: a playbook whose steps act on a host (a command, a unit, a local process or docker
 * socket) has them carried out by the node that host is; `nodeOf` says a target's node (undefined:
 * any node, all nodes share the host), `known` whether a node is in the cluster (undefined: not
 * known yet). Refused when no such node ever joined: it escalates, no node can reach that host.
 */
export function placementRule(
  me: string,
  nodeOf: (target: string) => string | undefined,
  known: (node: string) => boolean | undefined,
): GateRule {
  return {
    name: "placement",
    check: (action) => {
      if (action.kind !== "playbook" || action.local.length === 0) return undefined;
      const node = nodeOf(action.target);
      if (node === undefined || node === me || known(node) !== false) return undefined;
      return `${action.local.join(", ")} act${action.local.length === 1 ? "s" : ""} on the host of node ${node}, which is not in this cluster (no node of that name has joined): no node can carry ${action.local.length === 1 ? "it" : "them"} out`;
    },
  };
}

/**
 * A step that needs approval runs only once a person said yes: to it (its own `approval:`, a rule
 * for its kind) and to its run (a playbook's or severity's). `approved` is what the incident's
 * journal says was approved. Refused, the run waits for the answer (see daemon/approvals.ts).
 */
export function approvalRule(approved: (incident: string) => readonly string[] | undefined): GateRule {
  return {
    name: "approval",
    check: (action) => {
      if (action.kind !== "step" || !action.approval) return undefined;
      const have = approved(action.incident) ?? [];
      const stepOk = !action.approval.step || have.includes(approvalKey(action.runId, action.index));
      const runOk = !action.approval.run || have.includes(approvalKey(action.runId, "run"));
      return stepOk && runOk ? undefined : `step ${action.index + 1} (${action.step}) waits for approval: ${action.approval.why}`;
    },
  };
}
