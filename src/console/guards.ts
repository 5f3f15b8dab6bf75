import type { IncidentDetail } from "./types.js";

/** One decision a guard (or a person at a gate) took about acting on the incident, and why. */
export interface Decision {
  at: string;
  what: string;
  why: string;
  tone: "ok" | "warn" | "bad" | "info";
}

/**
 * Why medic acted or held back, from the incident's records: held (blast radius, backoff,
 * maintenance, quorum), suppressed under a dependency, the guards that let a run start (flap guard
 * run 2 of 3), the flap guard tripping, a dry run, and approval gates with their answers.
 */
export function guardDecisions(d: IncidentDetail): Decision[] {
  const out: Decision[] = [];
  for (const r of d.timeline) {
    const text = (field: string) => (typeof r[field] === "string" ? (r[field] as string) : "");
    switch (r.type) {
      case "held":
        out.push({
          at: r.at,
          what: `held by ${text("by").replace(/_/g, " ")}`,
          why: `${text("reason")}${typeof r.until === "number" ? ` (until ${new Date(r.until).toISOString()})` : ""}`,
          tone: "warn",
        });
        break;
      case "suppressed":
        out.push({ at: r.at, what: `suppressed under incident ${text("root")}`, why: text("reason"), tone: "info" });
        break;
      case "playbook_started":
        out.push({ at: r.at, what: `ran playbook ${text("playbook")}`, why: text("guards") || "no guard objected", tone: "ok" });
        break;
      case "escalated":
        out.push({ at: r.at, what: r.by === "flap_guard" ? "flap guard tripped" : "handed to a person", why: text("reason"), tone: "bad" });
        break;
      case "would_run":
        out.push({ at: r.at, what: "dry run: acted on nothing", why: text("guards"), tone: "info" });
        break;
      case "approval_requested":
        out.push({ at: r.at, what: "asked a person first", why: r.text, tone: "warn" });
        break;
      case "approved":
      case "rejected":
      case "approval_expired":
        out.push({ at: r.at, what: r.type.replace(/_/g, " "), why: r.text, tone: r.type === "approved" ? "ok" : "bad" });
        break;
    }
  }
  return out;
}
