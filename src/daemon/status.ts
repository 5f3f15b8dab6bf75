import type { HealthCheck } from "../incidents/state-dir-watch.js";
import type { ActivePause } from "../safety/types.js";
import type { DaemonHealth, TargetStatus } from "./ports.js";
import type { Watcher } from "./watcher.js";

/** A watched target as the API shows it: its latest verdict and its open incidents. */
export function targetStatus(w: Watcher, paused: ActivePause | undefined): TargetStatus {
  const v = w.verdict;
  return {
    name: w.name,
    labels: w.target.labels,
    probe: w.target.probe.kind,
    up: v.state === "unknown" ? null : v.state === "healthy",
    ...(w.lastRoundAt !== undefined && { lastRoundAt: w.lastRoundAt, latencyMs: w.lastLatencyMs }),
    recent: [...w.recent],
    ...(v.state === "failing" && { finding: { kind: v.finding.kind, evidence: v.finding.evidence } }),
    open: [...w.open],
    ...(paused && { paused }),
  };
}

/**
 * Is medic doing its job: every schedule ticking (no target without a round for three intervals
 * and a timeout, plus slack), the state dir taking writes, the lock held, not stopping.
 */
export function daemonHealth(h: {
  now: number;
  startedAt: number;
  /** undefined until the daemon runs: no schedule is late before it starts. */
  watchers: Watcher[] | undefined;
  stateDir: HealthCheck[] | undefined;
  lostLock: string | undefined;
  stopping: boolean;
}): DaemonHealth {
  const late = (h.watchers ?? [])
    .filter((w) => h.now - (w.lastRoundAt ?? h.startedAt) > w.target.intervalMs * 3 + w.target.timeoutMs + 5_000)
    .map((w) => w.name);
  const count = h.watchers?.length ?? 0;
  const checks: HealthCheck[] = [
    {
      name: "scheduler",
      ok: late.length === 0,
      detail: late.length === 0 ? `${count} targets probed on time` : `no probe round lately for ${late.slice(0, 10).join(", ")}`,
    },
    ...(h.stateDir ?? [{ name: "state dir", ok: true, detail: "dry run: writes nothing" }]),
  ];
  if (h.lostLock) checks.push({ name: "state dir lock", ok: false, detail: `lost: ${h.lostLock}` });
  if (h.stopping) checks.push({ name: "running", ok: false, detail: "medic is stopping" });
  return { ok: checks.every((c) => c.ok), checks };
}
