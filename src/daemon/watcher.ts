import type { Finding } from "../classify/types.js";
import type { Target } from "../config/types.js";
import type { TargetTrack } from "../incidents/track.js";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/log.js";
import { onAbort } from "../lib/signals.js";
import type { FailedRound } from "../playbooks/verify.js";
import type { Observation, WatchEvent } from "../probes/types.js";
import { every, phaseFor, type Schedule } from "../schedule/scheduler.js";
import type { Checked, LiveTarget } from "../targets.js";

/** Rounds whose latency a target's status keeps. */
export const RECENT_ROUNDS = 30;

/** What the watcher last saw of its target. */
export type Verdict =
  | { state: "unknown" }
  /** `from`: when the round that said so began. */
  | { state: "healthy"; from: number }
  /** `since`: when the first round of this failing run began. */
  | { state: "failing"; finding: Finding; from: number; since: number };

/**
 * The watcher's life:
 * - idle: built, not probing yet (the daemon has not started, or a target was just added);
 * - watching: its schedule runs rounds, and events from its probe or service call one early;
 * - retired: removed (reload, discovery); no more rounds, its playbook runs stop after their step.
 * `setMode` is the only way between them, and refuses any other: idle -> watching -> retired, idle -> retired,
 * and watching -> idle -> watching when its probe and service are replaced (a reload).
 */
type Mode = { mode: "idle" } | { mode: "watching"; schedule: Schedule; unwatch: () => void } | { mode: "retired"; reason: string };

/** One round's result, as the watcher hands it on. */
export interface Round {
  observation: Observation;
  finding: Finding | undefined;
  startedAt: number;
  /** An event proved the failure before the round (a pid died, a container's die): no need to debounce. */
  confirmed: boolean;
}

/** What a watcher needs from the daemon. */
export interface WatcherDeps {
  clock: Clock;
  log: Logger;
  /** One probe round, classified (with what the target's dependencies looked like). */
  check(w: Watcher, signal: AbortSignal): Promise<Checked>;
  /** Each round's result; called in order, never for a round of a watcher retired or replaced meanwhile. */
  onRound(w: Watcher, round: Round): void;
  /** As a round starts, how late against its slot or the event that called it. */
  onRoundStart?(target: Target, lateMs: number): void;
  /** Aborted when medic stops: no round starts, and the one in flight is cut off. */
  stop: AbortSignal;
}

/** One watched target: its live parts, its own schedule and rounds, and what they saw. */
export class Watcher {
  private state: Mode = { mode: "idle" };
  private parts: LiveTarget;
  private generation = 0;
  verdict: Verdict = { state: "unknown" };
  /** Debounce counters (incidents/track). */
  track: TargetTrack = { failStreak: 0, okStreak: 0 };
  /** Ids of the target's incidents that are not resolved: every round reads them. */
  readonly open = new Set<string>();
  /** The latest failing round: verification of a fix resets its count on one that fails meanwhile. */
  lastFailure: FailedRound | undefined;
  lastRoundAt: number | undefined;
  lastLatencyMs: number | undefined;
  /** The latest rounds' latency, oldest first; null for a round whose probe failed (the console's sparkline). */
  readonly recent: (number | null)[] = [];
  /** An event proved the target broke since the last round began. */
  private confirmed = false;
  /** The round in flight, if any: whether it began with proof. */
  private current: { confirmed: boolean } | undefined;
  /**
   * The signal the rounds run under: aborted when medic stops, when the watcher halts, and when a
   * proof supersedes a round in flight (then a fresh one serves the rounds after). One per watcher,
   * not per round, so the probes in flight share its one listener.
   */
  private cutter: { controller: AbortController; unfollow: () => void } | undefined;
  private readonly retirement = new AbortController();

  constructor(
    parts: LiveTarget,
    private readonly deps: WatcherDeps,
  ) {
    this.parts = parts;
  }

  get target(): Target {
    return this.parts.target;
  }

  get name(): string {
    return this.parts.target.name;
  }

  get live(): LiveTarget {
    return this.parts;
  }

  get roundInFlight(): boolean {
    return this.current !== undefined;
  }

  get mode(): Mode["mode"] {
    return this.state.mode;
  }

  /** Aborted when the watcher retires, with the reason. */
  get retired(): AbortSignal {
    return this.retirement.signal;
  }

