import { describe, expect, it } from "vitest";
import type { Finding } from "../classify/types.js";
import type { Target } from "../config/target.js";
import { createLogger } from "../lib/log.js";
import { ManualClock } from "../lib/manual-clock.js";
import type { WatchEvent } from "../probes/types.js";
import type { Checked, LiveTarget } from "../targets.js";
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

describe("Watcher: a proof that arrives while a round is in flight", () => {
  // A probe that can be told of events; each round's check waits until the test answers it (or its signal aborts).
  function hanging() {
    const clock = new ManualClock();
    const stop = new AbortController();
    let emit: (event: WatchEvent) => void = () => {};
    const live: LiveTarget = { target, probe: { ...parts().probe, watch: (onEvent) => ((emit = onEvent), () => {}) } };
    const calls: { signal: AbortSignal; startedAt: number; answer(ok: boolean): void }[] = [];
    const rounds: Round[] = [];
    const w = new Watcher(live, {
      clock,
      log: createLogger({ level: "silent", pretty: false }),
      check: (_w, signal) =>
        new Promise<Checked>((resolve) => {
          const answer = (ok: boolean) =>
            resolve({
              observation: { target: "api", at: clock.now(), ok, latencyMs: 1, facts: {} },
              finding: ok ? undefined : downFinding,
            });
          calls.push({ signal, startedAt: clock.now(), answer });
          signal.addEventListener("abort", () => answer(true)); // what it found before it was cut: healthy
        }),
      onRound: (_w, round) => void rounds.push(round),
      stop: stop.signal,
    });
    return { w, clock, stop, calls, rounds, emit: (event: WatchEvent) => emit(event) };
  }
  const downFinding = { kind: "server_down", severity: "P1", evidence: "exited" } as Finding;
  const die: WatchEvent = { what: "die (exit 137)", confirmsFailure: true };

  it("cuts it short: its result is never handed on, and the round the proof calls starts at once, confirmed", async () => {
    const { w, clock, calls, rounds, emit } = hanging();
    w.start();
    await clock.advance(1_000);
    expect(calls).toHaveLength(1);
    const cutAt = clock.now();
    emit(die);
    await clock.advance(0);
    expect(calls[0]!.signal.aborted).toBe(true);
    expect(String(calls[0]!.signal.reason)).toMatch(/superseded by die \(exit 137\)/);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.startedAt).toBe(cutAt);
    calls[1]!.answer(false);
    await clock.advance(0);
    expect(rounds.map((r) => [r.confirmed, r.finding?.kind, r.startedAt])).toEqual([[true, "server_down", cutAt]]);
    expect(w.verdict.state).toBe("failing");
    // And then: the schedule goes on from its own slots, with no proof left over.
    await clock.advance(1_000);
    calls[2]!.answer(true);
    await clock.advance(0);
    expect(rounds.map((r) => r.confirmed)).toEqual([true, false]);
    expect(w.verdict.state).toBe("healthy");
  });

  it("never cuts a round that began with proof, so proofs arriving faster than rounds cannot starve them", async () => {
    const { w, clock, calls, rounds, emit } = hanging();
    w.start();
    await clock.advance(1_000);
    emit(die);
    await clock.advance(0);
    for (let i = 0; i < 5; i++) emit(die);
    await clock.advance(0);
    expect([calls.length, calls[1]!.signal.aborted]).toEqual([2, false]);
    calls[1]!.answer(false);
    await clock.advance(0);
    // The proofs that came during the confirmed round call one more round, confirmed too.
    expect(calls).toHaveLength(3);
    calls[2]!.answer(false);
    await clock.advance(0);
    expect(rounds.map((r) => r.confirmed)).toEqual([true, true]);
  });

  it("an event that proves nothing waits for the round in flight, whose result stands", async () => {
    const { w, clock, calls, rounds, emit } = hanging();
    w.start();
    await clock.advance(1_000);
    emit({ what: "start", confirmsFailure: false });
    await clock.advance(0);
    expect([calls.length, calls[0]!.signal.aborted]).toEqual([1, false]);
    calls[0]!.answer(true);
    await clock.advance(0);
    expect(calls).toHaveLength(2);
    expect(rounds.map((r) => [r.confirmed, r.observation.ok])).toEqual([[false, true]]);
  });

  it("a replace or retirement cuts a round begun with proof too; the new probe's rounds run meanwhile and say whether one is in flight", async () => {
    const { w, clock, calls, rounds, emit } = hanging();
    w.start();
    await clock.advance(1_000);
    emit(die);
    await clock.advance(0);
    expect([calls.length, w.roundInFlight]).toEqual([2, true]);
    w.replace({ ...w.live });
    await clock.advance(0);
    expect(calls[1]!.signal.aborted).toBe(true);
    // The new probe's first round, on its own signal; the cut round's end does not clear its flag.
    await clock.advance(1_000);
    const last = calls.at(-1)!;
    expect([last.signal.aborted, w.roundInFlight]).toEqual([false, true]);
    last.answer(true);
    await clock.advance(0);
    expect(w.roundInFlight).toBe(false);
    // The proof went with the round it cut: it spoke of the old probe's source, which the new one may not share.
    expect(rounds.map((r) => [r.confirmed, r.observation.ok])).toEqual([[false, true]]);
    w.retire("target removed from config");
  });

  it("rounds that nothing cut share one signal: no allocation per round", async () => {
    const { w, clock, calls } = hanging();
    w.start();
    for (let i = 0; i < 3; i++) {
      await clock.advance(1_000);
      calls.at(-1)!.answer(true);
    }
    await clock.advance(0);
    expect(new Set(calls.map((c) => c.signal)).size).toBe(1);
    await w.stop();
  });

  it("medic's stop and a retirement still cut the round in flight, and neither hands it on", async () => {
    const stopped = hanging();
    stopped.w.start();
    await stopped.clock.advance(1_000);
    stopped.stop.abort(new Error("medic stopping"));
    await stopped.clock.advance(0);
    expect(String(stopped.calls[0]!.signal.reason)).toMatch(/medic stopping/);
    await stopped.w.stop();
    expect(stopped.rounds).toEqual([]);

    const retired = hanging();
    retired.w.start();
    await retired.clock.advance(1_000);
    retired.w.retire("target removed from config");
    await retired.clock.advance(5_000);
    expect(retired.calls).toHaveLength(1);
    expect(String(retired.calls[0]!.signal.reason)).toMatch(/replaced or removed/);
    expect(retired.rounds).toEqual([]);
  });
});
