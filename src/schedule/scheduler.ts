import { systemClock, type Clock } from "../lib/clock.js";
import { BEAT_MS, beatsOf, onBeat, wholeBeats } from "./beats.js";

/** A target's recurring probe: fixed-rate ticks at `phaseMs + k * intervalMs`, never overlapping. */
export interface Schedule {
  /** Runs a round now (after the one in progress, if any), then carries on at the usual rate. */
  poke(): void;
  /** Stops future ticks and resolves once a round in progress has finished. */
  stop(): Promise<void>;
}

/** What a tick is told: when it was meant to start (its slot, or the moment of a poke); drift = actual start - intendedAt. */
export type Tick = (intendedAt: number) => Promise<void>;

/**
 * Runs `tick` every `intervalMs`, starting `phaseMs` from now. A self-rescheduling timer, not
 * cron: a round that overruns its slot skips the missed slots instead of piling up or running twice
 * at once, and a poke runs a round at once, after which the schedule returns to its own slots (so
 * pokes never bunch targets that were spread). An interval that is a whole number of beats puts its
 * slots on the beat grid, shared with every other such schedule; other intervals keep their own
 * millisecond timer.
 */
export function every(intervalMs: number, phaseMs: number, tick: Tick, clock: Clock = systemClock): Schedule {
  let stopped = false;
  let running: Promise<void> | undefined;
  let cancel = (): void => {};
  const beats = wholeBeats(intervalMs) ? beatsOf(clock) : undefined;
  // The schedule's own slots: first, then every interval from it.
  const first = (beats ? onBeat(clock.now()) : clock.now()) + phaseMs;
  let next = first;

  const arm = (): void => {
    if (beats && next > clock.now()) cancel = beats.at(onBeat(next), fire);
    else cancel = clock.timer(fire, next - clock.now());
  };
  let poked = false;
  const fire = (): void => {
    const intendedAt = next;
    // Node's timers count from the event loop's cached time, which a long synchronous stretch (arming
    // thousands of schedules at start) leaves behind: a slot is never run before it is due.
    if (!poked && clock.now() < intendedAt) return arm();
    poked = false;
    let round: Promise<void>;
    try {
      round = tick(intendedAt);
    } catch (err) {
      round = Promise.reject(err);
    }
    running = round
      .catch(() => {}) // a tick reports its own failures; the schedule must go on
      .finally(() => {
        running = undefined;
        if (stopped) return;
        const now = clock.now();
        // The first of its own slots after now: the next one, or later when the round overran.
        next = first + Math.max(0, Math.floor((now - first) / intervalMs) + 1) * intervalMs;
        if (poked) next = now;
        arm();
      });
  };
  arm();

  return {
    poke() {
      if (stopped) return;
      poked = true;
      if (running) return; // the round in progress reschedules at once when it ends
      cancel();
      next = clock.now();
      arm();
    },
    async stop() {
      stopped = true;
      cancel();
      await running;
    },
  };
}

/** A stable offset in [0, intervalMs) per name, so many targets spread over the interval; on a beat when the interval is whole beats. */
export function phaseFor(name: string, intervalMs: number): number {
  let hash = 2166136261;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 16777619);
  if (wholeBeats(intervalMs)) return ((hash >>> 0) % (intervalMs / BEAT_MS)) * BEAT_MS;
  return (hash >>> 0) % Math.max(1, intervalMs);
}
