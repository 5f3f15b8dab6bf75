import { describe, expect, it } from "vitest";
import { backoffDelayMs } from "./backoff.js";

const policy = { initialMs: 1_000, maxMs: 300_000 };
const mid = () => 0.5; // no jitter: the nominal delay

describe("backoffDelayMs", () => {
  it("doubles from initialMs and stops at maxMs", () => {
    const delays = Array.from({ length: 12 }, (_, i) => backoffDelayMs(i + 1, policy, mid));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000]);
  });

  it("jitters by ±20% at the edges of the random range", () => {
    expect(backoffDelayMs(3, policy, () => 0)).toBe(3_200);
    expect(backoffDelayMs(3, policy, () => 0.999_999)).toBe(4_800);
    expect(backoffDelayMs(3, policy, () => 0.25)).toBe(3_600);
  });

  it("stays inside the jitter band for any random value, and never above maxMs", () => {
    for (let retry = 1; retry <= 15; retry++) {
      const nominal = Math.min(policy.maxMs, policy.initialMs * 2 ** (retry - 1));
      for (let k = 0; k < 50; k++) {
        const d = backoffDelayMs(retry, policy, () => k / 50);
        expect(d).toBeGreaterThanOrEqual(Math.floor(nominal * 0.8));
        expect(d).toBeLessThanOrEqual(Math.min(policy.maxMs, Math.ceil(nominal * 1.2)));
      }
    }
  });

  it("spreads retries apart when the jitter source varies", () => {
    const seen = new Set(Array.from({ length: 20 }, (_, k) => backoffDelayMs(5, policy, () => k / 20)));
    expect(seen.size).toBeGreaterThan(15);
  });

  it("honours a longer Retry-After, ignores a shorter one, and caps it at maxMs", () => {
    expect(backoffDelayMs(1, policy, mid, 10_000)).toBe(10_000);
    expect(backoffDelayMs(4, policy, mid, 500)).toBe(8_000);
    expect(backoffDelayMs(1, policy, mid, 3_600_000)).toBe(300_000);
  });

  it("ignores a Retry-After that is not a usable number", () => {
    expect(backoffDelayMs(2, policy, mid, Number.NaN)).toBe(2_000);
    expect(backoffDelayMs(2, policy, mid, -5)).toBe(2_000);
    expect(backoffDelayMs(2, policy, mid, Number.POSITIVE_INFINITY)).toBe(2_000);
  });

  it("stays finite for absurd attempt counts and a misbehaving random", () => {
    expect(backoffDelayMs(10_000, policy, mid)).toBe(300_000);
    expect(backoffDelayMs(0, policy, mid)).toBe(1_000);
    expect(backoffDelayMs(2, policy, () => Number.NaN)).toBe(2_000);
    expect(backoffDelayMs(2, policy, () => 7)).toBe(2_400);
  });
});
