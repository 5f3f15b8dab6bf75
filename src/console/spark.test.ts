import { describe, expect, it } from "vitest";
import { sparkPaths } from "./spark.js";

describe("sparkPaths", () => {
  it("draws latency from 0 to the largest, breaks the line at a failed round and marks it, and starts a short history on the right", () => {
    const s = sparkPaths([10, 20, null, 20], 29, 12, 30);
    expect(s.maxMs).toBe(20);
    expect(s.failed).toBe(1);
    // 30 slots of 1 unit: 4 rounds take the last 4 (x = 26..29).
    expect(s.line).toBe("M26.0 6.0h0.01L27.0 1.0M29.0 1.0h0.01");
    expect(s.fails).toBe("M28.0 0V12");
  });

  it("is empty for no rounds, and a flat line for all-zero latency", () => {
    expect(sparkPaths([], 100, 10)).toMatchObject({ line: "", fails: "", failed: 0 });
    expect(sparkPaths([0, 0], 100, 10, 2).line).toBe("M0.0 9.0h0.01L100.0 9.0");
  });
});
