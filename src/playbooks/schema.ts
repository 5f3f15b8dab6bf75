import { z } from "zod";
import { labels, safeName } from "../config/fields.js";
import { approvalSchema, conditions, incidentKind, kindSelector, positiveDuration, targetGlobs } from "../config/schema.js";
import { stepKinds } from "./steps/registry.js";
import type { StepSpec } from "./types.js";

/** Keys a step may have besides its kind. */
export const STEP_COMMON_KEYS = ["name", "timeout", "onlyIf", "approval"] as const;

/** One step: exactly one registered step kind, plus an optional `name` and `timeout`. */
export const stepSchema = () =>
  kindSelector("step", stepKinds, {
    example: "- service.restart: {}",
    tooManyHint: "split them into separate steps",
    common: {
      name: z.string().min(1).optional().meta({ description: "Shown in plans and timelines (default: the step kind)" }),
      timeout: positiveDuration().optional().meta({ description: "How long the step may take (default: the step kind's own)" }),
      approval: approvalSchema().optional(),
      onlyIf: conditions().optional().meta({
        description:
          'Run the step only when this holds on a fresh probe of the target, like "[BODY].connection_pool.pool_utilization >= 0.9"',
      }),
    },
  }).transform((step): StepSpec => ({
    kind: step.kind,
    params: step.params,
    ...(step.name === undefined ? {} : { name: step.name }),
    ...(step.onlyIf === undefined ? {} : { onlyIf: step.onlyIf }),
    ...(step.approval && {
      approval: { required: step.approval.required, ...(step.approval.timeout && { timeoutMs: step.approval.timeout }) },
    }),
    // No kind only happens next to an unknown key, when the parse fails anyway.
    timeoutMs: step.timeout ?? stepKinds.get(step.kind)?.defaultTimeoutMs ?? 0,
  }));

/** A playbook file as written, with defaults applied. */
export const playbookSchema = () =>
  z.strictObject({
    name: safeName("playbook name").meta({ description: "Unique playbook name, like restart-on-down" }),
    description: z.string().optional(),
    on: z
      .array(incidentKind())
      .min(1, "needs at least one incident kind (hint: like on: [server_down])")
      .meta({ description: "Incident kinds it handles: built-in ones or kinds rules define" }),
    targets: targetGlobs().meta({ description: "Target name globs it applies to" }),
    labels: labels().default({}).meta({ description: "Target labels that must all match" }),
    steps: z
      .array(stepSchema())
      .min(1, "needs at least one step (hint: like steps: [{ service.restart: {} }])")
      .meta({ description: "What to do, in order; each step is one step kind" }),
    verify: z
      .strictObject({
        within: positiveDuration().prefault("30s").meta({ description: "How long the target has to become healthy after the steps" }),
      })
      .prefault({}),
    approval: approvalSchema()
      .optional()
      .meta({ description: "Ask an approver once, before the run's first step, showing the whole plan" }),
    onFailure: z.literal("escalate").default("escalate").meta({ description: "What happens when steps or verification fail" }),
  });

/** A playbook validated, before its file is attached. */
export type ParsedPlaybook = z.output<ReturnType<typeof playbookSchema>>;
