import { createTask, parse, validateDetailed, type ScheduledTask } from "node-cron";

/** Why a cron expression is not usable for a maintenance window, or undefined when it is. */
export function cronProblem(expr: string): string | undefined {
  const fields = expr.trim().split(/\s+/);
  // Windows start on a minute: a seconds field would make "is a window open now" a per-second scan.
  if (fields.length !== 5) return `cron expression "${expr}" has ${fields.length} fields, needs 5`;
  const checked = validateDetailed(expr.trim());
  if (checked.valid) return undefined;
  return `invalid cron expression "${expr}": ${checked.errors.map((e) => `${e.field} ${e.message}`).join("; ")}`;
}

/** Whether the runtime knows an IANA time zone. */
export function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** A cron expression that is only matched against times, never scheduled (no timers). */
export function cronMatcher(expr: string, timezone: string): Pick<ScheduledTask, "match"> {
  const task = createTask(expr.trim(), () => undefined, { timezone });
  // createTask keeps every task in node-cron's global registry until destroyed, so each config
  // reload would leak its matchers. A never-started task is destroyed at once; match() still works.
  void task.destroy();
  return { match: (date) => task.match(date) };
}

/** When the expression next fires after now, or null. Starts and destroys a task (node-cron computes it only for started ones). */
export function nextFire(expr: string, timezone: string): Date | null {
  const task = createTask(expr.trim(), () => undefined, { timezone, unref: true });
  void task.start();
  const next = task.getNextRun();
  void task.destroy();
  return next;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** No zone's offset changes by more than this at once, so candidates further apart keep their order. */
const MAX_SHIFT_MS = 3 * HOUR_MS;

/**
 * The first time after `after` (ms) at which the expression fires, read in the time zone: the
 * same minutes `cronMatcher(...).match` accepts (a local time skipped by a DST change never fires,
 * one repeated fires twice). Null when it never fires within 100 years (like "0 0 30 2 *").
 */
export function nextMatch(expr: string, timezone: string, after: number): number | null {
  const fields = parse(expr.trim());
  const matcher = cronMatcher(expr, timezone);
  const hours = [...fields.hour].sort((a, b) => a - b);
  const minutes = [...fields.minute].sort((a, b) => a - b);
  // L and nth-weekday tokens are left to match(); plain numbers let whole days be skipped cheaply.
  const daysOfMonth = numbersOnly(fields.dayOfMonth);
  const daysOfWeek = numbersOnly(fields.dayOfWeek);
  const afterWall = after + offsetMs(after, timezone);
  let best: number | null = null;
  let bestWall = Infinity;
  const firstDay = Math.floor(afterWall / DAY_MS) * DAY_MS - DAY_MS;
  for (let day = firstDay; day < firstDay + 36_600 * DAY_MS; day += DAY_MS) {
    if (day > bestWall + MAX_SHIFT_MS) break;
    const date = new Date(day);
    if (!fields.month.includes(date.getUTCMonth() + 1)) continue;
    if (daysOfMonth && !daysOfMonth.includes(date.getUTCDate())) continue;
    if (daysOfWeek && !daysOfWeek.includes(date.getUTCDay())) continue;
    for (const hour of hours) {
      for (const minute of minutes) {
        const wall = day + hour * HOUR_MS + minute * MINUTE_MS;
        if (wall < afterWall - MAX_SHIFT_MS) continue;
        if (wall > bestWall + MAX_SHIFT_MS) return best;
        for (const at of instantsOf(wall, timezone)) {
          if (at > after && (best === null || at < best) && matcher.match(new Date(at))) {
            best = at;
            bestWall = Math.min(bestWall, wall);
          }
        }
      }
    }
  }
  return best;
}

function numbersOnly(values: (number | string)[]): number[] | undefined {
  return values.every((v) => typeof v === "number") ? (values as number[]) : undefined;
}

// The instants whose wall-clock time in the zone is `wall` (a UTC-based ms value): none in a DST
// gap, two in a DST overlap. Offsets a half day either side cover any one transition.
function instantsOf(wall: number, timezone: string): number[] {
  const found = new Set<number>();
  for (const probe of [wall - DAY_MS / 2, wall, wall + DAY_MS / 2]) {
    const at = wall - offsetMs(probe, timezone);
    if (at + offsetMs(at, timezone) === wall) found.add(at);
  }
  return [...found].sort((a, b) => a - b);
}

const wallClocks = new Map<string, Intl.DateTimeFormat>();
// Wall-clock time minus UTC at `at`, to the minute (cron has no seconds).
function offsetMs(at: number, timezone: string): number {
  let format = wallClocks.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
    });
    wallClocks.set(timezone, format);
  }
  const p = Object.fromEntries(format.formatToParts(at).map((x) => [x.type, Number(x.value)]));
  const minute = Math.floor(at / MINUTE_MS) * MINUTE_MS;
  return Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!) - minute;
}
