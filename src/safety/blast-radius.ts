import { formatDuration } from "../lib/duration.js";
import { isActive, type Incident } from "../incidents/types.js";
import type { BlastRadiusConfig } from "./types.js";

/** What the blast-radius limit says about starting one more playbook now. */
export type BlastVerdict = { ok: true; summary: string } | { ok: false; reason: string; until?: number };

/**
 * The global limit: playbooks running at once, and runs started per window, across every target.
 * When many targets break together (a partition, a shared dependency), medic acts on a few and
 * holds the rest. Pure.
 */
export function blastRadius(incidents: Iterable<Incident>, config: BlastRadiusConfig, now: number): BlastVerdict {
  let running = 0;
  const starts: number[] = [];
  for (const i of incidents) {
    if (i.dryRun) continue;
    if (isActive(i)) running++;
    for (const r of i.runs) if (now - r.startedAt < config.windowMs) starts.push(r.startedAt);
  }
  const window = formatDuration(config.windowMs);
  if (running >= config.concurrent) {
    return {
      ok: false,
      reason: `blast radius: ${running} playbooks already running (limit ${config.concurrent} at once); waits for one to finish`,
    };
  }
  if (starts.length >= config.maxRuns) {
    starts.sort((a, b) => a - b);
    const until = starts[starts.length - config.maxRuns]! + config.windowMs;
    return {
      ok: false,
      until,
      reason: `blast radius: ${starts.length} playbook runs across all targets in the last ${window} (limit ${config.maxRuns}); holding until ${new Date(until).toISOString()}`,
    };
  }
  return {
    ok: true,
    summary: `blast radius: ${running + 1} of ${config.concurrent} running, run ${starts.length + 1} of ${config.maxRuns} in ${window}`,
  };
}
