import type { Severity } from "../classify/types.js";
import { lastRun } from "../incidents/fold.js";
import type { Incident } from "../incidents/types.js";
import { formatDuration } from "../lib/duration.js";
import { AlertLedger } from "./alerts.js";
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
  P2: [
    { afterMs: 0, notify: ["slack"] },
    { afterMs: 30 * 60_000, notify: ["pagerduty"] },
  ],
  P3: [{ afterMs: 0, notify: ["slack"] }],
  P4: [{ afterMs: 0, notify: ["console"] }],
};

/** One notification the policy says is owed now. */
export interface Due {
  channel: string;
  event: NotificationEvent;
  reason: string;
  /** The alert it is about on the channel, when that is not the incident id (see alerts.ts). */
  key?: string;
  /** The escalation a trigger answers (1 = the incident's first). */
  escalation?: number;
}

/** What the policy needs to know about the configured channels. */
export interface ChannelFacts {
  /** Configured channels and the events each acts on. */
  accepts: ReadonlyMap<string, ReadonlySet<NotificationEvent>>;
  /** Channels that get an acknowledge when a playbook starts on an incident they were told of. */
  acknowledgeOnRemediation: ReadonlySet<string>;
  /** Channels that wake people (PagerDuty): held in the grace period, not paged again once a person has the incident. */
  pages?: ReadonlySet<string>;
}

/** How the timing of pages is tuned. */
export interface PolicyOptions {
  /** How long a page (on a channel that pages) waits while a playbook works on the incident; 0 pages at once. */
  pageGraceMs?: number;
}

/** States in which a playbook is working on the incident, or is about to (open lasts until it is planned). */
const WORKING = new Set(["open", "remediating", "verifying"]);

/**
 * The notifications owed for an incident at `now`: what its policy's steps (routed for its current
 * severity, see route.ts) ask for minus what the journal says was already queued. Pure, and derived
 * from the journal alone, so timers survive a restart and nothing is owed twice.
 * - Open: each timed step's channels are told once; with a grace, a page waits while a playbook works.
 *   Until a person acknowledges, later steps keep coming due (the runbook's climb from the on-call to
 *   the team lead and on); an acknowledgement stops the climb.
 * - Escalated (medic gave up), or awaiting a person's approval: once per escalation or question, with
 *   the reason, every channel of the steps due so far hears (the first step's when none is due yet),
 *   and the first step that pages is brought forward when none of those pages (a P2's page, due at 30 min, comes at once). Later steps still
 *   climb on their own time. A page medic itself acknowledged goes to a new alert, which rings, and the
 *   old one is resolved; once a person acknowledged the incident, nobody more is paged, but the rest still hear.
 * - Resolved: every alert still open on every channel gets its resolve.
 * Channels not configured are skipped; a step with none configured goes to the console (the log) instead.
 */
export function dueNotifications(
  incident: Incident,
  steps: readonly PolicyStep[],
  channels: ChannelFacts,
  now: number,
  options: PolicyOptions = {},
): Due[] {
  const ledger = new AlertLedger(incident);
  const accepts = (channel: string, event: NotificationEvent) => channels.accepts.get(channel)?.has(event) ?? false;
  const pages = (channel: string) => channels.pages?.has(channel) ?? false;

  if (incident.state === "resolved") {
    const reason = lastOf(incident, "resolved")?.reason ?? "resolved";
    return ledger
      .channelsWithOpen()
      .filter((c) => accepts(c, "resolve"))
      .flatMap((channel) => ledger.open(channel).map((a) => withKey({ channel, event: "resolve", reason }, a.key, incident)));
  }
  // A suppressed incident is its dependency's consequence: the root incident's notifications name it.
  if (incident.state === "suppressed") return [];

  const due: Due[] = [];
  const ack = incident.acknowledged;
  if (ack) {
    // A person has it: channels that track alerts hear so, and nobody more is paged.
    const reason = `acknowledged by ${ack.by}${ack.note ? `: ${ack.note}` : ""}`;
    for (const channel of ledger.channelsWithOpen().filter((c) => accepts(c, "acknowledge"))) {
      for (const a of ledger.open(channel).filter((x) => !x.acknowledged)) {
        due.push(withKey({ channel, event: "acknowledge", reason }, a.key, incident));
      }
    }
  }

  if (incident.state === "escalated" || incident.state === "awaiting_approval") {
    due.push(...answerEscalation(incident, steps, ledger, accepts, pages, now, ack !== undefined));
  }
  if (!ack) due.push(...timedSteps(incident, steps, ledger, accepts, pages, now, options.pageGraceMs ?? 0, due));

  const run = lastRun(incident);
  if (!ack && run && run.endedAt === undefined) {
    // Paged before the playbook started: the alert is acknowledged while it works, so it stops ringing.
    for (const channel of channels.acknowledgeOnRemediation) {
      const current = ledger.current(channel);
      if (!current || current.resolved || current.acknowledged || !accepts(channel, "acknowledge")) continue;
      if (current.triggeredAt > run.startedAt) continue; // paged while it works (a grace ran out): it must ring
      due.push(withKey({ channel, event: "acknowledge", reason: `playbook ${run.playbook} is working on it` }, current.key, incident));
    }
  }

  // An alert superseded by a new one is resolved right after the new one is triggered: one open alert per incident.
  for (const channel of ledger.channelsWithOpen()) {
    if (!accepts(channel, "resolve")) continue;
    const latest = due.findLast((d) => d.channel === channel && d.event === "trigger");
    const currentKey = latest ? (latest.key ?? incident.id) : ledger.current(channel)?.key;
    const reason = `superseded by a new page (${currentKey}): medic could not fix it`;
    for (const a of ledger.open(channel))
      if (a.key !== currentKey) due.push(withKey({ channel, event: "resolve", reason }, a.key, incident));
  }
  return due;
}

