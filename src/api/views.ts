import { describeRecord } from "../incidents/describe.js";
import type { ApprovalState, Incident, IncidentState } from "../incidents/types.js";

/** Every incident state, and "unresolved" for all but resolved. */
export const STATE_FILTERS: readonly string[] = [
  "open",
  "held",
  "suppressed",
  "remediating",
  "verifying",
  "awaiting_approval",
  "approved",
  "escalated",
  "resolved",
  "unresolved",
] satisfies (IncidentState | "unresolved")[];

/** An incident as a list shows it: no timeline, times as ISO strings. */
export function incidentSummary(i: Incident) {
  return {
    id: i.id,
    target: i.target,
    kind: i.kind,
    severity: i.severity,
    state: i.state,
    openedAt: iso(i.openedAt),
    updatedAt: iso(i.updatedAt),
    ...(i.resolvedAt !== undefined && { resolvedAt: iso(i.resolvedAt) }),
    evidence: i.evidence,
    occurrences: i.occurrences,
    runs: i.runs.length,
    ...(i.source && { source: i.source }),
    ...(i.root && { root: i.root }),
    ...(i.acknowledged && {
      acknowledged: { by: i.acknowledged.by, at: iso(i.acknowledged.at), ...(i.acknowledged.note && { note: i.acknowledged.note }) },
    }),
    ...(i.hold && { hold: { by: i.hold.by, reason: i.hold.reason, ...(i.hold.until !== undefined && { until: iso(i.hold.until) }) } }),
    ...(i.approval && { approval: approvalView(i.approval) }),
    ...(i.dryRun && { dryRun: true }),
  };
}

/** One incident with its playbook runs, notifications and timeline (each record with a readable line). */
export function incidentDetail(i: Incident) {
  return {
    ...incidentSummary(i),
    runs: i.runs.map((r) => ({
      runId: r.runId,
      playbook: r.playbook,
      startedAt: iso(r.startedAt),
      ...(r.endedAt !== undefined && { endedAt: iso(r.endedAt) }),
      steps: r.steps.map((s) => ({
        name: s.name,
        kind: s.kind,
        description: s.description,
        status: s.status,
        ...(s.capture && { capture: true }),
        ...(s.detail !== undefined && { detail: s.detail }),
        ...(s.durationMs !== undefined && { durationMs: s.durationMs }),
      })),
    })),
    artifacts: (i.artifacts ?? []).map((a) => ({
      name: a.name,
      step: a.step,
      at: iso(a.at),
      bytes: a.bytes,
      sha256: a.sha256,
      truncated: a.truncated,
      path: a.path,
      ...(a.excerpt !== undefined && { excerpt: a.excerpt }),
      download: `/api/incidents/${encodeURIComponent(i.id)}/artifacts/${encodeURIComponent(a.name)}`,
    })),
    notifications: i.notifications.map((n) => ({
      id: n.id,
      channel: n.channel,
      event: n.event,
      status: n.status,
      queuedAt: iso(n.queuedAt),
      ...(n.detail && { detail: n.detail }),
    })),
    timeline: i.timeline.map((r) => {
      // Notifications are listed above; their payloads would repeat the incident in every line.
      const { at, incident: _incident, ...rest } = r;
      const record =
        rest.type === "notification_queued"
          ? { type: rest.type, channel: rest.notification.channel, event: rest.notification.event }
          : rest;
      return { at: iso(at), text: describeRecord(r, i), ...record };
    }),
  };
}

// As the console reads it: the step by its 0-based index, and its name.
function approvalView(a: ApprovalState) {
  return {
    runId: a.runId,
    step: a.index,
    stepName: a.step,
    plan: a.plan,
    why: a.why,
    run: a.run,
    askedAt: iso(a.askedAt),
    expiresAt: iso(a.expiresAt),
    ...(a.answer && { answer: { ...a.answer, at: iso(a.answer.at) } }),
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
