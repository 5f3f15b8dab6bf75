import { performance } from "node:perf_hooks";
import { describeError } from "../lib/errors.js";
import { onAbort } from "../lib/signals.js";
import type { Observation, Probe } from "./types.js";

/** How long a probe may keep running after its signal aborted before the guard answers for it. */
export const PROBE_GRACE_MS = 250;

/**
 * Runs one probe under a guard: the probe gets a signal that aborts at `timeoutMs` (or when
 * `opts.signal` does), and the caller gets an Observation no later than the abort plus a short
 * grace, even from a probe that ignores its signal (ETIMEDOUT) or throws (EPROBE). Never rejects.
 */
export function runProbe(probe: Probe, opts: { target: string; timeoutMs: number; signal?: AbortSignal }): Promise<Observation> {
  const at = Date.now();
  const start = performance.now();
  const timeoutMs = Number.isFinite(opts.timeoutMs) ? Math.max(0, opts.timeoutMs) : 0;
  const controller = new AbortController();
  const outer = opts.signal;

  return new Promise<Observation>((resolve) => {
    let settled = false;
    let graceTimer: NodeJS.Timeout | undefined;
    // Told to stop (its time is up, or the outer signal): if the probe does not answer soon, answer for it.
    const abort = (reason: unknown): void => {
      if (controller.signal.aborted || settled) return;
      controller.abort(reason);
      graceTimer = setTimeout(() => settle(timedOut()), PROBE_GRACE_MS);
    };
    // Judged after the I/O already waiting: an answer that came in time but sits unread while medic's
    // own loop was busy is read first (timers run before the poll phase; an immediate runs after it).
    const timer = setTimeout(() => setImmediate(() => abort(new DOMException("probe timed out", "TimeoutError"))), timeoutMs);
    const unfollow = outer ? onAbort(outer, abort) : undefined;

    function settle(obs: Observation): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      unfollow?.();
      resolve(obs);
    }

    function timedOut(): Observation {
      const elapsedMs = Math.round(performance.now() - start);
      const message = outer?.aborted ? `probe cancelled after ${elapsedMs} ms` : `no answer within ${timeoutMs} ms`;
      return failed("ETIMEDOUT", message);
    }

    function failed(code: string, message: string): Observation {
      return { target: opts.target, at, ok: false, latencyMs: performance.now() - start, error: { code, message }, facts: {} };
    }

    let pending: Promise<Observation>;
    try {
      pending = Promise.resolve(probe.run(controller.signal));
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (obs) =>
        settle(isObservation(obs) ? { ...obs, target: opts.target } : failed("EPROBE", "probe resolved without an observation (a bug)")),
      (err: unknown) => settle(failed("EPROBE", `probe failed (a bug): ${safeDescribe(err)}`)),
    );
  });
}

function isObservation(value: unknown): value is Observation {
  const obs = value as Partial<Observation> | null;
  return typeof obs === "object" && obs !== null && typeof obs.ok === "boolean" && typeof obs.facts === "object" && obs.facts !== null;
}

function safeDescribe(err: unknown): string {
  try {
    return describeError(err).slice(0, 500);
  } catch {
    return "unprintable error";
  }
}
