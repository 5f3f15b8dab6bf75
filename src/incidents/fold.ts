import { approvalKey, type Incident, type JournalRecord, type RunRecord } from "./types.js";

/** Applies one journal record to the incidents it belongs to. Pure: the map is updated in place and returned. */
export function applyRecord(incidents: Map<string, Incident>, record: JournalRecord): Map<string, Incident> {
  if (record.type === "opened") {
    incidents.set(record.incident, {
      id: record.incident,
      target: record.target,
      kind: record.kind,
      severity: record.severity,
      state: record.root ? "suppressed" : "open",
      openedAt: record.at,
      updatedAt: record.at,
      evidence: record.evidence,
      occurrences: 1,
      runs: [],
      notifications: [],
      timeline: [record],
      dryRun: record.dryRun === true,
      ...(record.root && { root: record.root }),
      ...(record.source && { source: record.source }),
    });
    return incidents;
  }
  const incident = incidents.get(record.incident);
  if (!incident) return incidents; // a record for an incident whose opening was lost: nothing to attach it to
  incident.timeline.push(record);
  incident.updatedAt = record.at;
  const run = lastRun(incident);
  switch (record.type) {
    case "observed":
      incident.evidence = record.evidence;
      incident.occurrences = record.occurrences;
      break;
    case "playbook_started":
      endRun(incident, record.at);
      incident.state = "remediating";
      delete incident.hold;
      incident.runs.push({
        runId: record.runId,
        playbook: record.playbook,
        startedAt: record.at,
        steps: record.steps.map((s) => ({ ...s, status: "pending" })),
      });
      break;
    case "step_started": {
      const step = run?.runId === record.runId ? run.steps[record.index] : undefined;
      if (step) step.status = "running";
      if (incident.state === "approved") incident.state = "remediating";
      break;
    }
    case "step_finished": {
      const step = run?.runId === record.runId ? run.steps[record.index] : undefined;
      if (step) Object.assign(step, { status: record.outcome, detail: record.detail, durationMs: record.durationMs });
      for (const ref of record.artifacts ?? []) {
        incident.artifacts ??= [];
        incident.artifacts.push({ ...ref, step: step?.name ?? `step ${record.index + 1}`, at: record.at });
      }
      break;
    }
    case "verifying":
      incident.state = "verifying";
      if (run?.runId === record.runId) run.verify = { startedAt: record.at, withinMs: record.withinMs };
      break;
    case "escalated":
      endRun(incident, record.at);
      incident.state = "escalated";
      delete incident.hold;
      if (record.severity) incident.severity = record.severity;
      break;
    case "notification_queued": {
      const n = record.notification;
      incident.notifications.push({ id: n.id, channel: n.channel, event: n.event, status: "queued", queuedAt: record.at, notification: n });
      break;
    }
    case "notification_sent":
    case "notification_failed": {
      const n = incident.notifications.find((x) => x.id === record.id);
      if (n)
        Object.assign(
          n,
          record.type === "notification_sent" ? { status: "sent" } : { status: "failed", detail: `${record.reason}: ${record.detail}` },
        );
      break;
    }
    case "notification_superseded": {
      const n = incident.notifications.find((x) => x.id === record.id);
      if (n) Object.assign(n, { status: "superseded", detail: `superseded by ${record.by}` });
      break;
    }
    case "held":
      incident.state = "held";
      incident.hold = { by: record.by, reason: record.reason, ...(record.until !== undefined && { until: record.until }) };
      break;
    case "suppressed":
      incident.state = "suppressed";
      incident.root = record.root;
      delete incident.hold;
      break;
    case "source_resolved":
      incident.sourceResolved = true;
      break;
    case "acknowledged":
      incident.acknowledged = { by: record.by, at: record.at, ...(record.note !== undefined && { note: record.note }) };
      break;
    case "approval_requested":
      incident.state = "awaiting_approval";
      delete incident.hold;
      incident.approval = {
        runId: record.runId,
        index: record.index,
        step: record.step,
        plan: record.plan,
        why: record.why,
        run: record.run,
        askedAt: record.at,
        expiresAt: record.expiresAt,
      };
      break;
    case "approved": {
      const asked = incident.approval;
      if (asked?.runId !== record.runId || asked.index !== record.index) break;
      asked.answer = { decision: "approved", at: record.at, by: record.by, ...(record.note !== undefined && { reason: record.note }) };
      incident.state = "approved";
      incident.approved = [
        ...(incident.approved ?? []),
        approvalKey(record.runId, record.index),
        ...(asked.run ? [approvalKey(record.runId, "run")] : []),
      ];
      break;
    }
    case "rejected":
      if (incident.approval?.runId === record.runId && incident.approval.index === record.index)
        incident.approval.answer = { decision: "rejected", at: record.at, by: record.by, reason: record.reason };
      break;
    case "approval_expired":
      if (incident.approval?.runId === record.runId && incident.approval.index === record.index)
        incident.approval.answer = { decision: "expired", at: record.at };
      break;
    case "would_run":
      incident.state = "open";
      delete incident.hold;
      break;
    case "resolved":
      endRun(incident, record.at);
      delete incident.hold;
      incident.state = "resolved";
      incident.resolvedAt = record.at;
      if (record.occurrences !== undefined) incident.occurrences = record.occurrences;
      break;
    case "note":
      break;
  }
  return incidents;
}

/** The incidents a list of journal records describes. */
export function foldRecords(records: Iterable<JournalRecord>): Map<string, Incident> {
  const incidents = new Map<string, Incident>();
  for (const record of records) applyRecord(incidents, record);
  return incidents;
}

// A run ends with the next thing that decides the incident's fate; a run cut off by a crash keeps no end.
function endRun(incident: Incident, at: number): void {
  const run = lastRun(incident);
  if (run && run.endedAt === undefined && !run.steps.some((s) => s.status === "running")) run.endedAt = at;
}

/** The most recent playbook run of an incident. */
export function lastRun(incident: Incident): RunRecord | undefined {
  return incident.runs[incident.runs.length - 1];
}

/** Start times of every playbook run on a target, across its incidents (the run cap counts them). */
export function runStarts(incidents: Iterable<Incident>, target: string): number[] {
  const starts: number[] = [];
  for (const i of incidents) if (i.target === target) for (const r of i.runs) starts.push(r.startedAt);
  return starts;
}
