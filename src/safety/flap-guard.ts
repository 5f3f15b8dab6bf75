import { formatDuration } from "../lib/duration.js";
import type { Incident, RunRecord } from "../incidents/types.js";
import type { FlapGuardConfig } from "./types.js";

/** What the flap guard says about running a playbook for a target and incident kind now. */
export type GuardVerdict =
  | { ok: true; summary: string }
  | { ok: false; by: "backoff"; until: number; reason: string }
  | { ok: false; by: "flap_guard"; until: number; reason: string };

/** Inputs of the flap guard; all of it is in the journal (and controls.json), so it survives a restart. */
export interface GuardInput {
  target: string;
  kind: string;
  incidents: Iterable<Incident>;
  config: FlapGuardConfig;
  /** An operator reset the guard at this time (`medic guard reset`): earlier runs do not count. */
  resetAt?: number;
  now: number;
}

/**
 * The flap guard, per target and kind: at most `maxRuns` playbook runs per window, with a backoff
 * that doubles after each run, counted only since the target was last healthy (no incident open)
 * for `resetAfterMs` — so a service that held for a while starts from a clean slate, unlike
 * systemd's restart counter. Pure.
 */
export function flapGuard(input: GuardInput): GuardVerdict {
  const { config, now, target } = input;
  const since = Math.max(streakStart(input.incidents, target, config.resetAfterMs, now), input.resetAt ?? -Infinity);
  const runs: RunRecord[] = [];
  for (const i of input.incidents) {
    if (i.target !== target || i.kind !== input.kind) continue;
    for (const r of i.runs) if (r.startedAt >= since && now - r.startedAt < config.windowMs) runs.push(r);
  }
  runs.sort((a, b) => a.startedAt - b.startedAt);
  const window = formatDuration(config.windowMs);

  if (runs.length >= config.maxRuns) {
    if (config.maxRuns === 0) {
      return {
        ok: false,
        by: "flap_guard",
        until: Infinity,
        reason: `automatic action is off (safety.flapGuard.maxRuns is 0); a person has to act on ${target}`,
      };
    }
    const until = runs[runs.length - config.maxRuns]!.startedAt + config.windowMs;
    const span = formatDuration(Math.max(0, now - runs[0]!.startedAt));
    return {
      ok: false,
      by: "flap_guard",
      until,
      reason:
        `flap guard: ${runs.length} ${input.kind} playbook runs on ${target} in ${span} did not hold (limit ${config.maxRuns} per ${window}); ` +
        `no automatic action until ${new Date(until).toISOString()}, or after ${formatDuration(config.resetAfterMs)} healthy, or \`medic guard reset ${target}\``,
    };
  }
  const last = runs[runs.length - 1];
  if (last) {
    const waitMs = Math.min(config.backoff.initialMs * 2 ** (runs.length - 1), config.backoff.maxMs);
    const until = (last.endedAt ?? last.startedAt) + waitMs;
    if (now < until) {
      return {
        ok: false,
        by: "backoff",
        until,
        reason: `backoff: run ${runs.length + 1} of ${config.maxRuns} waits ${formatDuration(waitMs)} after the last run, until ${new Date(until).toISOString()}`,
      };
    }
  }
  return { ok: true, summary: `flap guard: run ${runs.length + 1} of ${config.maxRuns} in ${window}` };
}

/**
 * When the target's current unhealthy streak began: the opening of the first incident after the
 * last gap of at least `resetAfterMs` with no incident open. A new incident at `now` is assumed.
 */
export function streakStart(incidents: Iterable<Incident>, target: string, resetAfterMs: number, now: number): number {
  const spans: [number, number][] = [];
  for (const i of incidents) if (i.target === target) spans.push([i.openedAt, i.resolvedAt ?? Infinity]);
  spans.push([now, now]);
  spans.sort((a, b) => a[0] - b[0]);
  let start = -Infinity;
  let coveredUntil = -Infinity;
  for (const [opened, resolved] of spans) {
    if (opened - coveredUntil >= resetAfterMs) start = opened;
    coveredUntil = Math.max(coveredUntil, resolved);
  }
  return start;
}
