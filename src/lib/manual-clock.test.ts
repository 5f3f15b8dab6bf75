import { describe, expect, it } from "vitest";
import { repeat, sleep } from "./clock.js";
import { ManualClock } from "./manual-clock.js";

describe("ManualClock", () => {
  it("fires timers in time order as it advances, lets the work they start settle, and not before", async () => {
    const clock = new ManualClock(0);
    const seen: string[] = [];
    clock.timer(() => seen.push(`b@${clock.now()}`), 200);
    clock.timer(() => seen.push(`a@${clock.now()}`), 100);
    void sleep(150, undefined, clock).then(async () => {
      seen.push(`slept@${clock.now()}`);
      await sleep(10, undefined, clock);
      seen.push(`again@${clock.now()}`);
    });
    await clock.advance(99);
    expect(seen).toEqual([]);
    await clock.advance(200);
    expect(seen).toEqual(["a@100", "slept@150", "again@160", "b@200"]);
    expect(clock.now()).toBe(299);
  });

  it("a cancelled timer never fires; repeat runs every interval until stopped", async () => {
    const clock = new ManualClock(0);
    let fired = 0;
    const cancel = clock.timer(() => fired++, 10);
    cancel();
    const ticks: number[] = [];
    const stop = repeat(clock, 100, () => ticks.push(clock.now()));
    await clock.advance(350);
    stop();
    await clock.advance(1_000);
    expect([fired, ticks, clock.pending()]).toEqual([0, [100, 200, 300], 0]);
  });
});
