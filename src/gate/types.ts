import type { ApprovalNeed } from "../approvals/types.js";

// The one gate every side effect on the world passes: a playbook run and each of its steps, a
// notification send, a page or announcement about medic itself. It allows the action, or refuses
// it with a reason that is recorded. A dry run is the gate refusing everything; a cluster adds
// "only the leader, at its epoch"; an approval adds "only after a named person said yes".

/** A side effect medic is about to have. */
export type Action =
  /** `local`: its steps that act on the host they run on (a cluster runs those only on the target's node). */
  | { kind: "playbook"; incident: string; target: string; playbook: string; local: string[] }
  /** `approval`: a person must have said yes to it (or to its run) first. */
  | {
      kind: "step";
      incident: string;
      target: string;
      runId: string;
      index: number;
      step: string;
      stepKind: string;
      description: string;
      approval?: ApprovalNeed;
    }
  | { kind: "notify"; incident: string; channel: string; event: string }
  /** A message about medic itself (a pause ended, the state dir is in trouble), straight to a channel. */
  | { kind: "announce"; channel: string; what: string };

/** The gate's answer. `rule` names who refused, for the record and for metrics. */
export type Verdict = { allow: true } | { allow: false; rule: string; reason: string };

/** One reason to refuse: undefined means "no objection" and the next rule is asked. */
export interface GateRule {
  name: string;
  check(action: Action): string | undefined;
}
