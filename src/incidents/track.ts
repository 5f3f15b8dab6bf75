import type { Finding } from "../classify/types.js";
import { isActive, isOpen, type Incident } from "./types.js";

/** Per-target debounce counters, kept in memory. */
export interface TargetTrack {
  failStreak: number;
  okStreak: number;
  /**
   * Failing rounds of open incidents, by incident id, counted since their last journaled `observed`
   * record: the journal (so every view of an incident) has the count as of that record.
   */
  unjournaled?: Readonly<Record<string, number>>;
}

/** What the tracker decided about one round; the daemon journals and acts on it. */
export type Decision =
  | { type: "open"; finding: Finding }
  /**
   * A repeat of an open incident, its `occurrences` counted so far; `journal` says whether it is worth
   * a journal line now (if not, the count waits in `TargetTrack.unjournaled`, and the incident's
   * `resolved` record carries it).
   */
  | { type: "repeat"; incident: string; evidence: string; occurrences: number; journal: boolean }
  | { type: "resolve"; incident: string; reason: string };

/** Inputs of one round for one target. */
export interface TrackInput {
  track: TargetTrack;
  /** undefined: the round was healthy. */
  finding: Finding | undefined;
  /** The target's incidents that are not resolved. */
  open: readonly Incident[];
  failureThreshold: number;
  successThreshold: number;
  now: number;
  /** The round was triggered by an event that itself proves the failure (a container died): no need to wait for more rounds. */
  confirmed?: boolean;
}

/** Repeats of an open incident are journaled at most this often, when their evidence changed. */
export const OBSERVED_EVERY_MS = 60_000;
/** With the same evidence, at most this often: the journaled count (what every view shows) lags by no more. */
export const OBSERVED_UNCHANGED_MS = 300_000;

/**
 * Debounce one round into decisions. An incident opens after `failureThreshold` consecutive
 * failing rounds (of any kind: a target that flips between refused and slow is still broken),
 * with the kind of the latest finding; one open incident per target and kind, repeats merge into
 * it and are counted: the count is journaled with new evidence at most every OBSERVED_EVERY_MS,
 * with the same evidence at most every OBSERVED_UNCHANGED_MS. Healthy for `successThreshold`
 * rounds resolves every open incident that no playbook is acting on (a running playbook resolves
 * its own incident through verification).
 */
export function trackRound(input: TrackInput): { track: TargetTrack; decisions: Decision[] } {
  const { finding, open, now } = input;
  const live = open.filter(isOpen);
  const pending = stillOpen(input.track.unjournaled, live);
  if (!finding) {
    const track: TargetTrack = { failStreak: 0, okStreak: input.track.okStreak + 1, ...(pending && { unjournaled: pending }) };
    if (track.okStreak < input.successThreshold) return { track, decisions: [] };
    // An incident raised from outside (an alert) is about something the probe may not see: only
    // once its source stopped firing may healthy rounds resolve it.
    const decisions: Decision[] = live
      .filter((i) => !isActive(i) && (!i.source || i.sourceResolved))
      .map((i) => ({ type: "resolve", incident: i.id, reason: `healthy for ${track.okStreak} rounds` }));
    return { track, decisions };
  }

  const track: TargetTrack = { failStreak: input.track.failStreak + 1, okStreak: 0, ...(pending && { unjournaled: pending }) };
  const same = live.find((i) => i.kind === finding.kind);
  if (same) {
    const { [same.id]: counted, ...others } = pending ?? {};
    const occurrences = (counted ?? same.occurrences) + 1;
    const sinceMs = now - lastObservedAt(same);
    const journal = sinceMs >= (finding.evidence !== same.evidence ? OBSERVED_EVERY_MS : OBSERVED_UNCHANGED_MS);
    const unjournaled = journal ? others : { ...others, [same.id]: occurrences };
    return {
      track: { failStreak: track.failStreak, okStreak: 0, ...(Object.keys(unjournaled).length > 0 && { unjournaled }) },
      decisions: [{ type: "repeat", incident: same.id, evidence: finding.evidence, occurrences, journal }],
    };
  }
  // While a playbook acts on the target, what it breaks on the way (a restart refuses connections)
  // belongs to that incident, not to a new one.
  if (live.some(isActive)) return { track, decisions: [] };
  if (track.failStreak < input.failureThreshold && !input.confirmed) return { track, decisions: [] };
  return { track, decisions: [{ type: "open", finding }] };
}

function lastObservedAt(incident: Incident): number {
  for (let i = incident.timeline.length - 1; i >= 0; i--) {
    const r = incident.timeline[i]!;
    if (r.type === "observed" || r.type === "opened") return r.at;
  }
  return incident.openedAt;
}

// Counts not journaled yet, of the incidents still open (one resolved elsewhere has nothing more to count).
function stillOpen(counts: TargetTrack["unjournaled"], live: readonly Incident[]): TargetTrack["unjournaled"] {
  if (!counts) return undefined;
  const kept = Object.entries(counts).filter(([id]) => live.some((i) => i.id === id));
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}
