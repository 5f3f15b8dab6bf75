/** Where a channel's breaker stands: sending, resting, or letting one try through to see. */
export type BreakerState = "closed" | "open" | "half-open";

/** When to stop hammering a failing receiver, and for how long. */
export interface BreakerOptions {
  /** Consecutive retryable failures that open the breaker. */
  failures: number;
  /** How long it stays open before letting one try through. */
  cooldownMs: number;
}

/**
 * A per-channel circuit breaker as a pure state machine: every method takes `now`, nothing reads a
 * clock or sets a timer. `failures` consecutive failures open it for `cooldownMs`; after that it is
 * half-open, and the next outcome decides: success closes it, failure re-opens it for a fresh cooldown.
 * It admits one try at a time in half-open only because the outbox sends one notification at a time
 * per channel; a caller with concurrent sends would need a trial flag. Only report what says
 * something about the receiver's health: a 4xx (configuration) is neither a success nor a failure.
 */
export class CircuitBreaker {
  private consecutive = 0;
  private openedAt: number | undefined;
  private readonly threshold: number;
  private readonly cooldownMs: number;

  constructor(opts: BreakerOptions) {
    this.threshold = Math.max(1, Math.floor(opts.failures));
    this.cooldownMs = Math.max(0, opts.cooldownMs);
  }

  /** Consecutive retryable failures so far (keeps counting while open). */
  get failures(): number {
    return this.consecutive;
  }

  /** The state at `now`. */
  state(now: number): BreakerState {
    if (this.openedAt === undefined) return "closed";
    return now < this.openedAt + this.cooldownMs ? "open" : "half-open";
  }

  /** Milliseconds until a send may go: 0 when closed or half-open, the rest of the cooldown when open. */
  waitMs(now: number): number {
    return this.state(now) === "open" ? this.openedAt! + this.cooldownMs - now : 0;
  }

  /** The receiver took a send: close and forget past failures. */
  success(): void {
    this.consecutive = 0;
    this.openedAt = undefined;
  }

  /** A retryable failure: counts toward opening, and re-opens a half-open breaker at once. */
  failure(now: number): void {
    this.consecutive++;
    if (this.openedAt !== undefined || this.consecutive >= this.threshold) this.openedAt = now;
  }
}
