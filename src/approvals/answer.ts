import { randomBytes } from "node:crypto";
import type { Incident } from "../incidents/types.js";
import { updateControls } from "../safety/controls.js";
import type { Refusal } from "../safety/operator.js";
import type { ApprovalAnswer } from "./types.js";

/** Longest reason or note kept with an answer. */
export const MAX_ANSWER_REASON = 500;

/**
 * A person's answer to the question an incident waits on, written into the state dir's controls
 * (where the daemon reads it within a second; a cluster shares it with the leader). Refused when
 * the incident asks nothing now, or a rejection says no why.
 */
export function answerApproval(
  stateDir: string,
  incident: Incident,
  answer: { decision: ApprovalAnswer["decision"]; by: string; reason?: string | undefined },
  now: number,
): ApprovalAnswer | Refusal {
  const asked = incident.approval;
  if (incident.state !== "awaiting_approval" || !asked || asked.answer)
    return {
      message: `incident ${incident.id} does not wait for an approval (it is ${incident.state.replace("_", " ")})`,
      hint: "medic incidents --state awaiting_approval lists those that do",
    };
  const reason = answer.reason?.trim();
  if (answer.decision === "rejected" && !reason)
    return { message: "a rejection needs a reason", hint: 'say why, like --reason "the primary is mid-failover"' };
  if (reason !== undefined && (reason.length > MAX_ANSWER_REASON || /[\r\n]/.test(reason)))
    return { message: `the reason must be one line of at most ${MAX_ANSWER_REASON} characters`, hint: "say it shorter" };
  if (now > asked.expiresAt)
    return {
      message: `the approval of incident ${incident.id} timed out at ${new Date(asked.expiresAt).toISOString()}; medic escalates it without acting`,
      hint: "nothing runs now; start again from the incident once it is escalated",
    };
  const written: ApprovalAnswer = {
    id: randomBytes(6).toString("hex"),
    incident: incident.id,
    runId: asked.runId,
    index: asked.index,
    decision: answer.decision,
    by: answer.by,
    ...(reason && { reason }),
    at: now,
  };
  // Looked for and written under the file's lock: two answers at once cannot both be the first.
  let given: ApprovalAnswer | undefined;
  updateControls(
    stateDir,
    (c) => {
      given = c.answers.find((a) => a.incident === incident.id && a.runId === asked.runId && a.index === asked.index);
      if (!given) c.answers.push(written);
    },
    now,
  );
  if (given)
    return {
      message: `incident ${incident.id} was already ${given.decision} by ${given.by} at ${new Date(given.at).toISOString()}`,
      hint: "the first answer counts; medic acts on it within a second",
    };
  return written;
}
