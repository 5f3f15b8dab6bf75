import type { Notification } from "./types.js";

/** What a notification about a broken channel starts with; such a message is news of its own and is never collapsed. */
export const CHANNEL_TROUBLE = "could not notify";

/**
 * Whether `later`, queued behind `earlier` for the same alert (incident, channel and key), makes
 * sending `earlier` pointless; `pages` says the channel wakes people (PagerDuty). Pure.
 * - An acknowledge followed by a resolve: nobody needs to hear it is handled once it is over.
 * - A trigger followed by a trigger: one alert either way, and the later one says more.
 * - On a message stream (Slack, the log), a trigger followed by the resolve: the resolve shows what
 *   broke, when and what was done. A page is never dropped: it is the on-call's record.
 * A message about a broken channel is neither dropped nor drops anything.
 */
export function supersedes(later: Notification, earlier: Notification, pages: boolean): boolean {
  if (later.incident !== earlier.incident || later.channel !== earlier.channel || keyOf(later) !== keyOf(earlier)) return false;
  if (earlier.event === "acknowledge") return later.event === "resolve";
  if (earlier.event !== "trigger" || isChannelTrouble(earlier) || isChannelTrouble(later)) return false;
  return later.event === "trigger" || (later.event === "resolve" && !pages);
}

/** The alert a notification is about on its channel: its key, else its incident. */
export function keyOf(n: Pick<Notification, "key" | "incident">): string {
  return n.key ?? n.incident;
}

function isChannelTrouble(n: Notification): boolean {
  return n.reason.startsWith(CHANNEL_TROUBLE);
}
