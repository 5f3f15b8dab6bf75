import type { Finding } from "../classify/types.js";
import { sleep } from "../lib/clock.js";
import { formatDuration } from "../lib/duration.js";

/** One fresh probe round, classified: undefined means healthy. */
export type Check = (signal: AbortSignal) => Promise<Finding | undefined>;

/** Whether the service really came back, and the evidence either way. */
export interface Verification {
  ok: boolean;
  detail: string;
}

/**
 * Probes until the target is healthy for `successThreshold` consecutive rounds, or the deadline
 * passes. A recovery that does not hold (healthy once, then failing) does not count.
 */
export async function verifyRecovery(
  check: Check,
  opts: { withinMs: number; successThreshold: number; intervalMs: number; signal: AbortSignal },
): Promise<Verification> {
  const started = Date.now();
  const deadline = started + opts.withinMs;
  let healthy = 0;
  let last: Finding | undefined;
  for (let round = 1; ; round++) {
    last = await check(opts.signal);
    healthy = last ? 0 : healthy + 1;
    if (healthy >= opts.successThreshold) {
      return { ok: true, detail: `healthy for ${healthy} rounds, ${formatDuration(Date.now() - started)} after the steps` };
    }
    if (opts.signal.aborted) return { ok: false, detail: "verification aborted" };
    if (Date.now() + opts.intervalMs > deadline) break;
    await sleep(opts.intervalMs, opts.signal).catch(() => {});
  }
  const why = last ? `still ${last.kind}: ${last.evidence}` : `healthy for only ${healthy} of ${opts.successThreshold} rounds`;
  return { ok: false, detail: `not recovered within ${formatDuration(opts.withinMs)} (${why})` };
}
