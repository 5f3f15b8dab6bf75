import type { Incident } from "../incidents/types.js";

/** Why humans are told about an incident. */
export type NotificationEvent = "escalated" | "resolved";

/** One message owed to humans about an incident. */
export interface Notification {
  event: NotificationEvent;
  incident: Incident;
  /** Why: the escalation reason, or how it resolved. */
  reason: string;
}

/** A channel to humans (console now; Slack and PagerDuty plug in here). */
export interface Notifier {
  name: string;
  send(notification: Notification, signal: AbortSignal): Promise<void>;
}
