import { z } from "zod";
import type { ChannelKind } from "./channel.js";
import type { NotificationEvent } from "./types.js";

const schema = z
  .strictObject({})
  .nullish()
  .transform(() => ({}))
  .meta({ description: "No parameters: notifications go to medic's log" });
const EVENTS: ReadonlySet<NotificationEvent> = new Set(["trigger", "acknowledge", "resolve"]);

/** `console`: notifications as log lines, the channel every medic has (demos, dry-run, P4). */
export const consoleChannel: ChannelKind<typeof schema> = {
  schema,
  create(_params, ctx) {
    return {
      name: ctx.name,
      accepts: EVENTS,
      async send(n) {
        const fields = {
          incident: n.incident,
          ...(n.key && { key: n.key }),
          target: n.target,
          kind: n.kind,
          severity: n.severity,
          event: n.event,
          reason: n.reason,
          evidence: n.evidence,
        };
        if (n.event === "trigger" && n.escalation) ctx.log.warn(fields, "notify: medic gave up; incident needs attention");
        else if (n.event === "trigger") ctx.log.warn(fields, "notify: incident needs attention");
        else if (n.event === "acknowledge") ctx.log.info(fields, "notify: incident acknowledged");
        else ctx.log.info(fields, "notify: incident resolved");
        return { ok: true };
      },
      async announce(text) {
        ctx.log.warn({ announcement: text }, "notify: announcement");
        return { ok: true };
      },
    };
  },
};
