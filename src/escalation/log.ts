import type { Logger } from "pino";
import type { Notifier } from "./types.js";

/** Tells humans through the log: the channel every medic has, before Slack and PagerDuty are set up. */
export function logNotifier(log: Logger): Notifier {
  return {
    name: "log",
    async send({ event, incident, reason }) {
      const fields = { incident: incident.id, target: incident.target, kind: incident.kind, severity: incident.severity, reason };
      if (event === "escalated") log.warn(fields, "incident escalated: a human is needed");
      else log.info(fields, "incident resolved");
    },
  };
}
