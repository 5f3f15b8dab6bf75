import { approvalFor, describeNeed } from "../approvals/policy.js";
import type { ApprovalNeed, ApprovalsConfig } from "../approvals/types.js";
import type { Condition } from "../classify/conditions.js";
import type { Severity } from "../classify/types.js";
import type { Target } from "../config/types.js";
import { describeError } from "../lib/errors.js";
import { formatDuration } from "../lib/duration.js";
import { serviceKinds } from "../services/registry.js";
import { stepKinds } from "./steps/registry.js";
import { buildTemplateVars, createRenderer } from "./template.js";
import { matchPlaybook } from "./match.js";
import type { Playbook, StepKind } from "./types.js";

/** A step with its templates filled in, ready to run or to print. */
export interface RenderedStep {
  index: number;
  name: string;
  kind: string;
  step: StepKind;
  rendered: unknown;
  description: string;
  timeoutMs: number;
  onlyIf?: Condition[];
  /** A person must say yes before it runs. */
  approval?: ApprovalNeed;
}

/** What remediation would do: run a playbook, or hand the incident to humans and why. */
export type Plan =
  | { action: "run"; playbook: Playbook; steps: RenderedStep[]; verifyWithinMs: number }
  | { action: "escalate"; reason: string; playbook?: Playbook };

/** The incident facts a plan may use. */
export interface PlanIncident {
  id: string;
  kind: string;
  severity: string;
  target: string;
  evidence: string;
}

/** Inputs of planning; all plain data, so `medic plan` and the daemon decide the same way. */
export interface PlanInput {
  incident: PlanIncident;
  target: Target;
  playbooks: readonly Playbook[];
  /** medic.yaml's approval rules (absent: only playbooks and steps ask). */
  approvals?: ApprovalsConfig;
}

/** Decides which playbook handles an incident and renders its steps (the safety checks are src/safety). Pure: touches nothing. */
export function planRemediation(input: PlanInput): Plan {
  const { incident, target } = input;
  const playbook = matchPlaybook(input.playbooks, target, incident.kind);
  if (!playbook) return { action: "escalate", reason: `no playbook handles ${incident.kind} on ${target.name}` };
  const renderer = createRenderer(buildTemplateVars(target, incident));
  const service = target.service && serviceKinds.get(target.service.kind)?.describe(target.service.params);
  const steps: RenderedStep[] = [];
  for (const [index, spec] of playbook.steps.entries()) {
    const step = stepKinds.get(spec.kind);
    const label = `step ${index + 1} (${spec.name ?? spec.kind}) of playbook ${playbook.name}`;
    if (!step) return { action: "escalate", playbook, reason: `${label}: unknown step kind ${spec.kind}` };
    if (step.needsService && !target.service) {
      return { action: "escalate", playbook, reason: `${label} acts on a service, but ${target.name} has none configured` };
    }
    try {
      const rendered = step.render(spec.params, renderer);
      const approval = approvalFor(
        {
          playbook,
          step: { index, kind: spec.kind, ...(spec.approval && { approval: spec.approval }) },
          target: target.name,
          severity: incident.severity as Severity,
        },
        input.approvals,
      );
      steps.push({
        index,
        name: spec.name ?? spec.kind,
        kind: spec.kind,
        step,
        rendered,
        description: step.describe(rendered, service),
        timeoutMs: spec.timeoutMs,
        ...(spec.onlyIf && { onlyIf: spec.onlyIf }),
        ...(approval && { approval }),
      });
    } catch (err) {
      return { action: "escalate", playbook, reason: `${label}: ${describeError(err)}` };
    }
  }
  return { action: "run", playbook, steps, verifyWithinMs: playbook.verify.withinMs };
}

/** Step index -> lines saying what that step would touch right now (previewPlan finds them). */
export type Previews = ReadonlyMap<number, string[]>;

/** The plan as lines a person reads (`medic plan`, dry-run logs), with what each step would touch when known. */
export function renderPlan(plan: Plan, previews: Previews = new Map()): string[] {
  if (plan.action === "escalate") return [`escalate: ${plan.reason}`];
  const lines = [`playbook ${plan.playbook.name} (${plan.playbook.file})`];
  for (const s of plan.steps) {
    const only = s.onlyIf ? ` only if ${s.onlyIf.map((c) => c.source).join(" && ")}:` : "";
    lines.push(`  ${s.index + 1}. ${s.name}:${only} ${s.description}  [timeout ${formatDuration(s.timeoutMs)}]`);
    if (s.approval) lines.push(`       ${describeNeed(s.approval)}`);
    for (const line of previews.get(s.index) ?? []) lines.push(`       ${line}`);
  }
  lines.push(`  then verify: healthy within ${formatDuration(plan.verifyWithinMs)}, else ${plan.playbook.onFailure}`);
  return lines;
}
