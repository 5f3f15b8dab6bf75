import { describe, expect, it } from "vitest";
import type { Target } from "../config/target.js";
import { createLogger } from "../lib/log.js";
import { ManualClock } from "../lib/manual-clock.js";
import type { LiveTarget } from "../targets.js";
import { RECENT_ROUNDS, Watcher, type Round } from "./watcher.js";

const target = { name: "api", intervalMs: 1_000 } as Target;
const parts = (): LiveTarget => ({ target, probe: { run: async () => ({ target: "api", at: 0, ok: true, latencyMs: 1, facts: {} }) } });

function watcher() {
  const clock = new ManualClock();
  const rounds: Round[] = [];
  const w = new Watcher(parts(), {
    clock,
    log: createLogger({ level: "silent", pretty: false }),
    check: async () => ({ observation: { target: "api", at: clock.now(), ok: true, latencyMs: 1, facts: {} }, finding: undefined }),
    onRound: (_w, round) => void rounds.push(round),
    stop: new AbortController().signal,
  });
  return { w, clock, rounds };
}

describe("Watcher modes", () => {
  it("idle until started, watching runs rounds on its schedule, a replace keeps it watching with the new parts", async () => {
    const { w, clock, rounds } = watcher();
    await clock.advance(5_000);
    expect([w.mode, rounds.length]).toEqual(["idle", 0]);
    w.start();
    await clock.advance(3_000);
    expect(w.mode).toBe("watching");
    expect(rounds.length).toBeGreaterThanOrEqual(2);
    const next = parts();
    w.replace(next);
    expect([w.mode, w.live]).toEqual(["watching", next]);
    const before = rounds.length;
    await clock.advance(2_000);
    expect(rounds.length).toBeGreaterThan(before);
  });

  it("retired is final: no round, start and replace do nothing, the retirement signal carries the reason", async () => {
    const { w, clock, rounds } = watcher();
    w.start();
    await clock.advance(1_500);
    w.retire("target removed from config");
    const seen = rounds.length;
    w.start();
    w.replace(parts());
    await clock.advance(10_000);
    expect([w.mode, rounds.length, clock.pending()]).toEqual(["retired", seen, 0]);
    expect(w.retired.aborted).toBe(true);
    expect(String(w.retired.reason)).toMatch(/target removed from config/);
  });
});

describe("Watcher recent latency", () => {
  it("keeps the latest 30 rounds' latency, oldest first, with null for a round whose probe failed", async () => {
    const clock = new ManualClock();
    let n = 0;
    const w = new Watcher(parts(), {
      clock,
      log: createLogger({ level: "silent", pretty: false }),
      check: async () => {
        n++;
        return { observation: { target: "api", at: clock.now(), ok: n % 5 !== 0, latencyMs: n, facts: {} }, finding: undefined };
      },
      onRound: () => {},
      stop: new AbortController().signal,
    });
    w.start();
    await clock.advance(40_500);
    expect(n).toBeGreaterThanOrEqual(40);
    expect(w.recent).toHaveLength(RECENT_ROUNDS);
    const want = Array.from({ length: RECENT_ROUNDS }, (_, i) => n - RECENT_ROUNDS + 1 + i).map((x) => (x % 5 === 0 ? null : x));
    expect(w.recent).toEqual(want);
    await w.stop();
  });
});
