import type { Action, Verdict } from "../gate/types.js";
import type { Notifier } from "./types.js";

/**
 * The notifier with the action gate before every send: the gate lets it go once what announced it
 * is durable, or refuses (medic may no longer act), and then the notification stays owed.
 */
export function gated(notifier: Notifier, gate: { allow(action: Action): Promise<Verdict> }): Notifier {
  return {
    ...notifier,
    send: async (n, signal) => {
      const verdict = await gate.allow({ kind: "notify", incident: n.incident, channel: n.channel, event: n.event });
      if (!verdict.allow) return { ok: false, retry: true, reason: "rejected", detail: `not sent: ${verdict.reason}` };
      return notifier.send(n, signal);
    },
  };
}
