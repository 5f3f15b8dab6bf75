import type { SafetyConfig } from "../safety/types.js";

/** The shortest recent window a store keeps resolved incidents in memory for. */
export const MIN_RECENT_MS = 3600_000;

/**
 * How long resolved incidents must stay in memory: the longest window a safety guard looks back
 * over (the flap guard's window and reset, the blast radius's window), and at least an hour.
 */
export function recentWindowMs(safety: SafetyConfig): number {
  return Math.max(safety.flapGuard.windowMs, safety.flapGuard.resetAfterMs, safety.blastRadius.windowMs, MIN_RECENT_MS);
}
