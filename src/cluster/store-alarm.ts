/** What the alarm wants sent now: a page about the store, its resolve, or nothing. */
export type AlarmAction = "trigger" | "resolve" | undefined;

/**
 * Whether a node should page about losing the cluster's store: once it has been out of reach for
 * `afterMs` (a blip or a failover is not worth waking anyone), and a resolve once it is back. Every
 * node runs one; they all page under the cluster's one dedup key, so the on-call gets one page.
 */
export class StoreAlarm {
  private lostSince: number | undefined;
  private paged = false;

  constructor(private readonly afterMs: number) {}

  /** Says whether the store is reachable now; returns what to send, if anything. */
  tick(now: number, reachable: boolean): AlarmAction {
    if (reachable) {
      this.lostSince = undefined;
      if (!this.paged) return undefined;
      this.paged = false;
      return "resolve";
    }
    this.lostSince ??= now;
    if (this.paged || now - this.lostSince < this.afterMs) return undefined;
    this.paged = true;
    return "trigger";
  }

  /** Since when the store has been out of reach, or undefined. */
  since(): number | undefined {
    return this.lostSince;
  }
}
