import type { SseEvent } from "./sse.js";
import type { Change, IncidentSummary, Target } from "./types.js";

/** What the live stream has said so far: every target, and the open and recent incidents. */
export interface Fleet {
  targets: Map<string, Target>;
  incidents: Map<string, IncidentSummary>;
  /** When the server last looked (ISO). */
  at?: string;
}

/**
 * Applies one event of GET api/events: a snapshot replaces everything, a change replaces what
 * changed (so untouched targets keep their objects, and their rows are not drawn again) and drops
 * what is gone. Returns whether anything was applied; an event it does not know is left alone.
 */
export function applyEvent(fleet: Fleet, e: SseEvent): boolean {
  if (e.event !== "snapshot" && e.event !== "change") return false;
  const data = JSON.parse(e.data) as {
    at?: string;
    targets: Target[] | Change<Target>;
    incidents: IncidentSummary[] | Change<IncidentSummary>;
  };
  if (e.event === "snapshot") {
    fleet.targets = new Map((data.targets as Target[]).map((t) => [t.name, t]));
    fleet.incidents = new Map((data.incidents as IncidentSummary[]).map((i) => [i.id, i]));
  } else {
    apply(fleet.targets, data.targets as Change<Target>, (t) => t.name);
    apply(fleet.incidents, data.incidents as Change<IncidentSummary>, (i) => i.id);
  }
  if (data.at) fleet.at = data.at;
  return true;
}

function apply<T>(map: Map<string, T>, change: Change<T>, key: (item: T) => string): void {
  for (const item of change.changed) map.set(key(item), item);
  for (const k of change.removed) map.delete(k);
}
