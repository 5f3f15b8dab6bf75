/** The shortest time between two looks at the watched pids: a death is noticed in 40 ms at the median. */
export const PID_TICK_MIN_MS = 80;
/** At most this many /proc reads a second for all watched pids together: hundreds of pids slow the tick instead. */
export const PID_READS_PER_SECOND = 1000;

/** The tick period for `count` watched pids: PID_TICK_MIN_MS, longer once the reads a second would pass their bound. */
export function adaptivePeriodMs(count: number): number {
  return Math.max(PID_TICK_MIN_MS, Math.ceil((count * 1000) / PID_READS_PER_SECOND));
}

/**
 * One timer for every watched pid (the pids medic did not start: its own children tell of their exit).
 * Each tick runs every check; the period follows how many there are. The timer is unref'd and exists
 * only while something is watched.
 */
export class PidTicker {
  private readonly checks = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly periodMs: (count: number) => number = adaptivePeriodMs) {}

  /** Runs `check` at every tick from now on; returns the removal. */
  add(check: () => void): () => void {
    this.checks.add(check);
    this.arm();
    return () => {
      this.checks.delete(check);
      if (this.checks.size === 0) this.disarm();
    };
  }

  /** How many checks run at each tick. */
  get size(): number {
    return this.checks.size;
  }

  /** True while a timer is set (only while something is watched). */
  get armed(): boolean {
    return this.timer !== undefined;
  }

  private arm(): void {
    if (this.timer !== undefined || this.checks.size === 0) return;
    this.timer = setTimeout(() => this.tick(), this.periodMs(this.checks.size));
    // The watch follows the daemon; it must not be what keeps the process alive.
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs every check now and starts the period again (a test steps the ticker with it). */
  tick(): void {
    this.disarm();
    let failed: unknown;
    // A copy: a check may remove itself (or another) as it reports.
    for (const check of [...this.checks]) {
      try {
        check();
      } catch (err) {
        failed ??= err;
      }
    }
    this.arm();
    // A throwing listener is a bug: it surfaces as before, after every other pid was looked at.
    if (failed !== undefined) throw failed;
  }
}

/** The ticker every pid-file watch of this medic shares. */
export const sharedPidTicker = new PidTicker();
