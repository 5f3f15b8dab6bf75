import { constants } from "node:fs";
import { access, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { z } from "zod";
import { describeError, errorCode } from "../../lib/errors.js";
import { DAEMON_RELOAD_ARGV, describeFailure, runSystemctl, showUnit, systemctlArgv } from "../../lib/systemctl.js";
import { createSystemdDriver, describeUnit, STATUS_PROPERTIES } from "../../services/systemd.js";
import { TemplateError } from "../template.js";
import type { PreviewContext, StepContext, StepKind, StepResult } from "../types.js";
import { renderUnit, resolveUnit, showArgv, unitParam, unitWords, withStepDeadline } from "./systemd.js";
import { parseEnvironment, planVariable, type Wanted } from "./systemd-values.js";

// Drop-ins, daemon-reload and Environment=: https://www.freedesktop.org/software/systemd/man/latest/systemd.unit.html
// https://www.freedesktop.org/software/systemd/man/latest/systemd.exec.html#Environment=

const SERVICE = ["service"];
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const WHOLE = /^\d{1,15}$/;
const count = () => z.union([z.number().int().nonnegative(), z.string().regex(/^(\d{1,15}|.*\{\{.*)$/, "must be a whole number, like 40")]);

const schema = z
  .strictObject({
    unit: unitParam(SERVICE),
    variable: z
      .string()
      .regex(VARIABLE, "variable must be letters, digits and _, not starting with a digit (hint: like POOL_MAX_SIZE)")
      .meta({ description: "The environment variable the service reads, like POOL_MAX_SIZE" }),
    value: count().optional().meta({ description: "The new value, a whole number; may use {{ }}" }),
    factor: z
      .number()
      .gt(1, "factor must be above 1 (hint: 2 doubles the value)")
      .optional()
      .meta({ description: "Or: multiply the current value by this" }),
    ceiling: z.number().int().nonnegative().meta({ description: "Never set past this; past it the step fails, so the playbook escalates" }),
    runtime: z
      .boolean()
      .default(false)
      .meta({ description: "Write the drop-in under /run/systemd/system (gone at reboot) instead of /etc/systemd/system" }),
    restart: z.boolean().default(true).meta({ description: "Restart the unit after daemon-reload, so the new value takes effect" }),
  })
  .superRefine((p, ctx) => {
    if ((p.value === undefined) === (p.factor === undefined)) {
      ctx.addIssue({ code: "custom", message: "give exactly one of value or factor (hint: value: 40, or factor: 2)" });
    }
    if (typeof p.value === "number" || (typeof p.value === "string" && WHOLE.test(p.value))) {
      if (Number(p.value) > p.ceiling)
        ctx.addIssue({ code: "custom", path: ["value"], message: `value is above the ceiling (${p.value} > ${p.ceiling})` });
    }
  });

type Params = z.output<typeof schema>;
/** A rendered set-env step: the variable and what it should become. */
export interface RenderedEnv {
  unit?: string;
  variable: string;
  wanted: Wanted;
  runtime: boolean;
  restart: boolean;
}

/** Where the step's drop-in for `variable` of `unit` lives. */
export function dropInPath(unit: string, variable: string, runtime: boolean): string {
  return `${runtime ? "/run" : "/etc"}/systemd/system/${unit}.d/50-medic-${variable}.conf`;
}

/** `systemd.set-env`: set a numeric environment variable of a service in a drop-in, bounded, then daemon-reload and restart. */
export const systemdSetEnv: StepKind<typeof schema, RenderedEnv> = {
  schema,
  defaultTimeoutMs: 120_000,
  // A factor applied twice multiplies twice.
  idempotent: false,
  needsService: false,
  local: () => true,
  render: (p, r) => renderEnv(renderUnit(p, r, SERVICE), (s) => r.text(s)),
  describe: (p, service) => {
    const unit = unitWords(p.unit, service);
    const how =
      "value" in p.wanted ? `set ${p.variable}=${p.wanted.value} for ${unit}` : `raise ${p.variable} of ${unit} x${p.wanted.factor}`;
    return `${how} (ceiling ${p.wanted.ceiling}) in a drop-in${p.runtime ? " until reboot" : ""}, daemon-reload${p.restart ? ", restart" : ""}`;
  },
  run: (p, ctx) => withStepDeadline(ctx, (signal) => setEnv(p, ctx, signal)),
  preview: (p, ctx) => previewEnv(p, ctx),
};

function renderEnv(p: Params, text: (s: string) => string): RenderedEnv {
  const base = { ...(p.unit !== undefined && { unit: p.unit }), variable: p.variable, runtime: p.runtime, restart: p.restart };
  if (p.factor !== undefined) return { ...base, wanted: { factor: p.factor, ceiling: p.ceiling } };
  const written = typeof p.value === "string" ? text(p.value) : String(p.value);
  if (!WHOLE.test(written)) {
    throw new TemplateError(
      "TEMPLATE_UNSAFE_VALUE",
      `${p.variable} value ${JSON.stringify(p.value)} renders to ${JSON.stringify(written.slice(0, 60))}, which is not a whole number`,
      "check the label or value the template uses",
    );
  }
  return { ...base, wanted: { value: Number(written), ceiling: p.ceiling } };
}

/** The drop-in medic writes: the value, and what it replaced, so a person can undo it. */
export function dropInText(variable: string, value: number, revert: string, unit: string, at: Date): string {
  return [
    `# Written by medic at ${at.toISOString()}. Before: ${revert}.`,
    `# To undo: delete this file (or write the value before), then systemctl daemon-reload and systemctl restart ${unit}.`,
    "[Service]",
    `Environment=${variable}=${value}`,
    "",
  ].join("\n");
}

async function setEnv(p: RenderedEnv, ctx: StepContext, signal: AbortSignal): Promise<StepResult> {
  const t0 = performance.now();
  const done = (ok: boolean, detail: string): StepResult => ({ ok, detail, durationMs: performance.now() - t0 });
  const r = resolveUnit(p, ctx.target, SERVICE);
  if ("error" in r) return done(false, r.error);
  const opts = { timeoutMs: ctx.timeoutMs, signal };
  const before = await showUnit(r.unit, ["Environment"], opts);
  if ("error" in before) return done(false, before.error);
  const plan = planVariable(p.variable, p.wanted, parseEnvironment(before.props.Environment ?? "")[p.variable]);
  if ("refuse" in plan) return done(false, `${r.unit}: ${plan.refuse}`);
  if (plan.same) return done(true, `${r.unit}: ${p.variable} already ${plan.set}: nothing to change`);

  const path = dropInPath(r.unit, p.variable, p.runtime);
  const previous = await readFile(path, "utf8").catch(() => undefined);
  try {
    await writeAtomically(path, dropInText(p.variable, plan.set, plan.revert, r.unit, new Date()));
  } catch (err) {
    return done(false, `cannot write ${path}: ${describeError(err)}${writeHint(path, err)}`);
  }
  const reloaded = describeFailure(await runSystemctl([...DAEMON_RELOAD_ARGV], opts), "systemctl daemon-reload", ctx.timeoutMs);
  if (reloaded) {
    // Left in place, the drop-in would take effect at whoever's next daemon-reload: put back what was there.
    const undo = await restore(path, previous);
    return done(false, `${reloaded}; ${undo}`);
  }
  const revert = `to revert: ${plan.revert} in ${path} (or delete it), systemctl daemon-reload, systemctl restart ${r.unit}`;
  let restarted = "";
  if (p.restart) {
    const res = await createSystemdDriver(r.unit).restart(opts.signal);
    if (!res.ok)
      return done(false, `${r.unit}: ${plan.detail} written to ${path} and loaded, but the restart failed: ${res.detail}; ${revert}`);
    restarted = `; ${res.detail}`;
  }
  const after = await showUnit(r.unit, ["Environment"], opts);
  const now = "error" in after ? undefined : parseEnvironment(after.props.Environment ?? "")[p.variable];
  if (now !== String(plan.set)) {
    return done(
      false,
      `${r.unit}: wrote ${p.variable}=${plan.set} to ${path}, but systemd now has ${now === undefined ? "it unset" : `${p.variable}=${now}`} (hint: a later drop-in may set it too: systemctl cat ${r.unit}); ${revert}`,
    );
  }
  return done(true, `${r.unit}: ${plan.detail} in ${path}; daemon-reload${restarted}; ${revert}`);
}

/** Write-then-rename, so systemd never reads half a drop-in; the unit's .d directory is made when medic may. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  await mkdir(dir, { recursive: false }).catch((err: unknown) => {
    if (errorCode(err) !== "EEXIST") throw err;
  });
  const tmp = `${dir}/.50-medic.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, path).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

async function restore(path: string, previous: string | undefined): Promise<string> {
  try {
    if (previous === undefined) await rm(path, { force: true });
    else await writeAtomically(path, previous);
    return `put ${path} back as it was`;
  } catch (err) {
    return `could not put ${path} back (${describeError(err)}): remove it by hand before the next daemon-reload`;
  }
}

function writeHint(path: string, err: unknown): string {
  const code = errorCode(err);
  if (!["EACCES", "EPERM", "EROFS", "ENOENT"].includes(code)) return "";
  const dir = path.slice(0, path.lastIndexOf("/"));
  return ` (hint: create ${dir} owned by medic's user, install -d -o medic ${dir}, and add it to ReadWritePaths= of medic.service)`;
}

/** Read-only: current value and state, the drop-in it would write, and the exact argv it would run. */
async function previewEnv(p: RenderedEnv, ctx: PreviewContext): Promise<string[]> {
  const r = resolveUnit(p, ctx.target, SERVICE);
  if ("error" in r) return [r.error];
  const before = await withStepDeadline(ctx, (signal) =>
    showUnit(r.unit, ["Environment", ...STATUS_PROPERTIES], { timeoutMs: ctx.timeoutMs, signal }),
  );
  if ("error" in before) return [`unit ${r.unit} (${r.via}): cannot look right now: ${before.error}`];
  const current = parseEnvironment(before.props.Environment ?? "")[p.variable];
  const head = `unit ${r.unit} (${r.via}): ${describeUnit(before.props)}; ${current === undefined ? `${p.variable} unset` : `${p.variable}=${current}`} (Environment=)`;
  const plan = planVariable(p.variable, p.wanted, current);
  if ("refuse" in plan) return [head, `would not change it: ${plan.refuse}`];
  if (plan.same) return [head, `${p.variable} is already that: nothing to change`];
  const path = dropInPath(r.unit, p.variable, p.runtime);
  const writable = await access(path.slice(0, path.lastIndexOf("/")), constants.W_OK).then(
    () => "",
    () => " (medic cannot write there now)",
  );
  return [
    head,
    `would write ${path}${writable}: Environment=${p.variable}=${plan.set} (${plan.detail})`,
    `would run ${showArgv([...DAEMON_RELOAD_ARGV])}`,
    ...(p.restart ? [`would run ${showArgv(systemctlArgv("restart", r.unit))}`] : []),
  ];
}
