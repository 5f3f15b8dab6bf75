import { randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import type { Config } from "../config/types.js";
import { SAFE_NAME } from "../config/fields.js";
import { formatDuration, parseDuration } from "../lib/duration.js";
import { describeError } from "../lib/errors.js";
import { readControls, RESERVED_KEYS, updateControls } from "../safety/controls.js";
import { MaintenanceCalendar } from "../safety/maintenance.js";
import type { Pause } from "../safety/types.js";
import { loadOrReport, type GlobalOptions } from "./config.js";
import { cell, EXIT, table } from "./output.js";

const MAX_PAUSE_MS = 7 * 86_400_000;
const MAX_REASON = 500;

/** `medic pause TARGET|--all --for 30m --reason "…"`: no playbook runs and nobody is paged for the target until the pause expires. */
export async function pauseCommand(target: string | undefined, opts: GlobalOptions & { all?: boolean; for?: string; reason?: string }): Promise<number> {
  if (!oneOf(target, opts.all, "pause")) return EXIT.badConfig;
  const forMs = opts.for === undefined ? undefined : parseDuration(opts.for);
  if (forMs === undefined || forMs <= 0 || forMs > MAX_PAUSE_MS) {
    const got = opts.for === undefined ? "it is missing" : `got "${opts.for}"`;
    return usage(`--for must be a duration above 0 and at most 7d (${got})`, "a pause always expires: like --for 30m, or --for 2h");
  }
  const reason = opts.reason?.trim() ?? "";
  if (!reason || reason.length > MAX_REASON || /[\u0000-\u001f\u007f]/.test(reason)) {
    return usage(`--reason must be one line of 1-${MAX_REASON} characters`, 'say why, for whoever wonders later: --reason "deploying 2.4"');
  }
  const config = await loadOrReport(opts);
  if (!config) return EXIT.badConfig;
  if (target !== undefined && !knownTarget(config, target)) return EXIT.badConfig;
  const now = Date.now();
  const pause: Pause = { id: randomBytes(4).toString("hex"), target: target ?? "*", from: now, until: now + forMs, reason, by: whoAmI() };
  if (!update(config, (c) => void c.pauses.push(pause), now)) return EXIT.unhealthy;
  process.stdout.write(`paused ${describeTarget(pause.target)} until ${new Date(pause.until).toISOString()} (${pause.id}): ${reason}\n`);
  return EXIT.ok;
}

/** `medic resume TARGET|--all|--id ID`: ends matching pauses now (--all: every pause). */
export async function resumeCommand(target: string | undefined, opts: GlobalOptions & { all?: boolean; id?: string }): Promise<number> {
  if (target !== undefined && opts.all) return usage("give a target or --all, not both", "medic resume api, or medic resume --all");
  if (target === undefined && !opts.all && opts.id === undefined) {
    return usage("say which pauses to end: a target, --all or --id", "medic pauses lists them");
  }
  const config = await loadOrReport(opts);
  if (!config) return EXIT.badConfig;
  const now = Date.now();
  // Without a target (only --id, or --all) any target's pause may match.
  const matches = (p: Pause) => (target === undefined || p.target === target) && (opts.id === undefined || p.id === opts.id);
  let removed: Pause[] = [];
  let left: Pause[] = [];
  const ok = update(config, (c) => {
    removed = c.pauses.filter((p) => p.until > now && matches(p));
    left = c.pauses.filter((p) => p.until > now && !matches(p));
    c.pauses = left;
  }, now);
  if (!ok) return EXIT.unhealthy;
  for (const p of removed) process.stdout.write(`resumed ${describeTarget(p.target)} (${p.id}): ${p.reason}\n`);
  if (removed.length > 0) return EXIT.ok;
  const what = [target && `on ${target}`, opts.id && `with id ${opts.id}`].filter(Boolean).join(" ");
  const all = target !== undefined && left.find((p) => p.target === "*");
  const hint = all ? `${target} is held by a pause on all targets (${all.id}): medic resume --id ${all.id}` : "medic pauses lists them";
  process.stderr.write(`no active pause ${what || "at all"} (hint: ${hint})\n`);
  return EXIT.unhealthy;
}

/** `medic pauses [--json]`: active ad hoc pauses, and the config's maintenance windows. */
export async function pausesCommand(opts: GlobalOptions & { json?: boolean }): Promise<number> {
  const config = await loadOrReport(opts);
  if (!config) return EXIT.badConfig;
  let pauses: Pause[];
  try {
    pauses = readControls(config.stateDir).pauses;
  } catch (err) {
    process.stderr.write(describeError(err) + "\n");
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
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
    return EXIT.ok;
  }
  const iso = (ms: number) => new Date(ms).toISOString();
  if (active.length === 0) process.stdout.write("no active pauses\n");
  else {
    const rows = active.map((p) => [p.id, p.target === "*" ? "(all)" : p.target, iso(p.until), formatDuration(p.until - now), cell(p.by, 20), cell(p.reason, 60)]);
    process.stdout.write(table(["PAUSE", "TARGET", "UNTIL", "LEFT", "BY", "REASON"], rows));
  }
  if (windows.length === 0) return EXIT.ok;
  process.stdout.write("\n");
  const rows = windows.map(({ window: w, openUntil, next }) => [
    w.name, w.targets.join(","), `${w.cron} ${w.timezone}, ${formatDuration(w.durationMs)}`,
    openUntil !== null ? `open until ${iso(openUntil)}` : next !== null ? `next ${iso(next)}` : "never again",
    cell(w.reason, 60),
  ]);
  process.stdout.write(table(["WINDOW", "TARGETS", "WHEN", "STATE", "REASON"], rows));
  return EXIT.ok;
}

/** Whether the name is a target medic watches or may discover; says why not on stderr. */
export function knownTarget(config: Config, name: string): boolean {
  if (config.targets.some((t) => t.name === name)) return true;
  const discovers = Object.values(config.discovery ?? {}).some((d) => d !== undefined);
  if (discovers) {
    if (SAFE_NAME.test(name) && !RESERVED_KEYS.has(name)) {
      process.stderr.write(`note: "${name}" is not in the config; it applies if discovery finds a target by that name\n`);
      return true;
    }
    process.stderr.write(`"${name}" is not a target name (hint: 1-128 of letters, digits and ._@:-, not starting with "-")\n`);
    return false;
  }
  const names = config.targets.map((t) => t.name);
  const hint = names.length > 0 ? `one of ${names.join(", ")}` : "the config has no targets";
  process.stderr.write(`unknown target "${name}" (hint: ${hint})\n`);
  return false;
}

/** Applies a change to the state directory's controls; false (said on stderr) when it could not. */
export function update(config: Config, change: Parameters<typeof updateControls>[1], now: number): boolean {
  try {
    updateControls(config.stateDir, change, now);
    return true;
  } catch (err) {
    process.stderr.write(describeError(err) + "\n");
    return false;
  }
}

function oneOf(target: string | undefined, all: boolean | undefined, verb: string): boolean {
  if ((target === undefined) !== !all) return true;
  usage(target === undefined ? "name a target, or --all" : "give a target or --all, not both", `medic ${verb} api --for 30m --reason "…", or medic ${verb} --all …`);
  return false;
}

function usage(message: string, hint: string): number {
  process.stderr.write(`${message} (hint: ${hint})\n`);
  return EXIT.badConfig;
}

function describeTarget(target: string): string {
  return target === "*" ? "all targets" : target;
}

function whoAmI(): string {
  try {
    return userInfo().username || "unknown";
  } catch {
    return "unknown"; // no passwd entry for the uid, as in some containers
  }
}
