import type { Severity } from "../classify/types.js";

/** What a notification does on its channel: raise the alert, say work is under way, or clear it. */
export type NotificationEvent = "trigger" | "acknowledge" | "resolve";

/** The kind of a page about medic itself (its state dir, its cluster's store): sent straight, never journaled. */
export const SELF_PAGE_KIND = "medic_trouble";

/** A step that ran, as a notification shows it. */
export interface NotifiedStep {
  name: string;
  outcome: string;
  detail: string;
}

/**
 * One message owed to humans, with everything it says captured when it was queued: the journal
 * keeps it, so a restarted daemon sends exactly what was owed. Holds no secret (no URL, no key).
 */
export interface Notification {
  /** Unique per notification; a receiver-side retry key where the channel has one. */
  id: string;
  /** The channel's name in config: "slack", "pagerduty", "console". */
  channel: string;
  event: NotificationEvent;
  /** The incident id: Slack's reference, and PagerDuty's dedup_key unless `key` says otherwise. */
  incident: string;
  /**
   * The alert on the channel this is about (PagerDuty's dedup_key); the incident id when unset. An
   * incident gets a second key when medic acknowledged its page and then gave up: see alerts.ts.
   */
  key?: string;
  /** Which of the incident's escalations (1 = the first) this trigger answers: medic gave up, and says so. */
  escalation?: number;
  target: string;
  kind: string;
  severity: Severity;
  /** The incident's state when queued: open, remediating, escalated, resolved, ... */
  state: string;
  /** Why now: "opened", "not fixed after 30m", "verification failed: ...", "recovered". */
  reason: string;
  /** One line, sanitised: what was seen. */
  evidence: string;
  openedAt: number;
  /** When it was queued. */
  at: number;
  /** Playbook runs so far. */
  attempts: number;
  steps: NotifiedStep[];
  /** Targets whose incidents are suppressed under this one (their dependency broke). */
  affected?: string[];
  /** A link to the incident's page in medic's console, when notify.link is set. */
  link?: string;
  /** Evidence capture steps kept before the fix, as a summary (never the content): read it through `link`. */
  artifacts?: { name: string; bytes: number; step: string }[];
  /** medic waits for a person to approve a step: what would run, as `medic plan` shows it, and until when. */
  approval?: { step: string; why: string; plan: string[]; expiresAt: number };
}

/** Why a send failed, as a metric label: what kind of trouble, and whether waiting can help. */
export type FailureReason =
  | "rate_limited"
  | "server_error"
  | "timeout"
  | "network"
  | "bad_reply" // retryable
  | "bad_request"
  | "not_found"
  | "unauthorized"
  | "rejected"; // not retryable: configuration

/** The outcome of one delivery attempt. A notifier never throws. */
export type SendResult =
  { ok: true; detail?: string } | { ok: false; retry: boolean; reason: FailureReason; detail: string; retryAfterMs?: number };

/**
 * A channel to humans. It only formats and sends: retries, ordering, the circuit breaker and
 * durability are the outbox's. Secrets (webhook URLs, routing keys) never appear in `detail`.
 */
export interface Notifier {
  name: string;
  /** Which events the channel acts on; others are skipped (Slack has no acknowledge). */
  accepts: ReadonlySet<NotificationEvent>;
  /**
   * Wakes people: an alert per key that rings until a person acknowledges it (PagerDuty). Held in a
   * grace period, not paged again once a person has the incident, and never collapsed away by the
   * outbox. Unset for a message stream (Slack, the log).
   */
  pages?: boolean;
  send(notification: Notification, signal: AbortSignal): Promise<SendResult>;
  /** Tells the channel something about medic itself (a pause ended); channels without a room for that leave it out. */
  announce?(text: string, signal: AbortSignal): Promise<SendResult>;
}
