import type { Incident, IncidentEvent, JournalRecord } from "../incidents/types.js";
import type { Clock } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";
import type { IncidentStore, Precondition } from "../store/types.js";

/** Told of every record once it is stored, with the incident as it is now (undefined: its opening was lost). */
export type RecordListener = (record: JournalRecord, incident: Incident | undefined) => void;

/**
 * The front of the store: every decision the daemon makes becomes a record here, and everything
 * that follows from records (the targets' open incidents, escalation, metrics, the demo's
 * narration) subscribes to the stream instead of being called from inside the append. A listener
 * that throws is logged and never breaks the core or the listeners after it.
 */
export class RecordStream {
  private readonly listeners: RecordListener[] = [];
  /** Appends refused by a precondition (a cluster's stale epoch): nothing after them may act. */
  private refused: string | undefined;

  constructor(
    private readonly store: IncidentStore,
    private readonly opts: {
      clock: Clock;
      log: Logger;
      /** Completes an event before it is stored (a resolve takes the rounds counted since the last `observed`). */
      complete?: (incident: string, event: IncidentEvent) => IncidentEvent;
      /** What every append requires of the store (a cluster's epoch); none on a single node. */
      precondition?: () => Precondition | undefined;
    },
  ) {}

  /** Listens to every record from now on, in subscription order; returns the unsubscribe. */
  subscribe(listener: RecordListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Stores a record of an incident and tells the listeners; undefined when the store refused it. */
  append(incident: string, event: IncidentEvent, at = this.opts.clock.now()): JournalRecord | undefined {
    const complete = this.opts.complete?.(incident, event) ?? event;
    const outcome = this.store.append(incident, complete, at, this.opts.precondition?.());
    if (!outcome.ok) {
      this.refused = outcome.detail;
      this.opts.log.error({ incident, type: event.type, detail: outcome.detail }, "the store refused a record; acting on nothing more");
      return undefined;
    }
    const current = this.store.live().get(incident);
    for (const listener of this.listeners) {
      try {
        listener(outcome.record, current);
      } catch (err) {
        this.opts.log.error({ err: describeError(err), incident, type: event.type }, "a record listener failed");
      }
    }
    return outcome.record;
  }

  /** Why the store refused an append, once it has: the gate refuses every action from then on. */
  refusal(): string | undefined {
    return this.refused;
  }
}
