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
