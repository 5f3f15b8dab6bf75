import type { Clock } from "../lib/clock.js";

/**
 * The grid rounds are placed on. Rounds due on the same beat start in one timer callback, so their
 * connects, answers and closes share the event loop's turns: at thousands of targets that costs far
 * less CPU per check than one wake-up per target. A beat is short against any interval worth probing.
 */
export const BEAT_MS = 50;

/** Whether an interval is a whole number of beats: only then do its slots go on the grid. */
export function wholeBeats(intervalMs: number): boolean {
  return intervalMs >= BEAT_MS && intervalMs % BEAT_MS === 0;
}

/** The first beat at or after `ms`. */
export function onBeat(ms: number): number {
  return Math.ceil(ms / BEAT_MS) * BEAT_MS;
}

/** Callbacks due at the same moment, run by one timer; built per clock (see beatsOf). */
class Beats {
  private readonly due = new Map<number, { fns: Set<() => void>; cancel: () => void }>();

  constructor(private readonly clock: Clock) {}

  /** Calls `fn` at `time` (epoch ms) with everything else due then; returns its cancel. */
  at(time: number, fn: () => void): () => void {
    let slot = this.due.get(time);
    if (!slot) {
      const fns = new Set<() => void>();
      const cancel = this.clock.timer(() => {
        this.due.delete(time);
        for (const f of fns) {
          // One callback's throw must not cost the others on its beat their rounds: it is thrown on its own.
          try {
            f();
          } catch (err) {
            queueMicrotask(() => {
              throw err;
            });
          }
        }
      }, time - this.clock.now());
      slot = { fns, cancel };
      this.due.set(time, slot);
    }
    const { fns } = slot;
    fns.add(fn);
    return () => {
      fns.delete(fn);
      if (fns.size === 0 && this.due.get(time)?.fns === fns) {
        this.due.delete(time);
        slot.cancel();
      }
    };
  }
}

const perClock = new WeakMap<Clock, Beats>();

/** The beats of a clock: every schedule on the same clock shares them. */
export function beatsOf(clock: Clock): Beats {
  let beats = perClock.get(clock);
  if (!beats) perClock.set(clock, (beats = new Beats(clock)));
  return beats;
}
