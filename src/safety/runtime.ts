import type { ApprovalAnswer } from "../approvals/types.js";
import type { Config } from "../config/types.js";
import type { Incident } from "../incidents/types.js";
import { systemClock, type Clock } from "../lib/clock.js";
import type { Logger } from "../lib/log.js";
import { ControlsFile, mergeControls } from "./controls.js";
import { decideSafety, type SafetyDecision } from "./decide.js";
import { MaintenanceCalendar, pausedFor } from "./maintenance.js";
import type { ActivePause, Controls, Pause } from "./types.js";

/** What changed in the operator's controls since the last look. */
export interface ControlChanges {
  /** Ad hoc pauses that were active and no longer are (expired or lifted). */
  ended: Pause[];
  /** Targets whose flap guard an operator reset. */
  reset: string[];
}

/** How stale the operator controls may be when asked: a pause written by the CLI counts within this. */
const SYNC_MS = 100;

/**
 * The safety checks at run time: the config's guards and maintenance windows, plus what operators
 * wrote into the state directory (`medic pause`, `medic guard reset`), re-read when it changes.
 */
export class SafetyRuntime {
  private readonly controls: ControlsFile;
  private calendar: MaintenanceCalendar;
  private pauses = new Map<string, Pause>();
  private resets: Record<string, number> = {};
  private syncedAt = -Infinity;
  private merged: { own: Controls; other: Controls; both: Controls } | undefined;

  constructor(
    private config: Config,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
    /** Other nodes' controls (a cluster's, through its store): honoured together with this node's own. */
    private readonly shared?: () => Controls | undefined,
  ) {
    this.controls = new ControlsFile(config.stateDir);
    this.calendar = new MaintenanceCalendar(config.maintenance);
    this.refresh(clock.now());
  }

  /** Applies a reloaded config: guards and maintenance windows (pauses and guard resets live in the state dir and carry over). */
  reconfigure(config: Config): void {
    this.config = config;
    this.calendar = new MaintenanceCalendar(config.maintenance);
  }

  /** The window or pause covering a target now (a pause written a moment ago counts: the file is checked first). */
  pausedFor(target: string, now: number): ActivePause | undefined {
    this.sync();
    return pausedFor(target, now, this.calendar, this.current());
  }

  /** People's answers to approvals, here and (in a cluster) on every other node, oldest first. */
  answers(): readonly ApprovalAnswer[] {
    this.sync();
    return this.current().answers;
  }

  /** This node's controls and, in a cluster, every other node's: every pause holds, the latest guard reset counts. */
  private current(): Controls {
    const own = this.controls.current();
    const other = this.shared?.();
    if (!other) return own;
    // Asked for every open incident every second: merged again only when either side changed.
    if (this.merged?.own !== own || this.merged.other !== other) this.merged = { own, other, both: mergeControls([own, other]) };
    return this.merged.both;
  }

  /** The safety decision for an incident now (see decideSafety). */
  decide(
    incident: Incident,
    root: Incident | undefined,
    incidents: readonly Incident[],
    now: number,
  ): { decision: SafetyDecision; lines: string[] } {
    const pause = this.pausedFor(incident.target, now);
    const resetAt = this.current().guardResets[incident.target];
    return decideSafety({
      incident,
      incidents,
      safety: this.config.safety,
      now,
      ...(root && { root }),
      ...(pause && { pause }),
      ...(resetAt !== undefined && { guardResetAt: resetAt }),
    });
  }

  /** Says which pauses ended and which guards were reset since the last call (controls.json re-read if it changed). */
  refresh(now: number): ControlChanges {
    this.sync();
    const current = this.current();
    const active = new Map(current.pauses.filter((p) => now < p.until).map((p) => [p.id, p]));
    const ended = [...this.pauses.values()].filter((p) => !active.has(p.id));
    for (const p of active.values())
      if (!this.pauses.has(p.id))
        this.log.warn({ pause: p.id, target: p.target, until: new Date(p.until).toISOString(), by: p.by, reason: p.reason }, "paused");
    this.pauses = active;
    const reset = Object.keys(current.guardResets).filter((t) => current.guardResets[t] !== this.resets[t]);
    this.resets = { ...current.guardResets };
    return { ended, reset };
  }

  // A stat per call, at most every SYNC_MS (a thousand open incidents ask every second); the file
  // is read again only when it changed.
  private sync(): void {
    const now = this.clock.now();
    if (now >= this.syncedAt && now - this.syncedAt < SYNC_MS) return;
    this.syncedAt = now;
    const { error } = this.controls.refresh();
    if (error) this.log.error({ error }, "cannot read the operator controls; keeping the last good ones");
  }
}
