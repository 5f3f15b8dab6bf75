import { describe, expect, it } from "vitest";
import { collectGarbage } from "./gc.js";

describe("collectGarbage", () => {
  it("collects an object nothing references any more", async () => {
    let big: number[] | undefined = Array.from({ length: 1_000_000 }, (_, i) => i);
    const ref = new WeakRef(big);
    big = undefined;
    // A WeakRef target stays alive until the end of the current job; collect in a later one.
    await new Promise((r) => setImmediate(r));
    expect(collectGarbage()).toBe(true);
    expect(ref.deref()).toBeUndefined();
    expect(big).toBeUndefined();
  });
});
