import { z } from "zod";
import { describeFailure, RESOURCE_TYPES, runSystemctl, showUnit, systemctlArgv } from "../../lib/systemctl.js";
import { TemplateError } from "../template.js";
import type { PreviewContext, StepContext, StepKind, StepResult } from "../types.js";
import { previewUnit, renderUnit, resolveUnit, unitParam, unitWords, withStepDeadline } from "./systemd.js";
import { formatLimit, parseLimit, parseShown, planProperty, PROPERTIES, type PropertyName, type Wanted } from "./systemd-values.js";

// systemctl set-property and resource-control properties:
// https://www.freedesktop.org/software/systemd/man/latest/systemctl.html#set-property%20UNIT%20PROPERTY=VALUE%E2%80%A6
// https://www.freedesktop.org/software/systemd/man/latest/systemd.resource-control.html

const NAMES = Object.keys(PROPERTIES) as [PropertyName, ...PropertyName[]];
const limit = () => z.union([z.string(), z.number()]);

const schema = z
  .strictObject({
    unit: unitParam(RESOURCE_TYPES),
    property: z.enum(NAMES).meta({
      description: "The resource-control property: MemoryMax, MemoryHigh, MemorySwapMax, CPUQuota, CPUWeight, IOWeight or TasksMax",
    }),
    value: limit().optional().meta({ description: "The new value, like 512M or 150%; may use {{ }}" }),
    factor: z
      .number()
      .gt(1, "factor must be above 1 (hint: 2 doubles the value)")
      .optional()
      .meta({ description: "Or: multiply the current value by this" }),
    ceiling: limit().meta({ description: "Never set past this; past it the step fails, so the playbook escalates" }),
    runtime: z.boolean().default(false).meta({ description: "Until the next boot only (systemctl set-property --runtime)" }),
  })
  .superRefine((p, ctx) => {
    const { measure } = PROPERTIES[p.property]!;
    if ((p.value === undefined) === (p.factor === undefined)) {
      ctx.addIssue({ code: "custom", message: "give exactly one of value or factor (hint: value: 512M, or factor: 2)" });
    }
    const ceiling = parseLimit(measure, p.ceiling);
    if (ceiling === undefined)
      ctx.addIssue({ code: "custom", path: ["ceiling"], message: `not a ${measure} limit for ${p.property} (hint: ${EXAMPLE[measure]})` });
    if (typeof p.value === "string" && p.value.includes("{{")) return;
    const value = p.value === undefined ? undefined : parseLimit(measure, p.value);
    if (p.value !== undefined && value === undefined) {
      ctx.addIssue({ code: "custom", path: ["value"], message: `not a ${measure} limit for ${p.property} (hint: ${EXAMPLE[measure]})` });
    } else if (value !== undefined && ceiling !== undefined && value > ceiling) {
      ctx.addIssue({
        code: "custom",
        path: ["value"],
        message: `value is above the ceiling (${formatLimit(measure, value)} > ${formatLimit(measure, ceiling)})`,
      });
    }
  });

const EXAMPLE = { bytes: "a size like 512M or 1GiB", percent: "a percentage like 150%", count: "a whole number like 4096" };

type Params = z.output<typeof schema>;
/** A rendered set-property step: the property and what it should become. */
export interface RenderedProperty {
  unit?: string;
  property: PropertyName;
  wanted: Wanted;
  runtime: boolean;
}

/** `systemd.set-property`: change a resource limit of a running unit (no restart), bounded by a ceiling. */
export const systemdSetProperty: StepKind<typeof schema, RenderedProperty> = {
  schema,
  defaultTimeoutMs: 30_000,
  // A factor applied twice multiplies twice.
  idempotent: false,
  needsService: false,
  local: () => true,
  render: (p, r) => renderProperty(renderUnit(p, r, RESOURCE_TYPES), (s) => r.text(s)),
  describe: (p, service) => {
    const fmt = (n: number): string => formatLimit(PROPERTIES[p.property]!.measure, n);
    const unit = unitWords(p.unit, service);
    const how =
      "value" in p.wanted ? `set ${p.property} of ${unit} to ${fmt(p.wanted.value)}` : `raise ${p.property} of ${unit} x${p.wanted.factor}`;
    return `${how} (ceiling ${fmt(p.wanted.ceiling)}${p.runtime ? ", until reboot" : ""})`;
  },
  run: (p, ctx) => withStepDeadline(ctx, (signal) => setProperty(p, ctx, signal)),
  preview: (p, ctx) => previewProperty(p, ctx),
};

