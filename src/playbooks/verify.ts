import type { Finding } from "../classify/types.js";
import { sleep, systemClock, type Clock } from "../lib/clock.js";
import { formatDuration } from "../lib/duration.js";

/** One fresh probe round, classified: undefined means healthy. */
export type Check = (signal: AbortSignal) => Promise<Finding | undefined>;

/** The latest of the target's regular probe rounds that failed: when it began and ended, and what it saw. */
export interface FailedRound {
  startedAt: number;
  endedAt: number;
  finding: Finding;
}

/** Whether the service really came back, and the evidence either way. */
export interface Verification {
  ok: boolean;
  detail: string;
}

/** How verification runs; `lastFailedRound`, `clock` and `sleep` come from the daemon (tests inject their own). */
export interface VerifyOptions {
  withinMs: number;
  successThreshold: number;
  intervalMs: number;
  signal: AbortSignal;
  /** The target's regular schedule keeps probing during verification: its latest failing round, if any. */
  lastFailedRound?: () => FailedRound | undefined;
  clock?: Pick<Clock, "now">;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Probes until the target is healthy for `successThreshold` consecutive rounds, or the deadline
 * passes. A recovery that does not hold (healthy once, then failing) does not count, and neither
 * does one the target's regular rounds contradict: a regular round that began during verification
 * and failed resets the count, so only checks begun after it ended count. Healthy regular rounds
 * add nothing: the count is of verification's own checks, at its own pace.
 */
export async function verifyRecovery(check: Check, opts: VerifyOptions): Promise<Verification> {
  const clock = opts.clock ?? systemClock;
  const pause = opts.sleep ?? sleep;
  const started = clock.now();
  const deadline = started + opts.withinMs;
  // When each check of the current healthy run began: a regular round's failure drops those begun before it ended.
  let healthy: number[] = [];
  let failure: Failure | undefined;
  let regularSeen = started;
  for (;;) {
    const checkAt = clock.now();
    const finding = await check(opts.signal);
    if (finding) {
      healthy = [];
      failure = { finding, at: clock.now(), regular: false };
    } else healthy.push(checkAt);
    const round = opts.lastFailedRound?.();
    if (round && round.startedAt >= started && round.endedAt > regularSeen) {
      regularSeen = round.endedAt;
      healthy = healthy.filter((at) => at >= round.endedAt);
      if (!failure || round.endedAt >= failure.at) failure = { finding: round.finding, at: round.endedAt, regular: true };
    }
    if (healthy.length >= opts.successThreshold) {
      return { ok: true, detail: `healthy for ${healthy.length} rounds, ${formatDuration(clock.now() - started)} after the steps` };
    }
    if (opts.signal.aborted) return { ok: false, detail: "verification aborted" };
    if (clock.now() + opts.intervalMs > deadline) break;
    await pause(opts.intervalMs, opts.signal).catch(() => {});
  }
  const why = explain(failure, healthy.length, opts.successThreshold, started);
  return { ok: false, detail: `not recovered within ${formatDuration(opts.withinMs)} (${why})` };
}

interface Failure {
  finding: Finding;
  at: number;
  regular: boolean;
}

// Why verification gave up: the latest failure it saw (its own check's, or a regular round's), or too few healthy checks.
function explain(failure: Failure | undefined, healthy: number, needed: number, started: number): string {
  const saw = failure && `${failure.finding.kind}: ${failure.finding.evidence}`;
  const regular = failure?.regular
    ? `a regular probe round ${formatDuration(failure.at - started)} into verification saw ${saw}`
    : undefined;
  if (healthy === 0 && failure) return regular ?? `still ${saw}`;
  return `healthy for only ${healthy} of ${needed} rounds${regular ? `; ${regular}` : ""}`;
}
