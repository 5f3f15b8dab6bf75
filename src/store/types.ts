import type { Incident, IncidentEvent, IncidentState, JournalRecord } from "../incidents/types.js";

// The store: where records live and what they fold into. Records are the truth; incidents are
// their fold. A backend keeps in memory only what decisions need (open incidents and a bounded
// recent window) and answers history as a paged query. The file store is the embedded default;
// a PostgreSQL store (a cluster) implements the same interface.

/** What an append may require, checked by the backend atomically with the write. */
export interface Precondition {
  /** The sequence number of the newest record the writer has seen; the append is refused if another came since. */
  seq?: number;
  /**
   * The writer's leadership epoch; the append is refused once the epoch has moved on (a cluster).
   * A single-node store refuses an epoch lower than the highest it has taken.
   */
  epoch?: number;
}

/** How an append went: the record as stored (redacted, numbered), or why it was refused. */
export type AppendOutcome = { ok: true; record: JournalRecord } | { ok: false; reason: "conflict"; detail: string };

/**
 * Which incidents a history query asks for. A `limit` that is not a whole number of at least 1, or
 * a `cursor` that is not a page's `next`, makes `history` reject with a MedicError (BAD_LIMIT,
 * BAD_CURSOR) that names it: the API answers 400 with its message.
 */
export interface HistoryQuery {
  target?: string;
  /** A state, or "unresolved" for every state but resolved. */
  state?: IncidentState | "unresolved";
  /** Only incidents that were open at some time in [since, until] (ms since the epoch). */
  since?: number;
  until?: number;
  /** At most this many, newest first (by openedAt). */
  limit: number;
  /** Only incidents suppressed under this one (a postmortem's related incidents). */
  root?: string;
  /** The `next` of the page before: continue after it. */
  cursor?: string;
}

/** A page of history, newest first; `next` is set when there may be more. */
export interface HistoryPage {
  incidents: Incident[];
  next?: string;
}

/**
 * What a lookup by id (or by an id prefix of at least 4 characters) found; `ambiguous`: how many
 * incidents the prefix matches. An id shorter than 4 characters matches only itself.
 */
export type Found = { found: Incident } | { found: undefined; ambiguous?: number };

/** Where incidents live. */
export interface IncidentStore {
  /**
   * Appends one record: it is folded into `live()` when this returns, and on disk once `flushed()`
   * resolves. Never throws for a disk that refuses: the record waits in memory (and the backend
   * says so in `problem()`).
   */
  append(incident: string, event: IncidentEvent, at: number, expect?: Precondition): AppendOutcome;
  /**
   * Resolves once every record appended so far is durable, or is held in memory because the disk
   * refuses it (then `problem()` says so, and medic keeps acting, as it always did on a full disk).
   * Nothing acts on a record before this. It never rejects.
   */
  flushed(): Promise<void>;
  /** The sequence number of the newest record (0 when there is none). */
  seq(): number;
  /**
   * Open incidents, and resolved ones still recent (within the window the safety guards look back,
   * or still owed a notification): what every decision reads. Bounded, whatever the history.
   */
  live(): ReadonlyMap<string, Incident>;
  /** One incident, live or from history. */
  find(id: string): Promise<Found>;
  /**
   * Incidents newest first (by openedAt, then id), filtered, a page at a time; streamed from
   * history, never all held at once. Live incidents are on the pages as they are in `live()`.
   */
  history(query: HistoryQuery): Promise<HistoryPage>;
  /** Trouble with the store itself (records waiting in memory, a missing file), or undefined. */
  problem(): string | undefined;
  /** Writes what it can (and a snapshot, for a quick next start) and lets go of its files. */
  close(): Promise<void>;
}
