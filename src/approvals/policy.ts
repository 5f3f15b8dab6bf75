import type { Severity } from "../classify/types.js";
import { formatDuration } from "../lib/duration.js";
import { globMatches } from "../lib/glob.js";
import type { ApprovalNeed, ApprovalSpec, ApprovalsConfig } from "./types.js";

/** Where a step sits, as the approval policy looks at it. */
export interface ApprovalQuestion {
  playbook: { name: string; approval?: ApprovalSpec };
  step: { index: number; kind: string; approval?: ApprovalSpec };
  target: string;
  severity: Severity;
}

/**
 * Whether a step must be approved before it runs, and why. Any source that asks for it makes it
 * asked (a step cannot opt out of a rule); the timeout is the most specific one given: the step's,
 * the playbook's, the rule's, the severity's, else the default. A playbook's or severity's
 * approval is of the whole run: asked at its first step that runs, once. Pure.
 */
export function approvalFor(q: ApprovalQuestion, config: ApprovalsConfig | undefined): ApprovalNeed | undefined {
  const reasons: string[] = [];
  const timeouts: (number | undefined)[] = [];
  if (q.step.approval?.required) {
    reasons.push(`step ${q.step.index + 1} asks for approval`);
    timeouts.push(q.step.approval.timeoutMs);
  }
  let step = reasons.length > 0;
  let run = false;
  if (q.playbook.approval?.required) {
    run = true;
    reasons.push(`playbook ${q.playbook.name} asks for approval`);
    timeouts.push(q.playbook.approval.timeoutMs);
  }
  const rule = config?.rules.find((r) => r.kinds.includes(q.step.kind) && r.targets.some((g) => globMatches(g, q.target)));
  if (rule) {
    step = true;
    reasons.push(`steps of kind ${q.step.kind} need approval`);
    timeouts.push(rule.timeoutMs);
  }
  const severity = config?.severities[q.severity];
  if (severity) {
    run = true;
    reasons.push(`${q.severity} runs need approval`);
    timeouts.push(severity.timeoutMs);
  }
  if (reasons.length === 0) return undefined;
  const timeoutMs = timeouts.find((t) => t !== undefined) ?? config?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return { why: reasons.join("; "), timeoutMs, run, step };
}

/** How long medic waits for an answer unless told otherwise. */
export const DEFAULT_TIMEOUT_MS = 15 * 60_000;

/** One line for plans: where approval is asked and for how long. */
export function describeNeed(need: ApprovalNeed): string {
  return `needs approval (${need.why}; escalates without acting after ${formatDuration(need.timeoutMs)})`;
}