function renderProperty(p: Params, text: (s: string) => string): RenderedProperty {
  const { measure } = PROPERTIES[p.property]!;
  const ceiling = parseLimit(measure, p.ceiling)!;
  const base = { ...(p.unit !== undefined && { unit: p.unit }), property: p.property, runtime: p.runtime };
  if (p.factor !== undefined) return { ...base, wanted: { factor: p.factor, ceiling } };
  const written = typeof p.value === "string" ? text(p.value) : p.value!;
  const value = parseLimit(measure, written);
  if (value === undefined) {
    throw new TemplateError(
      "TEMPLATE_UNSAFE_VALUE",
      `${p.property} value ${JSON.stringify(p.value)} renders to ${JSON.stringify(String(written).slice(0, 60))}, which is not ${EXAMPLE[measure]}`,
      "check the label or value the template uses",
    );
  }
  return { ...base, wanted: { value, ceiling } };
}

async function setProperty(p: RenderedProperty, ctx: StepContext, signal: AbortSignal): Promise<StepResult> {
  const t0 = performance.now();
  const done = (ok: boolean, detail: string): StepResult => ({ ok, detail, durationMs: performance.now() - t0 });
  const r = resolveUnit(p, ctx.target, RESOURCE_TYPES);
  if ("error" in r) return done(false, r.error);
  const { measure, show } = PROPERTIES[p.property]!;
  const opts = { timeoutMs: ctx.timeoutMs, signal };
  const before = await showUnit(r.unit, [show], opts);
  if ("error" in before) return done(false, before.error);
  const plan = planProperty(p.property, p.wanted, before.props[show]);
  if ("refuse" in plan) return done(false, `${r.unit}: ${plan.refuse}`);
  if (plan.same) return done(true, `${r.unit}: ${p.property} already ${formatLimit(measure, plan.set)}: nothing to change`);

  const argv = setArgv(r.unit, p, plan.set);
  const failed = describeFailure(await runSystemctl(argv, opts), `systemctl set-property ${r.unit}`, ctx.timeoutMs);
  if (failed) return done(false, failed);
  const revert = `to revert: systemctl set-property${p.runtime ? " --runtime" : ""} ${r.unit} ${plan.revert}`;
  const after = await showUnit(r.unit, [show], opts);
  const now = "error" in after ? undefined : parseShown(measure, after.props[show] ?? "");
  if (now !== plan.set) {
    const reads = "error" in after ? after.error : `systemd now reports ${formatLimit(measure, now)}`;
    return done(
      false,
      `${r.unit}: set ${argv.at(-1)}, but ${reads} (hint: an earlier set-property drop-in in /etc/systemd/system.control may win); ${revert}`,
    );
  }
  return done(true, `${r.unit}: ${plan.detail}${p.runtime ? " until reboot" : ""}; ${revert}`);
}

/** `systemctl --no-ask-password set-property [--runtime] -- UNIT PROPERTY=VALUE`. */
function setArgv(unit: string, p: RenderedProperty, value: number): string[] {
  const { measure } = PROPERTIES[p.property]!;
  const text = measure === "percent" ? `${Number(value.toFixed(2))}%` : String(Math.round(value));
  return systemctlArgv("set-property", unit, p.runtime ? ["--runtime"] : [], [`${p.property}=${text}`]);
}

/** Read-only: the unit, its current value, and the exact argv the step would run (or why it would not). */
async function previewProperty(p: RenderedProperty, ctx: PreviewContext): Promise<string[]> {
  const r = resolveUnit(p, ctx.target, RESOURCE_TYPES);
  if ("error" in r) return [r.error];
  const { show } = PROPERTIES[p.property]!;
  const before = await withStepDeadline(ctx, (signal) => showUnit(r.unit, [show], { timeoutMs: ctx.timeoutMs, signal }));
  if ("error" in before) return [`unit ${r.unit} (${r.via}): cannot look right now: ${before.error}`];
  const plan = planProperty(p.property, p.wanted, before.props[show]);
  if ("refuse" in plan) return [`unit ${r.unit} (${r.via}): would not change it: ${plan.refuse}`];
  const lines = await previewUnit(r.unit, r.via, plan.same ? [] : [setArgv(r.unit, p, plan.set)], ctx);
  return [...lines, plan.same ? `${p.property} is already that: nothing to change` : `${plan.detail} (now ${show}=${before.props[show]})`];
}
