import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Severity } from "../classify/types.js";
import { gaveUp } from "./build.js";
import type { Notification, SendResult } from "./types.js";

// PagerDuty Events API v2, both ways and pure: the event object medic sends and what a reply means.
// https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
// https://developer.pagerduty.com/docs/events-api-v2/overview/#response-codes--retry-logic

/** PagerDuty's limits on one event, as the Events API v2 documents them. */
export const PAGERDUTY_LIMITS = { dedupKeyChars: 255, summaryChars: 1024, eventBytes: 512 * 1024 } as const;

/** medic severity -> PagerDuty payload.severity. */
export const PAGERDUTY_SEVERITY: Readonly<Record<Severity, "critical" | "error" | "warning" | "info">> = {
  P1: "critical",
  P2: "error",
  P3: "warning",
  P4: "info",
};

/** One Events API v2 event: a trigger carries a payload, acknowledge and resolve only name the alert. */
export interface PagerDutyEvent {
  routing_key: string;
  event_action: "trigger" | "acknowledge" | "resolve";
  dedup_key: string;
  client?: string;
  client_url?: string;
  payload?: {
    summary: string;
    source: string;
    severity: "critical" | "error" | "warning" | "info";
    timestamp?: string;
    component: string;
    group: string;
    class: string;
    custom_details: {
      evidence: string;
      reason: string;
      state: string;
      attempts: number;
      affected?: string[];
      /** Evidence medic kept: names and sizes, never content (the link leads to it). */
      artifacts?: { name: string; bytes: number; step: string }[];
      steps: StepDetail[];
      steps_omitted?: number;
    };
  };
  links?: { href: string; text: string }[];
}

type StepDetail = { name: string; outcome: string; detail: string };

// Per-field caps keep one wild value (a huge health body in evidence) from crowding out the rest.
const EVIDENCE_CHARS = 16_384;
const TEXT_CHARS = 1024;
const STEP_DETAIL_CHARS = 4096;
const LINK_CHARS = 2048;
// Room for what the budget arithmetic does not count exactly (commas, brackets, steps_omitted).
const SLACK_BYTES = 1024;
const SPACES = /[\s\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/** The event for a notification, within PagerDuty's limits; untrusted text stays JSON text. */
export function buildPagerDutyEvent(n: Notification, opts: { routingKey: string; source: string }): PagerDutyEvent {
  const base = { routing_key: opts.routingKey, event_action: n.event, dedup_key: dedupKey(n.key ?? n.incident) };
  if (n.event !== "trigger") return base;
  const severity = PAGERDUTY_SEVERITY[n.severity] ?? "critical";
  const headline = `${n.severity} ${n.kind} on ${n.target}${n.approval ? " (approval needed)" : n.escalation ? ` (${gaveUp(n)})` : ""}`;
  const summary = cut(`${headline}: ${n.evidence}`.replace(SPACES, " ").trim(), PAGERDUTY_LIMITS.summaryChars);
  const opened = new Date(n.openedAt);
  const link = n.link ? cut(n.link, LINK_CHARS) : undefined;
  const event: PagerDutyEvent = {
    ...base,
    client: "medic",
    ...(link && { client_url: link }),
    payload: {
      summary,
      source: cut(opts.source, TEXT_CHARS),
      severity,
      ...(Number.isFinite(opened.getTime()) && { timestamp: opened.toISOString() }),
      component: cut(n.target, TEXT_CHARS),
      group: cut(n.target, TEXT_CHARS),
      class: cut(n.kind, TEXT_CHARS),
      custom_details: {
        evidence: cut(n.evidence, EVIDENCE_CHARS),
        reason: cut(n.reason, TEXT_CHARS),
        state: cut(n.state, TEXT_CHARS),
        attempts: n.attempts,
        ...(n.affected && n.affected.length > 0 && { affected: n.affected.slice(0, 100).map((t) => cut(t, TEXT_CHARS)) }),
        ...(n.artifacts &&
          n.artifacts.length > 0 && {
            artifacts: n.artifacts
              .slice(0, 20)
              .map((a) => ({ name: cut(a.name, TEXT_CHARS), bytes: a.bytes, step: cut(a.step, TEXT_CHARS) })),
          }),
        ...(n.approval && {
          approval: {
            step: cut(n.approval.step, TEXT_CHARS),
            why: cut(n.approval.why, TEXT_CHARS),
            until: new Date(n.approval.expiresAt).toISOString(),
            plan: n.approval.plan.slice(0, 40).map((l) => cut(l, TEXT_CHARS)),
          },
        }),
        steps: [],
      },
    },
    ...(link && { links: [{ href: link, text: "incident in medic" }] }),
  };
  fitSteps(
    event,
    n.steps.map((s) => ({ name: cut(s.name, TEXT_CHARS), outcome: cut(s.outcome, TEXT_CHARS), detail: cut(s.detail, STEP_DETAIL_CHARS) })),
  );
  return event;
}

/** Bytes of the event as sent. */
export function eventBytes(event: PagerDutyEvent): number {
  return Buffer.byteLength(JSON.stringify(event));
}

/** The incident id as a dedup_key: itself when short enough, else a prefix plus a hash, so distinct ids stay distinct. */
export function dedupKey(incident: string): string {
  if (incident.length <= PAGERDUTY_LIMITS.dedupKeyChars) return incident;
  const hash = createHash("sha256").update(incident).digest("hex").slice(0, 16);
  return `${cut(incident, PAGERDUTY_LIMITS.dedupKeyChars - 17, "")}-${hash}`;
}

// Keeps the latest steps that fit: they say what was tried last, which is what the responder needs.
function fitSteps(event: PagerDutyEvent, steps: StepDetail[]): void {
  const details = event.payload!.custom_details;
  let budget = PAGERDUTY_LIMITS.eventBytes - SLACK_BYTES - eventBytes(event);
  const kept: StepDetail[] = [];
  for (let i = steps.length - 1; i >= 0; i--) {
    const size = Buffer.byteLength(JSON.stringify(steps[i])) + 1;
    if (size > budget) break;
    budget -= size;
    kept.unshift(steps[i]!);
  }
  details.steps = kept;
  if (kept.length < steps.length) details.steps_omitted = steps.length - kept.length;
}

/** `text` cut to `max` UTF-16 units with a trailing `…`, never splitting a surrogate pair. */
export function cut(text: string, max: number, ellipsis = "…"): string {
  if (text.length <= max) return text;
  let end = max - ellipsis.length;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return text.slice(0, end) + ellipsis;
}

/** A reply as the notifier saw it; `unreadable` when the body was not JSON (a proxy's HTML page) or was cut. */
export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
  unreadable?: boolean;
}

