import { describe, expect, it } from "vitest";
import { StoreAlarm } from "./store-alarm.js";

describe("StoreAlarm", () => {
  it("pages once the store has been out of reach for the whole wait, once, and resolves once it is back", () => {
    const alarm = new StoreAlarm(10_000);
    const seen = [
      [0, true],
      [1_000, false],
      [10_999, false],
      [11_000, false],
      [20_000, false],
      [21_000, true],
      [22_000, true],
    ].map(([now, ok]) => alarm.tick(now as number, ok as boolean));
    expect(seen).toEqual([undefined, undefined, undefined, "trigger", undefined, "resolve", undefined]);
  });

  it("a blip shorter than the wait pages nobody, and the wait starts again after it", () => {
    const alarm = new StoreAlarm(10_000);
    expect(alarm.tick(0, false)).toBeUndefined();
    expect(alarm.tick(9_000, true)).toBeUndefined();
    expect(alarm.tick(10_000, false)).toBeUndefined();
    expect(alarm.since()).toBe(10_000);
    expect(alarm.tick(19_999, false)).toBeUndefined();
    expect(alarm.tick(20_000, false)).toBe("trigger");
  });
});
