import type { Target } from "../config/types.js";
import type { Condition } from "../classify/conditions.js";
import { conditionValues, evaluateCondition } from "../classify/evaluate.js";
import { plain, quote } from "../classify/evidence.js";
import type { IncidentEvent, RunRecord } from "../incidents/types.js";
import type { Observation } from "../probes/types.js";
import type { Clock } from "../lib/clock.js";
import { formatDuration } from "../lib/duration.js";
import { describeError } from "../lib/errors.js";
import { withDeadline } from "../lib/signals.js";
import type { ServiceDriver } from "../services/types.js";
import type { RenderedStep } from "./plan.js";
import type { ArtifactSink, StepContext, StepResult } from "./types.js";
import { verifyRecovery, type Check, type FailedRound } from "./verify.js";

/** How a playbook run ended: recovered, failed (escalate), cut off by shutdown (resume later), or waiting for a person's yes. */
export type RunOutcome =
  { outcome: "recovered" } | { outcome: "failed"; reason: string } | { outcome: "abandoned" } | { outcome: "awaiting_approval" };

/** What `allow` answers for a step that waits for a person's approval: the run stops there, to go on once approved. */
export const AWAITING_APPROVAL = "awaiting approval";

/** Everything one playbook run needs. */
export interface RunContext {
  /** Journals an event of this incident durably (before the action it announces). */
  record: (event: IncidentEvent) => void;
  runId: string;
  steps: readonly RenderedStep[];
  verifyWithinMs: number;
  target: Target;
  service?: ServiceDriver;
  baseDir: string;
  targets: ReadonlyMap<string, Target>;
  check: Check;
  /** The target's latest failing regular round: one during verification resets its count. */
  lastFailedRound?: () => FailedRound | undefined;
  /** One fresh probe of the target, for steps with an onlyIf. */
  observe: (signal: AbortSignal) => Promise<Observation>;
  /** Aborted when the daemon starts to stop: no further step or verification starts. */
  stop: AbortSignal;
  /** Aborted when the daemon gives up waiting: in-flight steps are cut off and recorded as abandoned. */
  signal: AbortSignal;
  /** Set when resuming a run a previous daemon started: steps it recorded as done are not run again. */
  resume?: RunRecord;
  /** Runs a step on another node when it must run there (a cluster's host step); undefined: it runs here. */
  carry?: (step: RenderedStep, signal: AbortSignal) => Promise<StepResult> | undefined;
  /** Asked before each step starts (the daemon's action gate): why it may not run, or undefined. A refused step is not started, and the run is left for later. */
  allow?: (step: RenderedStep) => Promise<string | undefined>;
  /** Where capture steps keep evidence for this incident (absent: they fail, and the run goes on). */
  artifacts?: ArtifactSink;
  /** Verification's clock and pauses (the daemon's; tests run them on a manual clock). */
  clock?: Clock;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Runs the steps in order, each journaled before it starts and after it ends, then verifies.
 * A step the journal records as done is never run twice; a step cut off mid-way is run again
 * only when its kind is idempotent. When every step was skipped (its onlyIf did not hold, or it
 * found nothing to act on) and the target still fails, nothing can have changed it: the run fails
 * at once instead of waiting out the verification deadline.
 */
export async function runPlaybook(ctx: RunContext): Promise<RunOutcome> {
  const { runId } = ctx;
  const skipSteps = ctx.resume?.verify !== undefined;
  // What each step did; resumed steps as the journal has them.
  const done = new Map<number, { outcome: string; detail: string }>();
  for (const [index, s] of ctx.resume?.steps.entries() ?? []) done.set(index, { outcome: s.status, detail: s.detail ?? "" });
  for (const step of skipSteps ? [] : ctx.steps) {
    const prior = ctx.resume?.steps[step.index]?.status;
    if (prior === "ok" || prior === "skipped") continue;
    if (prior === "failed" && step.step.capture) continue;
    if (prior === "failed") return { outcome: "failed", reason: `step ${step.index + 1} (${step.name}) failed` };
    if ((prior === "running" || prior === "abandoned") && !step.step.idempotent) {
      const detail = "interrupted by a daemon stop; not safe to run again";
      if (prior === "running") ctx.record({ type: "step_finished", runId, index: step.index, outcome: "abandoned", detail, durationMs: 0 });
      return { outcome: "failed", reason: `step ${step.index + 1} (${step.name}) was ${detail}` };
    }
    if (ctx.stop.aborted) return { outcome: "abandoned" };
    if (step.onlyIf) {
      const unmet = await unmetCondition(step.onlyIf, ctx);
      if (ctx.stop.aborted) return { outcome: "abandoned" };
      if (unmet) {
        ctx.record({ type: "step_finished", runId, index: step.index, outcome: "skipped", detail: unmet, durationMs: 0 });
        done.set(step.index, { outcome: "skipped", detail: unmet });
        continue;
      }
    }

    const refused = await ctx.allow?.(step);
    if (refused !== undefined) return { outcome: refused === AWAITING_APPROVAL ? "awaiting_approval" : "abandoned" };
    if (ctx.stop.aborted) return { outcome: "abandoned" };
    ctx.record({ type: "step_started", runId, index: step.index });
    const started = performance.now();
    const result = await (ctx.carry?.(step, ctx.signal) ?? runStep(step, ctx));
    const durationMs = Math.round(result.durationMs ?? performance.now() - started);
    const outcome = ctx.signal.aborted && !result.ok ? "abandoned" : !result.ok ? "failed" : result.changed === false ? "skipped" : "ok";
    // Capture never blocks the fix: a failed one is recorded, and the steps after it run.
    const detail = outcome === "failed" && step.step.capture ? `capture failed: ${result.detail}; going on` : result.detail;
    const artifacts = result.artifacts?.length ? { artifacts: result.artifacts } : {};
    ctx.record({ type: "step_finished", runId, index: step.index, outcome, detail, durationMs, ...artifacts });
    done.set(step.index, { outcome, detail });
    if (outcome === "abandoned") return { outcome: "abandoned" };
    if (outcome === "failed" && step.step.capture) continue;
    if (outcome === "failed") return { outcome: "failed", reason: `step ${step.index + 1} (${step.name}) failed: ${result.detail}` };
  }

  if (ctx.stop.aborted) return { outcome: "abandoned" };
  // A capture changes nothing, whatever its outcome: only the other steps can have fixed anything.
  const acting = ctx.steps.filter((s) => !s.step.capture);
  const nothingDone = acting.length > 0 && acting.every((s) => done.get(s.index)?.outcome === "skipped");
  if (nothingDone && !skipSteps) {
    const finding = await ctx.check(ctx.stop);
    if (ctx.stop.aborted) return { outcome: "abandoned" };
    if (finding) {
      const why = acting
        .map((s) => `step ${s.index + 1} (${s.name}): ${done.get(s.index)!.detail}`)
        .slice(0, 3)
        .join("; ");
      return {
        outcome: "failed",
        reason: `no step changed anything (${why}) and ${ctx.target.name} is still ${finding.kind} (${finding.evidence}): nothing to wait for`,
      };
    }
  }
  ctx.record({ type: "verifying", runId, withinMs: ctx.verifyWithinMs });
  // Verification touches nothing, so it stops as soon as the daemon does; a restart verifies again.
  const verdict = await verifyRecovery(ctx.check, {
    withinMs: ctx.verifyWithinMs,
    successThreshold: ctx.target.successThreshold,
    intervalMs: Math.min(ctx.target.intervalMs, 1000),
    signal: ctx.stop,
    ...(ctx.lastFailedRound && { lastFailedRound: ctx.lastFailedRound }),
    ...(ctx.clock && { clock: ctx.clock }),
    ...(ctx.sleep && { sleep: ctx.sleep }),
  });
  if (ctx.stop.aborted) return { outcome: "abandoned" };
  if (!verdict.ok) return { outcome: "failed", reason: `verification: ${verdict.detail}` };
  ctx.record({ type: "resolved", reason: `verified: ${verdict.detail}` });
  return { outcome: "recovered" };
}

/** Why a step's onlyIf does not hold on a fresh probe, or undefined when it holds. */
async function unmetCondition(onlyIf: Condition[], ctx: RunContext): Promise<string | undefined> {
  const obs = await ctx.observe(ctx.stop);
  const failing = onlyIf.find((c) => !evaluateCondition(c, obs));
  if (!failing) return undefined;
  // Values come from the target's answer: quoted, sanitised and capped like evidence.
  const seen = conditionValues(failing, obs)
    .map((v) => `${plain(v.text, 60)}=${quote(v.value)}`)
    .join(", ");
  return `skipped: ${plain(failing.source, 120)} does not hold${seen ? ` (${seen})` : ""}`;
}

/** A step that ignores its signal still ends this long after its timeout or an abort. */
const STEP_GRACE_MS = 2000;

/** What a step runs with, besides its timeout (the step's own). */
export type StepEnv = Omit<StepContext, "timeoutMs">;

/** Runs one rendered step within its timeout; a step that ignores its signal still ends STEP_GRACE_MS later. */
export function runStep(step: RenderedStep, env: StepEnv): Promise<StepResult> {
  return withDeadline(env.signal, step.timeoutMs, (signal) => runStepUntil(signal, env, step));
}

async function runStepUntil(signal: AbortSignal, env: StepEnv, step: RenderedStep): Promise<StepResult> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<StepResult>((resolve) => {
    const give = () => {
      timer = setTimeout(() => resolve({ ok: false, detail: `did not stop within ${formatDuration(step.timeoutMs)}` }), STEP_GRACE_MS);
    };
    if (signal.aborted) give();
    else signal.addEventListener("abort", give, { once: true });
  });
  try {
    const { target, service, baseDir, targets, clock, artifacts } = env;
    const run = step.step.run(step.rendered, {
      target,
      service,
      signal,
      timeoutMs: step.timeoutMs,
      baseDir,
      targets,
      ...(clock && { clock }),
      ...(artifacts && { artifacts }),
    });
    return await Promise.race([run, stuck]);
  } catch (err) {
    return { ok: false, detail: `step crashed: ${describeError(err)}` };
  } finally {
    clearTimeout(timer);
  }
}
