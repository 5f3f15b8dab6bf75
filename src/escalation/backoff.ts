/** How long to wait between delivery attempts: doubling from `initialMs` up to `maxMs`. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** Spread of each delay around its nominal value: ±20%, so channels that failed together retry apart. */
export const JITTER = 0.2;

/**
 * The wait before retry number `retry` (1 = the first retry): `initialMs * 2^(retry-1)` capped at
 * `maxMs`, jittered by ±20% with `random` (a value in [0, 1), Math.random in production), and never
 * more than `maxMs`. A receiver's Retry-After wins when it asks for longer, up to `maxMs` too: a
 * receiver cannot park a page for an hour. Pure; always a finite whole number of ms >= 0.
 */
export function backoffDelayMs(retry: number, policy: BackoffPolicy, random: () => number, retryAfterMs?: number): number {
  const maxMs = Math.max(0, policy.maxMs);
  const initialMs = Math.min(Math.max(0, policy.initialMs), maxMs);
  // Capping the exponent keeps 2^n finite however many attempts a long outage racks up.
  const exponent = Math.min(Math.max(0, Math.floor(retry) - 1), 40);
  const nominal = Math.min(maxMs, initialMs * 2 ** exponent);
  const r = Math.min(Math.max(random(), 0), 1);
  const jittered = nominal * (1 - JITTER + 2 * JITTER * r);
  let delay = Number.isFinite(jittered) ? Math.min(maxMs, jittered) : nominal;
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > delay) {
    delay = Math.min(maxMs, retryAfterMs);
  }
  return Math.round(delay);
}
