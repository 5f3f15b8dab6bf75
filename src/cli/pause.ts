import { userInfo } from "node:os";
import type { StateView } from "../config/state-view.js";
import { formatDuration } from "../lib/duration.js";
import { describeError } from "../lib/errors.js";
import { readControls } from "../safety/controls.js";
import { MaintenanceCalendar } from "../safety/maintenance.js";
import { addPause, checkPause, checkTarget, endPauses, isRefusal, nothingToResume, type FieldNames } from "../safety/operator.js";
import type { Pause } from "../safety/types.js";
import { viewOrReport, type GlobalOptions } from "./config.js";
import { cell, EXIT, print, printError, table } from "./output.js";

const FLAGS: FieldNames = {
  for: "--for",
  reason: "--reason",
  forExample: "--for 30m, or --for 2h",
  reasonExample: '--reason "deploying 2.4"',
};

/** `medic pause TARGET|--all --for 30m --reason "…"`: no playbook runs and nobody is paged for the target until the pause expires. */
export async function pauseCommand(
  target: string | undefined,
  opts: GlobalOptions & { all?: boolean; for?: string; reason?: string },
): Promise<number> {
  if (!oneOf(target, opts.all, "pause")) return EXIT.badConfig;
  const pause = checkPause({ target: target ?? "*", for: opts.for, reason: opts.reason, by: whoAmI() }, FLAGS, Date.now());
  if (isRefusal(pause)) return usage(pause.message, pause.hint);
  const config = await viewOrReport(opts);
  if (!config) return EXIT.badConfig;
  if (target !== undefined && !knownTarget(config, target)) return EXIT.badConfig;
  if (!update(() => addPause(config.stateDir, pause, Date.now()))) return EXIT.unhealthy;
  print(`paused ${describeTarget(pause.target)} until ${new Date(pause.until).toISOString()} (${pause.id}): ${pause.reason}\n`);
  return EXIT.ok;
}

/** `medic resume TARGET|--all|--id ID`: ends matching pauses now (--all: every pause). */
export async function resumeCommand(target: string | undefined, opts: GlobalOptions & { all?: boolean; id?: string }): Promise<number> {
  if (target !== undefined && opts.all) return usage("give a target or --all, not both", "medic resume api, or medic resume --all");
  if (target === undefined && !opts.all && opts.id === undefined) {
    return usage("say which pauses to end: a target, --all or --id", "medic pauses lists them");
  }
  const config = await viewOrReport(opts);
  if (!config) return EXIT.badConfig;
  // Without a target (only --id, or --all) any target's pause may match.
  const match = { target, id: opts.id };
  const ended = update(() => endPauses(config.stateDir, match, Date.now()));
  if (!ended) return EXIT.unhealthy;
  const { removed, left } = ended.value;
  for (const p of removed) print(`resumed ${describeTarget(p.target)} (${p.id}): ${p.reason}\n`);
  if (removed.length > 0) return EXIT.ok;
  const none = nothingToResume(match, left, (id) => `medic resume --id ${id}`, "medic pauses lists them");
  printError(`${none.message} (hint: ${none.hint})\n`);
  return EXIT.unhealthy;
}

/** `medic pauses [--json]`: active ad hoc pauses, and the config's maintenance windows. */
export async function pausesCommand(opts: GlobalOptions & { json?: boolean }): Promise<number> {
  const config = await viewOrReport(opts);
  if (!config) return EXIT.badConfig;
  let pauses: Pause[];
  try {
    pauses = readControls(config.stateDir).pauses;
  } catch (err) {
    printError(describeError(err) + "\n");
    return EXIT.unhealthy;
  }
  const now = Date.now();
  const active = pauses.filter((p) => p.until > now).sort((a, b) => a.until - b.until);
  const calendar = new MaintenanceCalendar(config.maintenance);
  const open = new Map(calendar.active(now).map((a) => [a.window, a.until]));
  const windows = calendar.upcoming(now).map(({ window, at }) => ({ window, openUntil: open.get(window) ?? null, next: at }));
  if (opts.json) {
    const out = {
      pauses: active.map((p) => ({ ...p, leftMs: p.until - now })),
      windows: windows.map(({ window: w, openUntil, next }) => ({ ...w, open: openUntil !== null, openUntil, next })),
    };
    print(JSON.stringify(out, null, 2) + "\n");
    return EXIT.ok;
  }
  const iso = (ms: number) => new Date(ms).toISOString();
  if (active.length === 0) print("no active pauses\n");
  else {
    const rows = active.map((p) => [
      p.id,
      p.target === "*" ? "(all)" : p.target,
      iso(p.until),
      formatDuration(p.until - now),
      cell(p.by, 20),
      cell(p.reason, 60),
    ]);
    print(table(["PAUSE", "TARGET", "UNTIL", "LEFT", "BY", "REASON"], rows));
  }
  if (windows.length === 0) return EXIT.ok;
  print("\n");
  const rows = windows.map(({ window: w, openUntil, next }) => [
    w.name,
    w.targets.join(","),
    `${w.cron} ${w.timezone}, ${formatDuration(w.durationMs)}`,
    openUntil !== null ? `open until ${iso(openUntil)}` : next !== null ? `next ${iso(next)}` : "never again",
    cell(w.reason, 60),
  ]);
  print(table(["WINDOW", "TARGETS", "WHEN", "STATE", "REASON"], rows));
  return EXIT.ok;
}

/** Whether the name is a target medic watches or may discover; says why not on stderr. */
export function knownTarget(config: StateView, name: string): boolean {
  const checked = checkTarget({ names: config.targets, discovers: config.discovers }, name);
  if (isRefusal(checked)) {
    printError(`${checked.message} (hint: ${checked.hint})\n`);
    return false;
  }
  if (checked.note) printError(`note: ${checked.note}\n`);
  return true;
}

/** Runs a change of the state directory's controls: its result, or undefined (said on stderr) when it could not. */
export function update<T>(change: () => T): { value: T } | undefined {
  try {
    return { value: change() };
  } catch (err) {
    printError(describeError(err) + "\n");
    return undefined;
  }
}

function oneOf(target: string | undefined, all: boolean | undefined, verb: string): boolean {
  if ((target === undefined) !== !all) return true;
  usage(
    target === undefined ? "name a target, or --all" : "give a target or --all, not both",
    `medic ${verb} api --for 30m --reason "…", or medic ${verb} --all …`,
  );
  return false;
}

function usage(message: string, hint: string): number {
  printError(`${message} (hint: ${hint})\n`);
  return EXIT.badConfig;
}

function describeTarget(target: string): string {
  return target === "*" ? "all targets" : target;
}

/** The user running this command: who the journal says paused or answered. */
export function whoAmI(): string {
  try {
    return userInfo().username || "unknown";
  } catch {
    return "unknown"; // no passwd entry for the uid, as in some containers
  }
}