  /** Starts probing: the schedule, and early rounds on events from the probe's source or the service. */
  start(): void {
    if (this.state.mode !== "idle") return;
    const { target } = this;
    this.cutter = this.newCutter();
    const schedule = every(
      target.intervalMs,
      phaseFor(target.name, target.intervalMs),
      (intendedAt) => {
        this.deps.onRoundStart?.(target, this.deps.clock.now() - intendedAt);
        return this.round();
      },
      this.deps.clock,
    );
    const onEvent = (event: WatchEvent): void => {
      this.deps.log.info({ target: target.name, event: event.what }, "event from the target's source");
      if (event.confirmsFailure) {
        this.confirmed = true;
        // A round begun before the proof can only say what it finds, later (an inspect of a dying
        // container can take half a second): it is cut short and the round the proof calls starts now.
        // A round begun with proof runs to its end, so proofs that keep coming cannot starve rounds.
        if (this.current && !this.current.confirmed) {
          this.deps.log.debug({ target: target.name, event: event.what }, "round in flight cut short by a proof");
          this.cut(new Error(`superseded by ${event.what}`));
          this.cutter = this.newCutter();
        }
      }
      this.poke();
    };
    const stops = [this.parts.probe.watch?.(onEvent), this.parts.service?.watch?.(onEvent)];
    this.setMode({ mode: "watching", schedule, unwatch: () => stops.forEach((stop) => stop?.()) });
  }

  /** A round now (after the one in flight, if any). */
  poke(): void {
    if (this.state.mode === "watching") this.state.schedule.poke();
  }

  /** The target's config changed: new probe and service, same verdict, counters and incidents. */
  replace(parts: LiveTarget): void {
    if (this.state.mode === "retired") return;
    const watching = this.state.mode === "watching";
    this.halt();
    this.parts = parts;
    this.generation++;
    this.setMode({ mode: "idle" });
    if (watching) this.start();
  }

  /** Removed: no more rounds; playbook runs on it stop after their current step. */
  retire(reason: string): void {
    if (this.state.mode === "retired") return;
    this.halt();
    this.setMode({ mode: "retired", reason });
    this.retirement.abort(new Error(reason));
  }

  /** Stops the schedule and its event watches; resolves once a round in flight has ended. */
  async stop(): Promise<void> {
    const schedule = this.state.mode === "watching" ? this.state.schedule : undefined;
    if (this.state.mode === "watching") this.state.unwatch();
    await schedule?.stop();
  }

  private halt(): void {
    if (this.state.mode !== "watching") return;
    this.cut(new Error("the target was replaced or removed"));
    this.state.unwatch();
    void this.state.schedule.stop();
  }

  private newCutter(): { controller: AbortController; unfollow: () => void } {
    const controller = new AbortController();
    return { controller, unfollow: onAbort(this.deps.stop, (reason) => controller.abort(reason)) };
  }

  private cut(reason: Error): void {
    this.cutter?.unfollow();
    this.cutter?.controller.abort(reason);
    this.cutter = undefined;
  }

  // Every change of mode goes through here, and only forward: a retired watcher never probes again.
  private setMode(next: Mode): void {
    const from = this.state.mode;
    const allowed =
      next.mode === "retired" ? from !== "retired" : next.mode === "watching" ? from === "idle" : from === "watching" || from === "idle";
    if (!allowed) throw new Error(`watcher ${this.name}: ${from} -> ${next.mode} is not a transition`);
    this.state = next;
  }

  private async round(): Promise<void> {
    if (this.deps.stop.aborted || this.state.mode !== "watching") return;
    const generation = this.generation;
    const confirmed = this.confirmed;
    this.confirmed = false;
    const startedAt = this.deps.clock.now();
    this.lastRoundAt = startedAt;
    const signal = this.cutter?.controller.signal ?? this.deps.stop;
    const current = (this.current = { confirmed });
    const { observation, finding } = await this.deps.check(this, signal).finally(() => {
      if (this.current === current) this.current = undefined;
    });
    // Stopping, removed, its probe replaced or cut short by a proof meanwhile: this round speaks for nothing any more.
    if (signal.aborted || this.state.mode !== "watching" || generation !== this.generation) return;
    this.verdict = finding
      ? { state: "failing", finding, from: startedAt, since: this.verdict.state === "failing" ? this.verdict.since : startedAt }
      : { state: "healthy", from: startedAt };
    if (finding) this.lastFailure = { startedAt, endedAt: this.deps.clock.now(), finding };
    this.lastLatencyMs = observation.latencyMs;
    // A tenth of a millisecond is all a sparkline shows; fewer digits keep the live stream small.
    this.recent.push(observation.ok ? Math.round(observation.latencyMs * 10) / 10 : null);
    if (this.recent.length > RECENT_ROUNDS) this.recent.shift();
    this.deps.onRound(this, { observation, finding, startedAt, confirmed });
  }

  /** A proven failure whose incident waits (for a dependency's verdict) stays proven for the next round. */
  keepConfirmed(): void {
    this.confirmed = true;
  }
}
