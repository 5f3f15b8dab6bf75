import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Clock } from "../lib/clock.js";
import { BEAT_MS } from "./beats.js";
import { every, phaseFor } from "./scheduler.js";

// A clock of its own per test: beats are kept per clock, so a test that fails with a schedule still
// armed leaves nothing behind for the next one (Node's timers, faked by vitest, under it).
let clock: Clock;
beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
  clock = {
    now: () => Date.now(),
    timer(fn, ms) {
      const t = setTimeout(fn, Math.max(0, ms));
      return () => clearTimeout(t);
    },
  };
});
afterEach(() => vi.useRealTimers());

describe("every", () => {
  it("ticks at phase + k * interval", async () => {
    const starts: number[] = [];
    const s = every(1000, 250, async (at) => void starts.push(at), clock);
    await vi.advanceTimersByTimeAsync(3300);
    expect(starts).toEqual([250, 1250, 2250, 3250]);
    await s.stop();
  });

  it("never overlaps a slow round and skips the slots it missed", async () => {
    let running = 0;
    let maxRunning = 0;
    const starts: number[] = [];
    const s = every(
      1000,
      0,
      async (at) => {
        starts.push(at);
        maxRunning = Math.max(maxRunning, ++running);
        await new Promise((r) => setTimeout(r, 2500));
        running--;
      },
      clock,
    );
    await vi.advanceTimersByTimeAsync(6100);
    expect(maxRunning).toBe(1);
    expect(starts).toEqual([0, 3000, 6000]);
    await vi.advanceTimersByTimeAsync(2500);
    await s.stop();
  });

  it("keeps going after a failing round and stops for good", async () => {
    let n = 0;
    const s = every(
      100,
      0,
      async () => {
        n++;
        throw new Error("boom");
      },
      clock,
    );
    await vi.advanceTimersByTimeAsync(350);
    await s.stop();
    const seen = n;
    await vi.advanceTimersByTimeAsync(1000);
    expect(seen).toBe(4);
    expect(n).toBe(seen);
  });
});

describe("phaseFor", () => {
  it("is stable, inside the interval and on a beat", () => {
    expect(phaseFor("orders-api", 10_000)).toBe(phaseFor("orders-api", 10_000));
    const phases = Array.from({ length: 200 }, (_, i) => phaseFor(`t${i}`, 10_000));
    expect(Math.min(...phases)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...phases)).toBeLessThan(10_000);
    expect(phases.every((p) => p % BEAT_MS === 0)).toBe(true);
    // 200 names over the interval's 200 beats: spread, not bunched.
    expect(new Set(phases).size).toBeGreaterThan(100);
  });

  it("keeps millisecond phases for an interval that is not whole beats", () => {
    const phases = Array.from({ length: 50 }, (_, i) => phaseFor(`t${i}`, 1337));
    expect(phases.some((p) => p % BEAT_MS !== 0)).toBe(true);
    expect(Math.max(...phases)).toBeLessThan(1337);
  });
});

describe("beats", () => {
  it("starts the rounds due on the same beat from one timer, and leaves no timer once all stop", async () => {
    vi.setSystemTime(20); // off the grid: the first slots are counted from the next beat
    const starts: [number, number][] = [];
    const schedules = Array.from({ length: 100 }, (_, i) => every(1000, (i % 4) * BEAT_MS, async (at) => void starts.push([i, at]), clock));
    expect(vi.getTimerCount()).toBe(4);
    await vi.advanceTimersByTimeAsync(2000);
    expect(starts.filter(([i]) => i === 5).map(([, at]) => at)).toEqual([100, 1100]);
    expect(new Set(starts.map(([, at]) => at))).toEqual(new Set([50, 100, 150, 200, 1050, 1100, 1150, 1200]));
    expect(vi.getTimerCount()).toBe(4);
    await Promise.all(schedules.map((s) => s.stop()));
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps every schedule on a beat going when one's round throws before it starts", async () => {
    const starts: string[] = [];
    const schedules = ["a", "b"].map((name) =>
      every(
        1000,
        0,
        (at) => {
          starts.push(`${name}@${at}`);
          if (name === "a") throw new Error("boom");
          return Promise.resolve();
        },
        clock,
      ),
    );
    await vi.advanceTimersByTimeAsync(2100);
    expect(starts).toEqual(["a@0", "b@0", "a@1000", "b@1000", "a@2000", "b@2000"]);
    await Promise.all(schedules.map((s) => s.stop()));
  });

  it("never runs a slot before it is due, though the timer under it fires early", async () => {
    // Node's timers count from the loop's cached time: armed late in a long stretch, they fire early.
    const early: Clock = { now: () => Date.now(), timer: (fn, ms) => clock.timer(fn, ms - 30) };
    const ran: [number, number][] = [];
    const s = every(1000, 100, async (at) => void ran.push([at, Date.now()]), early);
    await vi.advanceTimersByTimeAsync(2200);
    expect(ran).toEqual([
      [100, 100],
      [1100, 1100],
      [2100, 2100],
    ]);
    await s.stop();
  });

  it("runs an interval that is not whole beats on its own millisecond timer", async () => {
    const starts: number[] = [];
    const s = every(1337, 7, async (at) => void starts.push(at), clock);
    await vi.advanceTimersByTimeAsync(3000);
    expect(starts).toEqual([7, 1344, 2681]);
    await s.stop();
  });

  it("returns to its own slots after a poke, so pokes never bunch targets on a beat", async () => {
    const starts: number[] = [];
    const s = every(1000, 0, async (at) => void starts.push(at), clock);
    await vi.advanceTimersByTimeAsync(333);
    s.poke();
    await vi.advanceTimersByTimeAsync(2100);
    expect(starts).toEqual([0, 333, 1000, 2000]);
    await s.stop();
  });
});

describe("poke", () => {
  it("runs a round at once, then returns to its own slots", async () => {
    const starts: number[] = [];
    const s = every(1000, 0, async (at) => void starts.push(at), clock);
    await vi.advanceTimersByTimeAsync(300);
    s.poke();
    await vi.advanceTimersByTimeAsync(1);
    await vi.advanceTimersByTimeAsync(1100);
    expect(starts).toEqual([0, 300, 1000]);
    await s.stop();
  });

  it("during a round, runs the next one right after it instead of overlapping", async () => {
    const starts: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const s = every(
      1000,
      0,
      async (at) => {
        starts.push(at);
        maxRunning = Math.max(maxRunning, ++running);
        await new Promise((r) => setTimeout(r, 200));
        running--;
      },
      clock,
    );
    await vi.advanceTimersByTimeAsync(100);
    s.poke();
    await vi.advanceTimersByTimeAsync(150);
    expect(starts).toEqual([0, 200]);
    expect(maxRunning).toBe(1);
    await vi.advanceTimersByTimeAsync(300);
    await s.stop();
  });
});