// Timed steps of an incident that has not escalated: each channel is told once, when its step is due.
function timedSteps(
  incident: Incident,
  steps: readonly PolicyStep[],
  ledger: AlertLedger,
  accepts: (c: string, e: NotificationEvent) => boolean,
  pages: (c: string) => boolean,
  now: number,
  graceMs: number,
  already: readonly Due[],
): Due[] {
  const due: Due[] = [];
  const age = now - incident.openedAt;
  const holding = graceMs > 0 && WORKING.has(incident.state);
  const run = lastRun(incident);
  for (const step of steps) {
    if (step.afterMs > age) continue;
    const held: string[] = [];
    const owed: string[] = [];
    for (const channel of usableChannels(step, accepts)) {
      if (ledger.triggered(channel) || due.some((d) => d.channel === channel) || already.some((d) => d.channel === channel)) continue;
      if (pages(channel) && holding && age < step.afterMs + graceMs) held.push(channel);
      else owed.push(channel);
    }
    const reason =
      (step.afterMs === 0 ? "opened" : `still open after ${formatDuration(step.afterMs)}`) +
      (held.length > 0 ? `; ${held.join(", ")} held for up to ${formatDuration(graceMs)} while medic tries to fix it` : "");
    const late = `still not fixed after the ${formatDuration(graceMs)} grace${run ? ` (playbook ${run.playbook} is still working)` : ""}`;
    for (const channel of owed) due.push({ channel, event: "trigger", reason: pages(channel) && holding ? late : reason });
  }
  return due;
}

// Medic gave up: the steps due so far hear, and the first page is brought forward, once per escalation.
// A page medic acknowledged itself cannot ring again under its key, so it goes to a new one (its old
// alert is resolved after it).
function answerEscalation(
  incident: Incident,
  steps: readonly PolicyStep[],
  ledger: AlertLedger,
  accepts: (c: string, e: NotificationEvent) => boolean,
  pages: (c: string) => boolean,
  now: number,
  acknowledged: boolean,
): Due[] {
  // A question for an approver is told like an escalation: every channel hears it once, with the plan.
  const escalated = incident.timeline.filter((r) => r.type === "escalated" || r.type === "approval_requested");
  const n = escalated.length;
  const last = escalated[n - 1];
  const reason =
    last?.type === "approval_requested"
      ? `awaiting approval of step ${last.index + 1} (${last.step}): ${last.why}`
      : `escalated: ${last?.type === "escalated" ? last.reason : "remediation failed"}`;
  const due: Due[] = [];
  // The rungs due when medic gave up (or asked); later ones climb on their own time (timedSteps).
  const age = (last?.at ?? now) - incident.openedAt;
  const dueNow = steps.filter((step) => step.afterMs <= age).flatMap((step) => usableChannels(step, accepts));
  // Nobody due yet (the first step waits a minute): medic giving up is news now, so the first step is brought forward.
  const first = steps.reduce<PolicyStep | undefined>((a, b) => (a && a.afterMs <= b.afterMs ? a : b), undefined);
  const reached = dueNow.length > 0 || !first ? dueNow : usableChannels(first, accepts);
  const firstPage = reached.some(pages)
    ? []
    : (steps.map((step) => usableChannels(step, accepts).filter(pages)).find((c) => c.length) ?? []);
  for (const channel of new Set([...reached, ...firstPage])) {
    if (ledger.answered(channel, n) || (pages(channel) && acknowledged)) continue;
    const current = ledger.current(channel);
    const key = !current ? ledger.nextKey(channel) : current.acknowledged || current.resolved ? ledger.nextKey(channel) : current.key;
    due.push(withKey({ channel, event: "trigger", reason, escalation: n }, key, incident));
  }
  return due;
}

// A step none of whose channels is configured still reaches someone: the log.
function usableChannels(step: PolicyStep, accepts: (c: string, e: NotificationEvent) => boolean): string[] {
  const usable = step.notify.filter((c) => accepts(c, "trigger"));
  return usable.length > 0 ? usable : accepts("console", "trigger") ? ["console"] : [];
}

function withKey(due: Due, key: string, incident: Incident): Due {
  return key === incident.id ? due : { ...due, key };
}

function lastOf(incident: Incident, type: "resolved" | "escalated") {
  const r = incident.timeline.findLast((x) => x.type === type);
  return r?.type === type ? r : undefined;
}
