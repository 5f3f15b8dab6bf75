import type { Severity } from "../classify/types.js";
import type { Incident } from "../incidents/types.js";
import { formatDuration } from "../lib/duration.js";
import type { NotificationEvent } from "./types.js";

/** Tell these channels once the incident has been open this long. */
export interface PolicyStep {
  afterMs: number;
  notify: string[];
}

/** Per severity, the timed steps of who hears about an open incident. */
export type EscalationPolicy = Record<Severity, PolicyStep[]>;

/** The runbook's severities: P1 pages at once; P2 is Slack, paged after 30 min; P3 Slack; P4 the log. */
export const DEFAULT_POLICY: EscalationPolicy = {
  P1: [{ afterMs: 0, notify: ["pagerduty", "slack"] }],
  P2: [{ afterMs: 0, notify: ["slack"] }, { afterMs: 30 * 60_000, notify: ["pagerduty"] }],
  P3: [{ afterMs: 0, notify: ["slack"] }],
  P4: [{ afterMs: 0, notify: ["console"] }],
};

/** One notification the policy says is owed now. */
export interface Due {
  channel: string;
  event: NotificationEvent;
  reason: string;
}

/** What the policy needs to know about the configured channels. */
export interface ChannelFacts {
  /** Configured channels and the events each acts on. */
  accepts: ReadonlyMap<string, ReadonlySet<NotificationEvent>>;
  /** Channels that get an acknowledge when a playbook starts on an incident they were told of. */
  acknowledgeOnRemediation: ReadonlySet<string>;
}

/**
 * The notifications owed for an incident at `now`: what the policy asks for minus what the
 * journal says was already queued. Pure, and derived from the journal alone, so timers survive a
 * restart. An escalated incident is owed every step of its severity at once; a resolved one owes a
 * resolve to every channel that was triggered. Channels not configured are skipped; a step with
 * none configured goes to the console (the log) instead.
 */
export function dueNotifications(incident: Incident, policy: EscalationPolicy, channels: ChannelFacts, now: number): Due[] {
  const sent = (event: NotificationEvent) => new Set(incident.notifications.filter((n) => n.event === event).map((n) => n.channel));
  const triggered = sent("trigger");
  const accepts = (channel: string, event: NotificationEvent) => channels.accepts.get(channel)?.has(event) ?? false;

  if (incident.state === "resolved") {
    const resolved = sent("resolve");
    const reason = lastReason(incident, "resolved") ?? "resolved";
    return [...triggered].filter((c) => !resolved.has(c) && accepts(c, "resolve")).map((channel) => ({ channel, event: "resolve", reason }));
  }

  // A suppressed incident is its dependency's consequence: the root incident's notifications name it.
  if (incident.state === "suppressed") return [];
  const due: Due[] = [];
  const escalated = incident.state === "escalated";
  const age = now - incident.openedAt;
  // Acknowledged: a person has it. Channels that track incidents hear so; nobody more is paged.
  const ack = incident.acknowledged;
  if (ack) {
    const acked = sent("acknowledge");
    for (const channel of triggered) {
      if (!acked.has(channel) && accepts(channel, "acknowledge")) due.push({ channel, event: "acknowledge", reason: `acknowledged by ${ack.by}${ack.note ? `: ${ack.note}` : ""}` });
    }
    return due;
  }
  for (const step of policy[incident.severity] ?? []) {
    if (!escalated && step.afterMs > age) continue;
    const reason = escalated
      ? `escalated: ${lastReason(incident, "escalated") ?? "remediation failed"}`
      : step.afterMs === 0 ? "opened" : `still open after ${formatDuration(step.afterMs)}`;
    // A step none of whose channels is configured still reaches someone: the log.
    const usable = step.notify.filter((c) => accepts(c, "trigger"));
    for (const channel of usable.length > 0 ? usable : ["console"]) {
      if (triggered.has(channel) || !accepts(channel, "trigger") || due.some((d) => d.channel === channel)) continue;
      due.push({ channel, event: "trigger", reason });
    }
  }

  const run = incident.runs[incident.runs.length - 1];
  if (run) {
    const acked = sent("acknowledge");
    for (const n of incident.notifications) {
      if (n.event !== "trigger" || n.queuedAt > run.startedAt || acked.has(n.channel)) continue;
      if (!channels.acknowledgeOnRemediation.has(n.channel) || !accepts(n.channel, "acknowledge")) continue;
      due.push({ channel: n.channel, event: "acknowledge", reason: `playbook ${run.playbook} is working on it` });
    }
  }
  return due;
}

function lastReason(incident: Incident, type: "resolved" | "escalated"): string | undefined {
  for (let i = incident.timeline.length - 1; i >= 0; i--) {
    const r = incident.timeline[i]!;
    if (r.type === type) return r.reason;
  }
  return undefined;
}
