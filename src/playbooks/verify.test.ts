import { describe, expect, it } from "vitest";
import type { Finding } from "../classify/types.js";
import { verifyRecovery, type Check } from "./verify.js";

const down: Finding = { target: "t", kind: "server_down", severity: "P1", evidence: "refused" };
/** A check that answers from a script of rounds (pure logic: no probe involved). */
const scripted = (rounds: (Finding | undefined)[]): Check & { calls: number } => {
  const check = Object.assign(async () => rounds[Math.min(check.calls++, rounds.length - 1)], { calls: 0 });
  return check;
};
const opts = (withinMs = 1000) => ({ withinMs, successThreshold: 2, intervalMs: 10, signal: new AbortController().signal });

describe("verifyRecovery", () => {
  it("succeeds after successThreshold consecutive healthy rounds", async () => {
    const check = scripted([down, undefined, undefined]);
    expect(await verifyRecovery(check, opts())).toMatchObject({ ok: true });
    expect(check.calls).toBe(3);
  });

  it("does not count a recovery that does not hold", async () => {
    const check = scripted([undefined, down, undefined, undefined]);
    expect((await verifyRecovery(check, opts())).ok).toBe(true);
    expect(check.calls).toBe(4);
  });

  it("fails with the last evidence when the deadline passes", async () => {
    const v = await verifyRecovery(scripted([down]), opts(50));
    expect(v.ok).toBe(false);
    expect(v.detail).toMatch(/^not recovered within 50ms \(still server_down: refused\)/);
  });
});

describe("verifyRecovery with the target's regular rounds", () => {
  /** A manual clock: each check takes 1 ms, each pause its interval; regular rounds fail at the times given. */
  const world = (failing: { startedAt: number; endedAt: number }[], own: (Finding | undefined)[] = [undefined]) => {
    let now = 1000;
    const check = Object.assign(
      async () => {
        now += 1;
        return own[Math.min(check.calls++, own.length - 1)];
      },
      { calls: 0 },
    );
    const lastFailedRound = () =>
      failing
        .filter((r) => r.endedAt <= now)
        .map((r) => ({ ...r, finding: down }))
        .at(-1);
    return {
      check,
      opts: (withinMs: number) => ({
        withinMs,
        successThreshold: 2,
        intervalMs: 100,
        signal: new AbortController().signal,
        lastFailedRound,
        clock: { now: () => now },
        sleep: async (ms: number) => void (now += ms),
      }),
    };
  };

  it("never verifies while every regular round in between fails, however healthy its own checks are", async () => {
    // Regular rounds every 100 ms, 50 ms after each check, all failing: the incident of the report.
    const failing = Array.from({ length: 20 }, (_, i) => ({ startedAt: 1050 + i * 101, endedAt: 1060 + i * 101 }));
    const { check, opts } = world(failing);
    const v = await verifyRecovery(check, opts(1000));
    expect(v.ok).toBe(false);
    expect(v.detail).toMatch(
      /^not recovered within 1s \(healthy for only 1 of 2 rounds; a regular probe round \d+ms into verification saw server_down: refused\)$/,
    );
    expect(check.calls).toBeGreaterThan(5);
  });

  it("counts again from the first check begun after the failing round ended", async () => {
    // Checks begin at 1000, 1101, 1202; the one regular failure ends at 1080, between the first two.
    const { check, opts } = world([{ startedAt: 1070, endedAt: 1080 }]);
    const v = await verifyRecovery(check, opts(5000));
    expect(v).toMatchObject({ ok: true, detail: expect.stringMatching(/^healthy for 2 rounds/) });
    expect(check.calls).toBe(3);
  });

  it("a failing round that ends during a check voids that check too", async () => {
    // The second check runs from 1101 to 1102 and the round ends at 1102: checks 3 and 4 are the pair that count.
    const { check, opts } = world([{ startedAt: 1090, endedAt: 1102 }]);
    const v = await verifyRecovery(check, opts(5000));
    expect(v.ok).toBe(true);
    expect(check.calls).toBe(4);
  });

  it("ignores a regular round that began before verification (it saw the service mid-fix)", async () => {
    const { check, opts } = world([{ startedAt: 990, endedAt: 1050 }]);
    const v = await verifyRecovery(check, opts(5000));
    expect(v.ok).toBe(true);
    expect(check.calls).toBe(2);
  });

  it("says what its own check saw when that is the latest failure", async () => {
    const { check, opts } = world([{ startedAt: 1010, endedAt: 1020 }], [{ ...down, evidence: "HTTP 503" }]);
    const v = await verifyRecovery(check, opts(300));
    expect(v.detail).toBe("not recovered within 300ms (still server_down: HTTP 503)");
  });
});
