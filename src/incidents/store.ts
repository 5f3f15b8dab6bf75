import { redactor } from "../lib/redact.js";
import { applyRecord } from "./fold.js";
import type { Incident, IncidentEvent, JournalRecord } from "./types.js";

/** Where incidents live. Records are durable before `append` returns; `incidents` is their fold. */
export interface IncidentStore {
  append(incident: string, event: IncidentEvent, at: number): JournalRecord;
  incidents(): ReadonlyMap<string, Incident>;
  close(): void;
}

/** Folds appended records into incidents; subclasses decide where records are kept. */
export abstract class FoldingStore implements IncidentStore {
  protected readonly folded = new Map<string, Incident>();

  append(incident: string, event: IncidentEvent, at: number): JournalRecord {
    // The journal is what the API, the CLI, postmortems and notifications are made from: no secret enters it.
    const record = redactor.value({ ...event, at, incident } as JournalRecord);
    this.persist(record);
    applyRecord(this.folded, record);
    return record;
  }

  incidents(): ReadonlyMap<string, Incident> {
    return this.folded;
  }

  close(): void {}

  protected abstract persist(record: JournalRecord): void;
}

/** Keeps records in memory only: what a dry run uses, so that it writes nothing. */
export class MemoryStore extends FoldingStore {
  /** `history`: incidents to start from (a dry run reads the real journal, so its guards see real history). */
  constructor(history?: ReadonlyMap<string, Incident>) {
    super();
    for (const [id, incident] of history ?? []) this.folded.set(id, incident);
  }

  protected persist(): void {}
}
