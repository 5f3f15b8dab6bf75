import type { Target } from "../config/types.js";
import { describeError } from "../lib/errors.js";
import type { Plan, Previews } from "./plan.js";

/**
 * Asks every step that can look before it acts (a read-only query) what it would touch right
 * now: what dry-run and `medic plan` print under the step. Never acts, never throws.
 */
export async function previewPlan(
  plan: Plan,
  ctx: { target: Target; targets: ReadonlyMap<string, Target>; baseDir: string; signal: AbortSignal },
): Promise<Previews> {
  const previews = new Map<number, string[]>();
  if (plan.action !== "run") return previews;
  for (const step of plan.steps) {
    if (!step.step.preview) continue;
    try {
      previews.set(step.index, await step.step.preview(step.rendered, { ...ctx, timeoutMs: step.timeoutMs }));
    } catch (err) {
      previews.set(step.index, [`(could not look: ${describeError(err)})`]);
    }
  }
  return previews;
}
