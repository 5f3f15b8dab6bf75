import type { ClassifyContext } from "../classify/classify.js";
import { DATABASE_PROBES } from "../classify/database.js";
import type { Target } from "../config/types.js";
import { isOpen, type Incident, type JournalRecord } from "../incidents/types.js";
import type { Watcher } from "./watcher.js";

/** The watched targets by name, and each one's incidents that are not resolved. */
export class Watchers {
  private readonly byName = new Map<string, Watcher>();
  private readonly targetsByName = new Map<string, Target>();

  constructor(private readonly live: () => ReadonlyMap<string, Incident>) {}

  get(name: string): Watcher | undefined {
    return this.byName.get(name);
  }

  all(): IterableIterator<Watcher> {
    return this.byName.values();
  }

  get size(): number {
    return this.byName.size;
  }

  /** Targets by name, as playbooks see them (a step may act on another target). */
  targets(): ReadonlyMap<string, Target> {
    return this.targetsByName;
  }

  /** Adds a watcher, with the open incidents its target already has. */
  add(w: Watcher): void {
    for (const incident of this.live().values()) if (incident.target === w.name && isOpen(incident)) w.open.add(incident.id);
    this.byName.set(w.name, w);
    this.targetsByName.set(w.name, w.target);
  }

  /** The target's config changed (same watcher, new parts). */
  replaced(w: Watcher): void {
    this.targetsByName.set(w.name, w.target);
  }

  delete(name: string): void {
    this.byName.delete(name);
    this.targetsByName.delete(name);
  }

  /** The target's incidents that are not resolved. */
  openIncidents(name: string): Incident[] {
    const ids = this.byName.get(name)?.open ?? [];
    const live = this.live();
    return [...ids].map((id) => live.get(id)).filter((i): i is Incident => i !== undefined);
  }

  /** What classification of a target may know about its dependencies: their latest verdicts. */
  contextFor(target: Target): ClassifyContext {
    return {
      dependencies: target.dependsOn.map((name) => {
        const dep = this.byName.get(name);
        const verdict = dep?.verdict;
        const finding = verdict?.state === "failing" ? verdict.finding : verdict?.state === "healthy" ? null : undefined;
        return { name, database: DATABASE_PROBES.has(dep?.target.probe.kind ?? ""), finding };
      }),
    };
  }

  /** Every watched target's unresolved incidents. */
  allOpen(): Incident[] {
    return [...this.byName.keys()].flatMap((name) => this.openIncidents(name));
  }

  /** Keeps each target's open set current: a record listener, subscribed before any other. */
  readonly onRecord = (_record: JournalRecord, incident: Incident | undefined): void => {
    const open = incident && this.byName.get(incident.target)?.open;
    if (!open) return;
    if (isOpen(incident)) open.add(incident.id);
    else open.delete(incident.id);
  };
}
