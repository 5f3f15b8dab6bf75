import picomatch from "picomatch";
import { cronMatcher, nextMatch } from "./cron.js";
import type { ActivePause, Controls, MaintenanceWindowConfig } from "./types.js";

const MINUTE_MS = 60_000;

interface WindowState {
  window: MaintenanceWindowConfig;
  covers: (target: string) => boolean;
  fires: (minute: number) => boolean;
  /** Every whole minute up to this one has been matched. */
  scannedTo: number;
  /** The latest of those at which the cron fired, as far back as it can still hold the window open. */
  lastStart: number | null;
}

/** The config's recurring maintenance windows, asked "which are open now?" (every second, per target). */
export class MaintenanceCalendar {
  private readonly states: WindowState[];

  constructor(windows: readonly MaintenanceWindowConfig[]) {
    this.states = windows.map((window) => {
      const matcher = cronMatcher(window.cron, window.timezone);
      const globs = window.targets.map((g) => picomatch(g));
      return {
        window,
        covers: (target) => globs.some((m) => m(target)),
        fires: (minute) => matcher.match(new Date(minute)),
        scannedTo: -Infinity,
        lastStart: null,
      };
    });
  }

  /** The open windows that cover the target. */
  activeFor(target: string, now: number): ActivePause[] {
    const open: ActivePause[] = [];
    for (const state of this.states) {
      if (!state.covers(target)) continue;
      const until = openUntil(state, now);
      if (until !== undefined) open.push({ source: "window", name: state.window.name, reason: state.window.reason, until });
    }
    return open;
  }

  /** Every window open now, with when it closes. */
  active(now: number): { window: MaintenanceWindowConfig; until: number }[] {
    return this.states.flatMap((state) => {
      const until = openUntil(state, now);
      return until === undefined ? [] : [{ window: state.window, until }];
    });
  }

  /** Every window with its next start after now (null: never again). */
  upcoming(now: number): { window: MaintenanceWindowConfig; at: number | null }[] {
    return this.states.map(({ window }) => ({ window, at: nextMatch(window.cron, window.timezone, now) }));
  }
}

/**
 * When the window closes if it is open at `now`: the cron fired at a whole minute m with
 * m <= now < m + durationMs. Cost: each window remembers the last minute it matched up to, so calls
 * with a non-decreasing `now` match only the minutes that began since (one match per new minute);
 * the first call, a jump further than the duration, or a clock that went back scans the duration
 * once, newest minute first, and starts the memory again from there.
 */
function openUntil(state: WindowState, now: number): number | undefined {
  const { durationMs } = state.window;
  const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
  if (minute < state.scannedTo || minute - state.scannedTo > durationMs) {
    state.lastStart = null;
    // The latest start decides when the window closes, so the scan stops at the first it meets.
    for (let m = minute; m > minute - durationMs; m -= MINUTE_MS) {
      if (state.fires(m)) {
        state.lastStart = m;
        break;
      }
    }
  } else {
    for (let m = state.scannedTo + MINUTE_MS; m <= minute; m += MINUTE_MS) if (state.fires(m)) state.lastStart = m;
  }
  state.scannedTo = minute;
  if (state.lastStart === null) return undefined;
  const until = state.lastStart + durationMs;
  return now < until ? until : undefined;
}

/** The window or ad hoc pause covering the target now (a pause on "*" covers all); of several, the one that ends last. */
export function pausedFor(target: string, now: number, calendar: MaintenanceCalendar, controls: Controls): ActivePause | undefined {
  let chosen: ActivePause | undefined;
  for (const window of calendar.activeFor(target, now)) if (!chosen || window.until > chosen.until) chosen = window;
  for (const pause of controls.pauses) {
    if (pause.target !== target && pause.target !== "*") continue;
    // `from` is only shown: a pause holds from when it is written until it expires.
    if (now >= pause.until || (chosen && pause.until <= chosen.until)) continue;
    chosen = { source: "pause", name: pause.id, reason: pause.reason, until: pause.until, by: pause.by };
  }
  return chosen;
}
