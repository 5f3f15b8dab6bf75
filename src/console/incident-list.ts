import { ms } from "./format.js";
import type { IncidentFilters } from "./route.js";
import type { IncidentSummary } from "./types.js";

/** The state filters the incident list offers, as the API spells them ("" is any). */
export const STATE_CHOICES = [
  "",
  "unresolved",
  "awaiting_approval",
  "approved",
  "open",
  "held",
  "suppressed",
  "remediating",
  "verifying",
  "escalated",
  "resolved",
] as const;

/** Severities, highest first. */
export const SEVERITIES = ["P1", "P2", "P3", "P4"] as const;

/** Whether an incident passes the filters. */
export function matches(i: IncidentSummary, f: IncidentFilters): boolean {
  if (f.target && i.target !== f.target) return false;
  if (f.severity && i.severity !== f.severity) return false;
  if (!f.state) return true;
  if (f.state === "unresolved") return i.state !== "resolved";
  return i.state === f.state;
}

/** A page from the API and what the live stream knows, newest first; the later word on an incident wins. */
export function mergeIncidents(page: readonly IncidentSummary[], live: Iterable<IncidentSummary>, f: IncidentFilters): IncidentSummary[] {
  const byId = new Map<string, IncidentSummary>();
  for (const i of page) byId.set(i.id, i);
  for (const i of live) {
    const had = byId.get(i.id);
    if (had ? ms(i.updatedAt) >= ms(had.updatedAt) : matches(i, f)) byId.set(i.id, i);
  }
  return [...byId.values()].filter((i) => matches(i, f)).sort((a, b) => ms(b.openedAt) - ms(a.openedAt) || (a.id < b.id ? 1 : -1));
}
