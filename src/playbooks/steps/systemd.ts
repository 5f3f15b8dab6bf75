import { z } from "zod";
import type { Target } from "../../config/types.js";
import { formatDuration } from "../../lib/duration.js";
import { withDeadline } from "../../lib/signals.js";
import { checkUnitName, LIFECYCLE_TYPES, systemctlArgv, unitName } from "../../lib/systemctl.js";
import { createSystemdDriver, describeUnit, type SystemdServiceParams } from "../../services/systemd.js";
import { TemplateError, type Renderer } from "../template.js";
import type { PreviewContext, StepContext, StepKind, StepResult } from "../types.js";

// systemctl start/stop/restart: https://www.freedesktop.org/software/systemd/man/latest/systemctl.html

/** The `unit` param of every systemd.* step; its default is the target's systemd service. */
export const unitParam = (types: readonly string[] = LIFECYCLE_TYPES) =>
  unitName(types)
    .optional()
    .meta({ description: "The unit, like orders-api.service; may use {{ }} (default: the target's systemd service)" });

/** Fills a template in `unit`; what it renders to must be a unit name of the right type, or nothing runs. */
export function renderUnit<P extends { unit?: string }>(p: P, r: Renderer, types: readonly string[] = LIFECYCLE_TYPES): P {
  if (p.unit === undefined) return p;
  const unit = r.text(p.unit);
  const problem = checkUnitName(unit, types);
  if (problem)
    throw new TemplateError(
      "TEMPLATE_UNSAFE_VALUE",
      `unit ${JSON.stringify(p.unit)} renders to an unusable name: ${problem}`,
      "check the label or value the template uses",
    );
  return { ...p, unit };
}

/** The step's unit, else the target's systemd service's; checked again, since it becomes an argv item. */
export function resolveUnit(
  p: { unit?: string },
  target: Target,
  types: readonly string[] = LIFECYCLE_TYPES,
): { unit: string; via: string } | { error: string } {
  const own = target.service?.kind === "systemd" ? (target.service.params as SystemdServiceParams).unit : undefined;
  const unit = p.unit ?? own;
  if (unit === undefined) {
    return { error: `no unit to act on: ${target.name} has no systemd service (hint: add unit: NAME.service to the step)` };
  }
  const problem = checkUnitName(unit, types);
  if (problem) return { error: `refusing unit: ${problem}` };
  return { unit, via: p.unit !== undefined ? "the step" : `${target.name}'s systemd service` };
}

/** The unit a step names, for plans: its own, else the target's systemd service (`service` is how the plan describes it). */
export function unitWords(unit: string | undefined, service: string | undefined): string {
  if (unit !== undefined) return `unit ${unit}`;
  return service?.startsWith("systemd unit ") ? service : "the target's systemd unit";
}

/** Runs `fn` under one step's deadline: medic's own signal, or the step's timeout. */
export const withStepDeadline = <T>(ctx: Pick<StepContext, "signal" | "timeoutMs">, fn: (signal: AbortSignal) => Promise<T>): Promise<T> =>
  withDeadline(ctx.signal, ctx.timeoutMs, fn);

/** `argv ["systemctl","--no-ask-password","restart","--","orders-api.service"]` for plans. */
export const showArgv = (argv: string[]): string => `argv ${JSON.stringify(argv)}`;

/** Read-only: the unit a step would touch, how it is now, and the argv it would run. */
export async function previewUnit(unit: string, via: string, argvs: string[][], ctx: PreviewContext): Promise<string[]> {
  const status = await withStepDeadline(ctx, (signal) => createSystemdDriver(unit).status({ timeoutMs: ctx.timeoutMs, signal }));
  const now = "error" in status ? `cannot look right now: ${status.error}` : describeUnit(status.props);
  return [`unit ${unit} (${via}): ${now}`, ...argvs.map((a) => `would run ${showArgv(a)}`)];
}

// `- systemd.restart:` is null in YAML: no params, the target's unit.
const schema = z
  .strictObject({ unit: unitParam() })
  .nullish()
  .transform((v) => v ?? {});
type Params = z.output<typeof schema>;
type Verb = "start" | "stop" | "restart";

/** A step that starts, stops or restarts a unit with systemctl. */
function lifecycleStep(verb: Verb, defaultTimeoutMs: number): StepKind<typeof schema, Params> {
  return {
    schema,
    defaultTimeoutMs,
    idempotent: true,
    // It acts on a unit, which need not be the target's service.
    needsService: false,
    local: () => true,
    render: (p, r) => renderUnit(p, r),
    describe: (p, service) => `${verb} ${unitWords(p.unit, service)}`,
    run: (p, ctx) => runVerb(verb, p, ctx),
    preview: async (p, ctx) => {
      const r = resolveUnit(p, ctx.target);
      return "error" in r ? [r.error] : previewUnit(r.unit, r.via, [systemctlArgv(verb, r.unit)], ctx);
    },
  };
}

async function runVerb(verb: Verb, p: Params, ctx: StepContext): Promise<StepResult> {
  const r = resolveUnit(p, ctx.target);
  if ("error" in r) return { ok: false, detail: r.error, durationMs: 0 };
  return withStepDeadline(ctx, async (signal) => {
    const result = await createSystemdDriver(r.unit)[verb](signal);
    if (!result.ok && signal.aborted && !ctx.signal.aborted) {
      return { ...result, detail: `${verb} timed out after ${formatDuration(ctx.timeoutMs)}: ${result.detail}` };
    }
    return result;
  });
}

/** `systemd.restart`: `systemctl restart UNIT` (stop, then start; the unit's own timeouts apply). */
export const systemdRestart = lifecycleStep("restart", 90_000);
/** `systemd.start`: `systemctl start UNIT` (nothing happens to a running unit). */
export const systemdStart = lifecycleStep("start", 60_000);
/** `systemd.stop`: `systemctl stop UNIT`. */
export const systemdStop = lifecycleStep("stop", 60_000);
