import { describe, expect, it } from "vitest";
import { waitStep } from "./wait.js";
import { stepContext } from "../../../test/fixtures/steps-context.js";

describe("wait step", () => {
  it("accepts a duration or { for }", () => {
    expect(waitStep.schema.parse("5s")).toEqual({ forMs: 5000 });
    expect(waitStep.schema.parse({ for: "1m" })).toEqual({ forMs: 60_000 });
    expect(waitStep.schema.parse(250)).toEqual({ forMs: 250 });
    expect(waitStep.schema.safeParse("soon").success).toBe(false);
    expect(waitStep.schema.safeParse({ for: "1s", extra: 1 }).success).toBe(false);
    expect(waitStep.describe({ forMs: 5000 })).toBe("wait 5s");
  });

  it("waits", async () => {
    const t0 = Date.now();
    const result = await waitStep.run({ forMs: 100 }, stepContext("/", 1000));
    expect(result).toMatchObject({ ok: true, detail: "waited 100ms" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
  });

  it("stops early when aborted", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const result = await waitStep.run({ forMs: 60_000 }, stepContext("/", 120_000, { signal: ac.signal }));
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^aborted after .+ of 1m$/);
    expect(result.durationMs!).toBeLessThan(10_000);
  });
});
