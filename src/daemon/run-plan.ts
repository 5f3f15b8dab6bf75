import { createArtifactSink } from "../artifacts/store.js";
import type { Config } from "../config/types.js";
import type { ActionGate } from "../gate/gate.js";
import type { RunRecord } from "../incidents/types.js";
import { sleep, type Clock } from "../lib/clock.js";
import type { Plan, PlanIncident, RenderedStep } from "../playbooks/plan.js";
import { AWAITING_APPROVAL, runPlaybook, type RunOutcome } from "../playbooks/run.js";
import { runProbe } from "../probes/run.js";
import type { Checked } from "../targets.js";
import type { StepCarrier } from "./ports.js";
import type { RecordStream } from "./records.js";
import type { Watcher } from "./watcher.js";
import type { Watchers } from "./watchers.js";

/** One run of an incident's plan and what it runs with. */
export interface PlanRun {
  incident: string;
  /** The incident as the plan was rendered from it (a step carried out elsewhere is planned again from it). */
  planned: PlanIncident;
  watcher: Watcher;
  plan: Extract<Plan, { action: "run" }>;
  runId: string;
  /** The run a previous daemon started, when resuming it. */
  previous: RunRecord | undefined;
  clock: Clock;
  config: () => Config;
  records: RecordStream;
  watchers: Watchers;
  gate: ActionGate;
  check(w: Watcher, signal: AbortSignal): Promise<Checked>;
  /** Aborted when medic starts to stop. */
  stop: AbortSignal;
  /** Aborted when medic gives up waiting: steps in flight are cut off. */
  cutoff: AbortSignal;
  /** Carries out a step that must run on another node (a cluster's). */
  carry?: StepCarrier;
  /** Asks a person to approve `step` (once per question: a resumed run finds it asked). */
  askApproval(step: RenderedStep): Promise<void>;
}

/**
 * Runs the plan's steps (each asked of the gate first) and verifies; no further step or
 * verification once medic stops or the target is removed.
 */
export async function runPlan(r: PlanRun): Promise<RunOutcome> {
  const { watcher: w, clock, gate, incident } = r;
  // Linked by hand, not with AbortSignal.any, whose signals the daemon's lifetime signal would keep alive on Node 20.
  const stop = new AbortController();
  const onStop = (): void => stop.abort(w.retired.aborted ? w.retired.reason : r.stop.reason);
  const sources = [r.stop, w.retired];
  for (const source of sources) source.addEventListener("abort", onStop, { once: true });
  if (sources.some((source) => source.aborted)) onStop();
  try {
    return await runPlaybook({
      record: (event) => void r.records.append(incident, event),
      runId: r.runId,
      steps: r.plan.steps,
      verifyWithinMs: r.plan.verifyWithinMs,
      target: w.target,
      service: w.live.service,
      baseDir: r.config().baseDir,
      targets: r.watchers.targets(),
      check: (signal) => r.check(w, signal).then((c) => c.finding),
      lastFailedRound: () => w.lastFailure,
      observe: (signal) => runProbe(w.live.probe, { target: w.name, timeoutMs: w.target.timeoutMs, signal }),
      signal: r.cutoff,
      stop: stop.signal,
      resume: r.previous,
      // A dry run never gets here (the gate refuses its playbook), so it keeps nothing.
      artifacts: createArtifactSink({ stateDir: r.config().stateDir, incident, limits: r.config().artifacts }),
      clock,
      sleep: (ms, signal) => sleep(ms, signal, clock),
      ...(r.carry && {
        carry: (step, signal) =>
          r.carry!(
            {
              runId: r.runId,
              // Only what planning reads: never the incident's timeline or notifications.
              incident: {
                id: r.planned.id,
                kind: r.planned.kind,
                severity: r.planned.severity,
                target: r.planned.target,
                evidence: r.planned.evidence,
              },
              playbook: r.plan.playbook.name,
              index: step.index,
              description: step.description,
              timeoutMs: step.timeoutMs,
            },
            step.step.local?.(step.rendered, w.target) ?? false,
            signal,
          ),
      }),
      allow: async (step) => {
        const { index, name, kind, description, approval } = step;
        const action = { kind: "step", incident, target: w.name, runId: r.runId, index, step: name, stepKind: kind, description } as const;
        const verdict = await gate.allow({ ...action, ...(approval && { approval }) });
        if (verdict.allow) return undefined;
        if (verdict.rule !== "approval") return verdict.reason;
        await r.askApproval(step);
        return AWAITING_APPROVAL;
      },
    });
  } finally {
    for (const source of sources) source.removeEventListener("abort", onStop);
  }
}
