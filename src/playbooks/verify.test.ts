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
