import type { Severity } from "../classify/types.js";

// Approval gates: a step that must be asked for before it runs. Where it is asked for (a playbook,
// a step, a severity, a rule by step kind), the journal's records of the question and its answer,
// and what an operator's answer looks like on its way in.

/** `approval:` on a playbook or a step: ask before it runs, and give up after `timeoutMs`. */
export interface ApprovalSpec {
  required: boolean;
  timeoutMs?: number;
}

/** medic.yaml `approvals:`: the default timeout, severities whose runs are asked for, and rules by step kind. */
export interface ApprovalsConfig {
  timeoutMs: number;
  severities: Partial<Record<Severity, { timeoutMs?: number }>>;
  rules: { kinds: string[]; targets: string[]; timeoutMs?: number }[];
}

/**
 * Why a step must be approved before it runs, and how long medic waits for an answer. `run`: the
 * whole run must be approved (its playbook or severity asks: one answer covers every step);
 * `step`: this step itself must be (its own `approval:`, or a rule for its kind).
 */
export interface ApprovalNeed {
  why: string;
  timeoutMs: number;
  run: boolean;
  step: boolean;
}

/** A person's answer to an approval, written where the daemon reads it (the controls file, shared in a cluster). */
export interface ApprovalAnswer {
  /** Unique per answer: the journal names the answer it honoured, so one answer acts once. */
  id: string;
  incident: string;
  runId: string;
  /** The step asked about (0-based). */
  index: number;
  decision: "approved" | "rejected";
  by: string;
  /** Why, for a rejection; a note, for an approval. */
  reason?: string;
  at: number;
}