const MAX_RETRY_AFTER_MS = 3_600_000;
const REPLY_TEXT_CHARS = 500;

/** What a reply from `server` means for delivery: accepted, worth retrying, or a configuration problem. */
export function readPagerDutyReply(reply: Reply, server: string, now = Date.now()): SendResult {
  const { status } = reply;
  const said = reply.unreadable ? "" : replyText(reply.body);
  const fail = (retry: boolean, reason: Exclude<SendResult, { ok: true }>["reason"], detail: string): SendResult => ({
    ok: false,
    retry,
    reason,
    detail: said ? `${detail}: ${said}` : detail,
  });
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(reply.headers["retry-after"], now);
    return {
      ...fail(true, "rate_limited", "PagerDuty is throttling events (HTTP 429)"),
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    };
  }
  if (status === 400 || status === 413) return fail(false, "bad_request", `PagerDuty rejected the event (HTTP ${status})`);
  if (status === 401 || status === 403)
    return fail(false, "unauthorized", `PagerDuty refused the routing key (HTTP ${status}); check notify.pagerduty.routingKey`);
  if (status === 404) return fail(false, "not_found", `no Events API v2 at ${server} (HTTP 404); check notify.pagerduty.server`);
  if (status >= 400 && status < 500) return fail(false, "rejected", `PagerDuty refused the event (HTTP ${status})`);
  if (reply.unreadable) {
    return fail(true, "bad_reply", `${server} answered HTTP ${status} with a body that is not PagerDuty's JSON (a proxy in the way?)`);
  }
  if (status >= 200 && status < 300) return { ok: true, detail: `accepted (HTTP ${status})` };
  if (status >= 500) return fail(true, "server_error", `PagerDuty failed (HTTP ${status})`);
  return fail(true, "bad_reply", `${server} answered HTTP ${status}, which the Events API never does`);
}

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP date, capped at an hour. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  const ms = /^\d+(?:\.\d+)?$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(0, Math.round(ms)), MAX_RETRY_AFTER_MS) : undefined;
}

// PagerDuty says why in `message` and `errors`; both are the receiver's text, so cut and flattened.
function replyText(body: unknown): string {
  if (typeof body !== "object" || body === null) return "";
  const { message, errors } = body as { message?: unknown; errors?: unknown };
  const parts = [
    typeof message === "string" ? message : "",
    ...(Array.isArray(errors) ? errors.map((e) => (typeof e === "string" ? e : JSON.stringify(e))) : []),
  ];
  return cut(parts.filter(Boolean).join("; ").replace(SPACES, " ").trim(), REPLY_TEXT_CHARS);
}
