import type { Incident } from "../incidents/types.js";
import type { Due } from "./policy.js";
import type { Notification } from "./types.js";

/** At most this many artifacts are named in a notification (the latest); the console lists them all. */
const MAX_ARTIFACTS = 10;

/** The notification for a due event, capturing the incident as it is now. Pure. */
export function buildNotification(
  incident: Incident,
  due: Due,
  now: number,
  linkBase?: string,
  affected: readonly string[] = [],
): Notification {
  const run = incident.runs[incident.runs.length - 1];
  const n = incident.notifications.filter((x) => x.channel === due.channel && x.event === due.event).length;
  return {
    id: `${incident.id}-${due.channel}-${due.event}-${n + 1}`,
    channel: due.channel,
    event: due.event,
    incident: incident.id,
    ...(due.key !== undefined && { key: due.key }),
    ...(due.escalation !== undefined && { escalation: due.escalation }),
    target: incident.target,
    kind: incident.kind,
    severity: incident.severity,
    state: incident.state,
    reason: due.reason,
    evidence: incident.evidence,
    openedAt: incident.openedAt,
    at: now,
    attempts: incident.runs.length,
    steps: (run?.steps ?? [])
      .filter((s) => s.status !== "pending")
      .map((s) => ({ name: s.name, outcome: s.status, detail: s.detail ?? "" })),
    ...(affected.length > 0 && { affected: [...affected] }),
    // A summary only: the content stays in the state dir, behind the console's link.
    ...(incident.artifacts?.length && {
      artifacts: incident.artifacts.slice(-MAX_ARTIFACTS).map((a) => ({ name: a.name, bytes: a.bytes, step: a.step })),
    }),
    ...(linkBase && { link: incidentLink(linkBase, incident.id) }),
    ...(incident.state === "awaiting_approval" &&
      incident.approval &&
      due.event === "trigger" && {
        approval: {
          step: incident.approval.step,
          why: incident.approval.why,
          plan: incident.approval.plan,
          expiresAt: incident.approval.expiresAt,
        },
      }),
  };
}

/**
 * The first line a message shows: what happened to which incident ("Resolved: P1 server_down on api",
 * "Approval needed: ...", "Medic's fix failed: ..."), the same on every channel.
 */
export function headlineOf(n: Notification, title = `${n.severity} ${n.kind} on ${n.target}`): string {
  if (n.event === "resolve") return `Resolved: ${title}`;
  if (n.event === "acknowledge") return `Acknowledged: ${title}`;
  if (n.approval) return `Approval needed: ${title}`;
  if (n.escalation) return `${upperFirst(gaveUp(n))}: ${title}`;
  return title;
}

function upperFirst(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** What the message about an escalation says first: medic tried and failed, or had nothing to try. */
export function gaveUp(n: Pick<Notification, "attempts">): string {
  return n.attempts > 0 ? "medic's fix failed" : "medic cannot fix it";
}

/** The incident's page in medic's console under `base` (notify.link): where it is read, acknowledged and approved. */
export function incidentLink(base: string, id: string): string {
  return `${base.replace(/\/+$/, "")}/#/incidents/${encodeURIComponent(id)}`;
}
