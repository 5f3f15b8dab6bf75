import type { Clock } from "./clock.js";

/**
 * A clock that moves only when told: for running the daemon in-process, deterministically.
 * `advance(ms)` fires every timer that falls due, in time order, letting the work each one starts
 * settle (promise chains, other timers it arms that are due too) before the next.
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  timer(fn: () => void, ms: number): () => void {
    const id = ++this.seq;
    this.timers.set(id, { at: this.current + Math.max(0, ms), fn });
    return () => void this.timers.delete(id);
  }

  /** Moves time forward by `ms`, firing what falls due on the way. */
  async advance(ms: number): Promise<void> {
    const until = this.current + ms;
    for (;;) {
      await settle();
      const next = this.nextDue(until);
      if (!next) break;
      this.timers.delete(next.id);
      this.current = Math.max(this.current, next.at);
      next.fn();
    }
    this.current = until;
    await settle();
  }

  /** How many timers are armed (a check that nothing was left running). */
  pending(): number {
    return this.timers.size;
  }

  private nextDue(until: number): { id: number; at: number; fn: () => void } | undefined {
    let best: { id: number; at: number; fn: () => void } | undefined;
    for (const [id, t] of this.timers)
      if (t.at <= until && (!best || t.at < best.at || (t.at === best.at && id < best.id))) best = { id, ...t };
    return best;
  }
}

// Lets promise chains started by a timer run to their next real wait: a few turns of the event loop.
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
