import { z } from "zod";
import { formatDuration } from "../../lib/duration.js";
import { describeError } from "../../lib/errors.js";
import { withDeadline } from "../../lib/signals.js";
import type { ServiceDriver } from "../../services/types.js";
import type { Target } from "../../config/target.js";
import type { StepContext, StepKind, StepResult } from "../types.js";

// `- service.restart:` in YAML is null; `{}` and nothing at all mean the same.
const schema = z
  .strictObject({})
  .nullish()
  .transform(() => ({}))
  .meta({ description: "No parameters: acts on the target's configured service" });

type Action = "restart" | "start" | "stop";

/** A step that calls one action of the target's service driver. */
function serviceStep(action: Action, defaultTimeoutMs: number): StepKind<typeof schema> {
  return {
    schema,
    defaultTimeoutMs,
    idempotent: true,
    needsService: true,
    local: (_p, target) => serviceIsLocal(target),
    render: (params) => params,
    describe: (_params, service) => `${action} ${service ?? "the target's service"}`,
    run: (_params, ctx) => runAction(action, ctx),
  };
}

async function runAction(action: Action, ctx: StepContext): Promise<StepResult> {
  const t0 = performance.now();
  const service: ServiceDriver | undefined = ctx.service;
  if (!service) {
    return {
      ok: false,
      durationMs: 0,
      detail: `target ${ctx.target.name} has no service to ${action} (hint: add service: { process: {...} } to the target, or drop this step)`,
    };
  }
  // The driver polls its signal; this one also ends when the step's own timeout passes.
  return withDeadline(ctx.signal, ctx.timeoutMs, async (signal) => {
    try {
      const result = await service[action](signal);
      if (!result.ok && signal.aborted && !ctx.signal.aborted) {
        return {
          ok: false,
          detail: `${action} timed out after ${formatDuration(ctx.timeoutMs)}: ${result.detail}`,
          durationMs: performance.now() - t0,
        };
      }
      return { ...result, durationMs: result.durationMs ?? performance.now() - t0 };
    } catch (err) {
      // A driver should resolve; a throw is its bug, still reported as a failed step.
      return { ok: false, detail: `${action} failed: ${describeError(err)}`, durationMs: performance.now() - t0 };
    }
  });
}

/** `service.restart`: stop then start the target's service. */
export const serviceRestart = serviceStep("restart", 60_000);
/** `service.start`: start the target's service unless it runs. */
export const serviceStart = serviceStep("start", 30_000);
/** `service.stop`: stop the target's service. */
export const serviceStop = serviceStep("stop", 30_000);

// A process or a unit lives on one host; a container too, unless its engine is reached over TCP.
function serviceIsLocal(target: Target): boolean {
  const service = target.service;
  if (service?.kind !== "docker") return true;
  return typeof (service.params as { host?: unknown }).host !== "string";
}
