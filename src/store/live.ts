import { applyRecord } from "../incidents/fold.js";
import type { Incident, JournalRecord } from "../incidents/types.js";

/** How long resolved incidents stay in memory, and how many at most. */
export interface LiveWindow {
  /** A resolved incident stays this long after it resolved (the longest window a safety guard looks back over). */
  recentMs: number;
  /** At most this many resolved incidents stay, however recent: the oldest resolved leave first. */
  maxResolved?: number;
  /**
   * A resolved incident for which this holds stays, whatever its age (it is still owed something).
   * Default: a notification of it is still queued.
   */
  owed?: (incident: Incident) => boolean;
}

/** Resolved incidents kept at most by default: about 50 MB of folds, far more than a fleet resolves in an hour. */
export const MAX_RESOLVED_LIVE = 20_000;

/** Default `owed`: a notification is still waiting to be delivered. */
export function notificationQueued(incident: Incident): boolean {
  return incident.notifications.some((n) => n.status === "queued");
}

/**
 * What a store holds in memory: open incidents, and resolved ones still recent or still owed a
 * notification. Records fold in as they come; `expired` says which resolved ones may leave, oldest
 * resolved first, so memory stays bounded whatever the length of the history.
 */
export class LiveSet {
  readonly incidents = new Map<string, Incident>();
  /** Ids in the order they resolved; an id that is no longer resolved here is skipped on the way out. */
  private resolvedOrder: string[] = [];
  private head = 0;
  /** Resolved incidents held now. */
  private resolved = 0;
  /** Resolved past the window but owed something: looked at again on every sweep. */
  private readonly held = new Set<string>();
  private readonly maxResolved: number;
  private readonly owed: (incident: Incident) => boolean;

  constructor(private readonly window: LiveWindow) {
    this.maxResolved = window.maxResolved ?? MAX_RESOLVED_LIVE;
    this.owed = window.owed ?? notificationQueued;
  }

  /** Folds a record in; false when it belongs to no incident held here (its opening is not in memory). */
  apply(record: JournalRecord): boolean {
    const before = this.incidents.get(record.incident);
    if (!before && record.type !== "opened") return false;
    const wasResolved = before?.state === "resolved";
    applyRecord(this.incidents, record);
    const isResolved = this.incidents.get(record.incident)!.state === "resolved";
    if (isResolved && !wasResolved) {
      this.resolved++;
      this.resolvedOrder.push(record.incident);
    } else if (wasResolved && !isResolved) {
      this.resolved--;
      this.held.delete(record.incident);
    }
    return true;
  }

  /** Puts back an incident as folded elsewhere (a snapshot); `reorder` once all are back. */
  restore(incident: Incident): void {
    this.drop(incident.id);
    this.incidents.set(incident.id, incident);
    if (incident.state !== "resolved") return;
    this.resolved++;
    this.resolvedOrder.push(incident.id);
  }

  /** Sorts the resolved incidents by when they resolved (after restoring a snapshot in another order). */
  reorder(): void {
    this.compact();
    const at = (id: string) => this.incidents.get(id)?.resolvedAt ?? 0;
    this.resolvedOrder.sort((a, b) => at(a) - at(b));
  }

  /**
   * Lets resolved incidents leave memory, oldest resolved first: those past the window that are
   * owed nothing, and beyond the count cap the oldest of the rest that are owed nothing. `leave` is
   * asked for each; once it says no (the index took no write) the sweep stops, and what is left
   * stays until the next one. Returns how many left.
   */
  sweep(now: number, leave: (incident: Incident) => boolean): number {
    let left = 0;
    for (const id of this.held) {
      const i = this.incidents.get(id)!;
      if (this.owed(i)) continue;
      if (!leave(i)) return left;
      this.drop(id);
      left++;
    }
    while (this.head < this.resolvedOrder.length) {
      const id = this.resolvedOrder[this.head]!;
      const i = this.incidents.get(id);
      if (!i || i.state !== "resolved" || this.held.has(id)) {
        this.head++;
        continue;
      }
      if (this.resolved - this.held.size <= this.maxResolved && now - (i.resolvedAt ?? now) < this.window.recentMs) break;
      this.head++;
      if (this.owed(i)) {
        this.held.add(id);
        continue;
      }
      if (!leave(i)) {
        this.head--;
        break;
      }
      this.drop(id);
      left++;
    }
    if (this.head > 1024 && this.head * 2 > this.resolvedOrder.length) this.compact();
    return left;
  }

  /** Resolved incidents held now (recent, owed, or not yet swept). */
  resolvedCount(): number {
    return this.resolved;
  }

  /** Forgets an incident (it left memory: the index has it). */
  drop(id: string): void {
    const i = this.incidents.get(id);
    if (!i) return;
    if (i.state === "resolved") this.resolved--;
    this.incidents.delete(id);
    this.held.delete(id);
  }

  private compact(): void {
    this.resolvedOrder = this.resolvedOrder.slice(this.head);
    this.head = 0;
  }
}
