import type { ApprovalAnswer } from "../approvals/types.js";
import type { Incident } from "../incidents/types.js";
import { formatDuration } from "../lib/duration.js";
import type { Logger } from "../lib/log.js";
import type { RecordStream } from "./records.js";
import { REMOVED_FROM_CONFIG, type Remediator } from "./remediator.js";

/** What the approval desk needs from the daemon. */
export interface ApprovalDeskDeps {
  log: Logger;
  live: () => ReadonlyMap<string, Incident>;
  records: RecordStream;
  remediator: Remediator;
  /** People's answers, oldest first (the controls file; a cluster's every node's). */
  answers: () => readonly ApprovalAnswer[];
  /** Whether a target is watched now (one removed while medic was down asks nothing more). */
  watched: (target: string) => boolean;
  dryRun: boolean;
}

/** How far apart two hosts' clocks may be for an answer written on one to count for a question asked on the other. */
const SKEW_MS = 60_000;

/**
 * Every tick: the questions waiting for a person get their answer from the controls (the first
 * given in time counts; later ones change nothing), or expire and escalate without acting. An
 * approved incident carries on (checked afresh first: see Remediator). All of it is read from the
 * journal and the controls file, so a medic that was down finds the questions still open and the
 * answers given meanwhile, and each answer acts once: the journal names it.
 */
export class ApprovalDesk {
  constructor(private readonly deps: ApprovalDeskDeps) {}

  tick(now: number): void {
    const { live, records, remediator, log } = this.deps;
    for (const incident of live().values()) {
      if (incident.dryRun !== this.deps.dryRun) continue;
      if (incident.state === "approved") {
        remediator.act(incident.id, "approved");
        continue;
      }
      const asked = incident.approval;
      if (incident.state !== "awaiting_approval" || !asked || asked.answer) continue;
      if (!this.deps.watched(incident.target)) {
        records.append(incident.id, { type: "resolved", reason: `no longer watched: ${REMOVED_FROM_CONFIG}` });
        continue;
      }
      const { runId, index } = asked;
      const step = `step ${index + 1} (${asked.step})`;
      // An answer acts once: one the journal already took is never taken again, whatever it matches.
      const used = new Set(incident.timeline.flatMap((r) => (r.type === "approved" || r.type === "rejected" ? [r.answer] : [])));
      const answer = this.deps
        .answers()
        .find(
          (a) =>
            a.incident === incident.id &&
            a.runId === runId &&
            a.index === index &&
            !used.has(a.id) &&
            a.at >= asked.askedAt - SKEW_MS &&
            a.at <= asked.expiresAt,
        );
      if (answer?.decision === "approved") {
        records.append(incident.id, {
          type: "approved",
          runId,
          index,
          by: answer.by,
          ...(answer.reason !== undefined && { note: answer.reason }),
          answer: answer.id,
        });
        log.warn({ incident: incident.id, step: index + 1, by: answer.by }, "step approved");
        remediator.act(incident.id, "approved");
      } else if (answer) {
        const reason = answer.reason ?? "no reason given";
        records.append(incident.id, { type: "rejected", runId, index, by: answer.by, reason, answer: answer.id });
        remediator.escalate(incident.id, `${step} was rejected by ${answer.by}: ${reason}; nothing ran`);
      } else if (now >= asked.expiresAt) {
        records.append(incident.id, { type: "approval_expired", runId, index });
        const waited = formatDuration(asked.expiresAt - asked.askedAt);
        remediator.escalate(incident.id, `nobody approved ${step} within ${waited}; nothing ran`);
      }
    }
  }
}
