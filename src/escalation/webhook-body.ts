import { createHmac } from "node:crypto";
import type { Severity } from "../classify/types.js";
import type { Notification, NotificationEvent } from "./types.js";

// The `webhook` channel's body, version 1: documented in docs/webhook.md, its JSON Schema in
// docs/webhook-v1.schema.json (webhook-body.test.ts checks built bodies against that file). Adding
// an optional field is compatible; renaming, removing or retyping one is version 2.

/** The schema version in every body; a receiver refuses versions it does not know. */
export const WEBHOOK_VERSION = 1;

/** What ends a text cut short to fit the body's limits. */
export const WEBHOOK_TRUNCATED = "…(truncated)";

/** Limits on one body: its size in bytes, and how many items each list keeps. */
export const WEBHOOK_LIMITS = {
  bodyBytes: 256 * 1024,
  steps: 50,
  affected: 200,
  artifacts: 100,
  planLines: 100,
} as const;

/** One step in a body. */
export interface WebhookStep {
  name: string;
  outcome: string;
  detail: string;
}

/** The JSON body POSTed for one notification (schema version 1). */
export interface WebhookBody {
  version: 1;
  id: string;
  channel: string;
  event: NotificationEvent;
  incident: string;
  key: string;
  target: string;
  kind: string;
  severity: Severity;
  state: string;
  reason: string;
  evidence: string;
  openedAt: string | null;
  at: string | null;
  attempts: number;
  steps: WebhookStep[];
  stepsOmitted: number;
  affected: string[];
  link: string | null;
  approval: { step: string; why: string; plan: string[]; expiresAt: string | null } | null;
  artifacts: { name: string; bytes: number; step: string }[];
  escalation: number | null;
  truncated: boolean;
}

// Per-field caps in characters, before the size check: one wild value (a huge health body in the
// evidence) must not crowd out the rest. Halved until the whole body fits `bodyBytes`.
const FIELD_CHARS = { name: 512, reason: 4096, evidence: 32_768, stepDetail: 4096, link: 2048, planLine: 1024 } as const;

/** The body for a notification, within WEBHOOK_LIMITS.bodyBytes; text is sent as JSON text, unescaped for any markup. */
export function buildWebhookBody(n: Notification): WebhookBody {
  for (let scale = 1; ; scale *= 2) {
    const body = buildAt(n, scale);
    if (webhookBodyBytes(body) <= WEBHOOK_LIMITS.bodyBytes || scale >= 1024) return body;
  }
}

/** The size in bytes of a body as it is sent. */
export function webhookBodyBytes(body: WebhookBody): number {
  return Buffer.byteLength(JSON.stringify(body), "utf8");
}

/** The x-medic-signature header: "v1=" + hex HMAC-SHA256 over "<unix seconds>.<raw body>", as Stripe and Slack sign. */
export function signWebhook(secret: string, timestampSec: number, rawBody: string): string {
  return `v1=${createHmac("sha256", secret).update(`${timestampSec}.${rawBody}`, "utf8").digest("hex")}`;
}

/** Cuts text to at most `max` characters, the last ones being the marker; never half a surrogate pair. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  return text.slice(0, Math.max(0, max - WEBHOOK_TRUNCATED.length)).replace(/[\ud800-\udbff]$/, "") + WEBHOOK_TRUNCATED;
}

function buildAt(n: Notification, scale: number): WebhookBody {
  let truncated = false;
  const cut = (text: unknown, max: number): string => {
    const value = typeof text === "string" ? text : String(text ?? "");
    const out = cutText(value, Math.max(64, Math.floor(max / scale)));
    if (out !== value) truncated = true;
    return out;
  };
  const keep = <T>(items: readonly T[] | undefined, max: number): T[] => {
    const list = items ?? [];
    if (list.length > max) truncated = true;
    return list.slice(0, max);
  };
  const steps = n.steps ?? [];
  const body: WebhookBody = {
    version: WEBHOOK_VERSION,
    // Identities are never cut: a receiver dedups and correlates on them (medic makes them short).
    id: n.id,
    channel: n.channel,
    event: n.event,
    incident: n.incident,
    key: n.key ?? n.incident,
    target: cut(n.target, FIELD_CHARS.name),
    kind: cut(n.kind, FIELD_CHARS.name),
    severity: n.severity,
    state: cut(n.state, FIELD_CHARS.name),
    reason: cut(n.reason, FIELD_CHARS.reason),
    evidence: cut(n.evidence, FIELD_CHARS.evidence),
    openedAt: isoTime(n.openedAt),
    at: isoTime(n.at),
    attempts: n.attempts,
    steps: keep(steps, WEBHOOK_LIMITS.steps).map((s) => ({
      name: cut(s.name, FIELD_CHARS.name),
      outcome: cut(s.outcome, FIELD_CHARS.name),
      detail: cut(s.detail, FIELD_CHARS.stepDetail),
    })),
    stepsOmitted: Math.max(0, steps.length - WEBHOOK_LIMITS.steps),
    affected: keep(n.affected, WEBHOOK_LIMITS.affected).map((t) => cut(t, FIELD_CHARS.name)),
    link: n.link ? cut(n.link, FIELD_CHARS.link) : null,
    approval: n.approval
      ? {
          step: cut(n.approval.step, FIELD_CHARS.name),
          why: cut(n.approval.why, FIELD_CHARS.reason),
          plan: keep(n.approval.plan, WEBHOOK_LIMITS.planLines).map((line) => cut(line, FIELD_CHARS.planLine)),
          expiresAt: isoTime(n.approval.expiresAt),
        }
      : null,
    artifacts: keep(n.artifacts, WEBHOOK_LIMITS.artifacts).map((a) => ({
      name: cut(a.name, FIELD_CHARS.name),
      bytes: a.bytes,
      step: cut(a.step, FIELD_CHARS.name),
    })),
    escalation: n.escalation ?? null,
    truncated: false,
  };
  // A link cut short leads nowhere: better none, and the receiver knows something was cut.
  if (body.link?.endsWith(WEBHOOK_TRUNCATED)) body.link = null;
  body.truncated = truncated;
  return body;
}

function isoTime(ms: number): string | null {
  // toISOString throws outside ±8.64e15 ms; a journal entry from a bug must not break the body.
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : null;
}
