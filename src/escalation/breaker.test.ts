import { describe, expect, it } from "vitest";
import { CircuitBreaker } from "./breaker.js";

const opts = { failures: 3, cooldownMs: 30_000 };

describe("CircuitBreaker", () => {
  it("stays closed below the threshold and opens on the Nth consecutive failure", () => {
    const b = new CircuitBreaker(opts);
    b.failure(1_000);
    b.failure(2_000);
    expect(b.state(2_000)).toBe("closed");
    expect(b.waitMs(2_000)).toBe(0);
    b.failure(3_000);
    expect(b.state(3_000)).toBe("open");
    expect(b.failures).toBe(3);
  });

  it("a success resets the count, so only consecutive failures open it", () => {
    const b = new CircuitBreaker(opts);
    b.failure(0);
    b.failure(1);
    b.success();
    b.failure(2);
    b.failure(3);
    expect(b.failures).toBe(2);
    expect(b.state(3)).toBe("closed");
  });

  it("blocks for the cooldown, then goes half-open", () => {
    const b = new CircuitBreaker(opts);
    for (const t of [0, 0, 10_000]) b.failure(t);
    expect(b.waitMs(10_000)).toBe(30_000);
    expect(b.waitMs(25_000)).toBe(15_000);
    expect(b.state(39_999)).toBe("open");
    expect(b.state(40_000)).toBe("half-open");
    expect(b.waitMs(40_000)).toBe(0);
  });

  it("a failure while half-open re-opens it for a fresh cooldown from then", () => {
    const b = new CircuitBreaker(opts);
    for (const t of [0, 0, 0]) b.failure(t);
    b.failure(50_000);
    expect(b.state(50_000)).toBe("open");
    expect(b.waitMs(50_000)).toBe(30_000);
    expect(b.state(80_000)).toBe("half-open");
    expect(b.failures).toBe(4);
  });

  it("a success while half-open closes it and clears the count", () => {
    const b = new CircuitBreaker(opts);
    for (const t of [0, 0, 0]) b.failure(t);
    expect(b.state(30_000)).toBe("half-open");
    b.success();
    expect(b.state(30_000)).toBe("closed");
    expect(b.failures).toBe(0);
    b.failure(31_000);
    expect(b.state(31_000)).toBe("closed");
  });

  it("treats a threshold below one as one", () => {
    const b = new CircuitBreaker({ failures: 0, cooldownMs: 100 });
    b.failure(0);
    expect(b.state(50)).toBe("open");
  });
});
