import { formatDuration } from "../lib/duration.js";
import type { Incident, JournalRecord } from "./types.js";

/** One journal record as a line a person reads in a timeline. */
export function describeRecord(record: JournalRecord, incident?: Incident): string {
  const step = (runId: string, index: number) => {
    const run = incident?.runs.find((r) => r.runId === runId);
    const s = run?.steps[index];
    return s ? `step ${index + 1} ${s.name}` : `step ${index + 1}`;
  };
  switch (record.type) {
    case "opened":
      return `opened${record.root ? ` suppressed under incident ${record.root}` : ""}: ${record.kind} ${record.severity}${record.dryRun ? " (dry run)" : ""}: ${record.evidence}`;
    case "observed":
      return `seen again (${record.occurrences} rounds): ${record.evidence}`;
    case "playbook_started":
      return `playbook ${record.playbook} started${record.guards ? ` (${record.guards})` : ""}: ${record.steps.map((s) => s.description).join("; ")}`;
    case "step_started":
      return `${step(record.runId, record.index)}: started`;
    case "step_finished":
      return `${step(record.runId, record.index)}: ${record.outcome} in ${formatDuration(record.durationMs)}: ${record.detail}`;
    case "verifying":
      return `verifying recovery (within ${formatDuration(record.withinMs)})`;
    case "escalated":
      return `escalated${record.severity ? ` to ${record.severity}` : ""}: ${record.reason}`;
    case "held":
      return `held by ${record.by.replace("_", " ")}: ${record.reason}`;
    case "suppressed":
      return `suppressed under incident ${record.root}: ${record.reason}`;
    case "source_resolved":
      return record.detail;
    case "acknowledged":
      return `acknowledged by ${record.by}${record.note ? `: ${record.note}` : ""}`;
    case "approval_requested":
      return `${step(record.runId, record.index)}: awaiting approval until ${new Date(record.expiresAt).toISOString()} (${record.why})`;
    case "approved":
      return `${step(record.runId, record.index)}: approved by ${record.by}${record.note ? `: ${record.note}` : ""}`;
    case "rejected":
      return `${step(record.runId, record.index)}: rejected by ${record.by}: ${record.reason}`;
    case "approval_expired":
      return `${step(record.runId, record.index)}: nobody approved it in time; nothing ran`;
    case "would_run":
      return `dry run: would run ${record.plan.join("\n")} (${record.guards})`;
    case "notification_queued":
      return `notify ${record.notification.channel}: ${record.notification.event} (${record.notification.reason})`;
    case "notification_sent": {
      const n = incident?.notifications.find((x) => x.id === record.id);
      return `delivered to ${record.channel}${n ? `: ${n.event}` : ""}`;
    }
    case "notification_failed":
      return `NOT delivered to ${record.channel} (${record.reason}): ${record.detail}`;
    case "notification_superseded": {
      const n = incident?.notifications.find((x) => x.id === record.id);
      return `not sent to ${record.channel}${n ? `: ${n.event}` : ""} (a later notification said it all)`;
    }
    case "resolved":
      return `resolved: ${record.reason}`;
    case "note":
      return record.message;
  }
}
