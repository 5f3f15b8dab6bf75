import type { Action, Verdict } from "../gate/types.js";
import { SELF_PAGE_KIND, type Notifier } from "./types.js";

/**
 * The notifier with the action gate before every send: the gate lets it go once what announced it
 * is durable, or refuses (medic may no longer act), and then the notification stays owed.
 */
export function gated(notifier: Notifier, gate: { allow(action: Action): Promise<Verdict> }): Notifier {
  return {
    ...notifier,
    send: async (n, signal) => {
      // A page about medic itself (not journaled: see Escalations.pageSelf) is asked for as what it is.
      const action: Action =
        n.kind === SELF_PAGE_KIND
          ? { kind: "announce", channel: n.channel, what: "page about medic itself" }
          : { kind: "notify", incident: n.incident, channel: n.channel, event: n.event };
      const verdict = await gate.allow(action);
      if (!verdict.allow) return { ok: false, retry: true, reason: "rejected", detail: `not sent: ${verdict.reason}` };
      return notifier.send(n, signal);
    },
  };
}
