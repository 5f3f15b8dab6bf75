import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { PROBE_GRACE_MS, runProbe } from "./run.js";
import type { Observation, Probe } from "./types.js";

const observation = (extra: Partial<Observation> = {}): Observation => ({
  target: "x",
  at: Date.now(),
  ok: true,
  latencyMs: 1,
  facts: {},
  ...extra,
});

// Fake probes: the guard is pure control flow, so misbehaviour is easiest to stage by hand.
const ignoresSignal: Probe = { run: () => new Promise(() => {}) };
const honoursSignal: Probe = {
  run: (signal) =>
    new Promise((resolve) => {
      signal.addEventListener("abort", () => resolve(observation({ ok: false, error: { code: "ETIMEDOUT", message: "own" } })));
    }),
};

describe("runProbe", () => {
  it("passes a healthy observation through, with the caller's target name", async () => {
    const obs = await runProbe({ run: async () => observation({ facts: { status: 200 } }) }, { target: "orders", timeoutMs: 1000 });
    expect(obs).toMatchObject({ target: "orders", ok: true, facts: { status: 200 } });
  });

  it("answers ETIMEDOUT for a probe that ignores its signal, shortly after the timeout", async () => {
    const startMs = performance.now();
    const obs = await runProbe(ignoresSignal, { target: "t", timeoutMs: 200 });
    const elapsedMs = performance.now() - startMs;
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ETIMEDOUT");
    expect(obs.error?.message).toContain("200 ms");
    expect(elapsedMs).toBeGreaterThanOrEqual(190);
    expect(elapsedMs).toBeLessThan(200 + PROBE_GRACE_MS + 1500);
  });

  it("lets a probe that honours its signal report for itself", async () => {
    const obs = await runProbe(honoursSignal, { target: "t", timeoutMs: 100 });
    expect(obs.error).toEqual({ code: "ETIMEDOUT", message: "own" });
  });

  it.each([
    [
      "throws synchronously",
      {
        run: () => {
          throw new Error("kaboom");
        },
      } as Probe,
    ],
    ["rejects", { run: () => Promise.reject(new TypeError("bad thing")) } as Probe],
    ["resolves nothing", { run: () => Promise.resolve(undefined) } as unknown as Probe],
  ])("turns a probe that %s into EPROBE", async (_, probe) => {
    const obs = await runProbe(probe, { target: "t", timeoutMs: 1000 });
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("EPROBE");
    expect(obs.target).toBe("t");
  });

  it("stops promptly when the caller's signal aborts, long before the timeout", async () => {
    const outer = new AbortController();
    const startMs = performance.now();
    setTimeout(() => outer.abort(), 50);
    const obs = await runProbe(ignoresSignal, { target: "t", timeoutMs: 60_000, signal: outer.signal });
    expect(obs.error?.code).toBe("ETIMEDOUT");
    expect(obs.error?.message).toContain("cancelled");
    expect(performance.now() - startMs).toBeLessThan(5000);
  });

  it("gives the probe an already-aborted signal when the caller's already is", async () => {
    let seen: boolean | undefined;
    const probe: Probe = {
      run: async (signal) => {
        seen = signal.aborted;
        return observation();
      },
    };
    await runProbe(probe, { target: "t", timeoutMs: 1000, signal: AbortSignal.abort() });
    expect(seen).toBe(true);
  });

  it("holds one listener on the caller's signal however many probes ran, and stops every probe in flight when it aborts", async () => {
    const outer = new AbortController();
    const quick: Probe = { run: async () => observation() };
    await Promise.all(Array.from({ length: 100 }, () => runProbe(quick, { target: "t", timeoutMs: 1000, signal: outer.signal })));
    const inFlight = [ignoresSignal, honoursSignal, ignoresSignal].map((probe) =>
      runProbe(probe, { target: "t", timeoutMs: 60_000, signal: outer.signal }),
    );
    expect(getEventListeners(outer.signal, "abort")).toHaveLength(1);
    outer.abort();
    const codes = (await Promise.all(inFlight)).map((o) => [o.error?.code, o.error?.message]);
    expect(codes).toEqual([
      ["ETIMEDOUT", expect.stringContaining("cancelled")],
      ["ETIMEDOUT", "own"],
      ["ETIMEDOUT", expect.stringContaining("cancelled")],
    ]);
  });
});
