import type { Logger } from "../lib/log.js";
import type { Action, GateRule, Verdict } from "./types.js";

/**
 * Asks each rule in order; the first objection refuses the action. An allowed action waits for the
 * store (`durable`) first: the record announcing it is on disk before it happens. The rules are
 * asked again once it is: a write the store refused, or a lease that ran out while waiting, stops
 * the action (a cluster's leader can lose its standing during the wait).
 */
export class ActionGate {
  private readonly refused = new Map<string, number>();

  constructor(
    private readonly rules: readonly GateRule[],
    private readonly opts: { durable: () => Promise<void>; log: Logger },
  ) {}

  /** Whether the action may happen now; once it says yes, everything recorded before it is durable. */
  async allow(action: Action): Promise<Verdict> {
    const verdict = this.check(action);
    if (!verdict.allow) return verdict;
    await this.opts.durable();
    return this.check(action);
  }

  /** The rules' answer without waiting for durability: for a caller that only wants to know (a plan). */
  check(action: Action): Verdict {
    for (const rule of this.rules) {
      const reason = rule.check(action);
      if (reason === undefined) continue;
      this.refused.set(rule.name, (this.refused.get(rule.name) ?? 0) + 1);
      this.opts.log.debug({ action, rule: rule.name, reason }, "action refused by the gate");
      return { allow: false, rule: rule.name, reason };
    }
    return { allow: true };
  }

  /** Refusals so far, by rule (metrics). */
  refusals(): ReadonlyMap<string, number> {
    return this.refused;
  }
}
