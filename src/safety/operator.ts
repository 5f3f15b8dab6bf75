import { randomBytes } from "node:crypto";
import type { Config } from "../config/types.js";
import { SAFE_NAME } from "../config/fields.js";
import { parseDuration } from "../lib/duration.js";
import { RESERVED_KEYS, updateControls } from "./controls.js";
import type { Pause } from "./types.js";

// What an operator may tell the running daemon (pause, resume, guard reset), checked and written
// the same way whether it comes from the CLI or the HTTP API; only the wording of fields differs.

/** The longest pause: a pause always expires. */
export const MAX_PAUSE_MS = 7 * 86_400_000;
/** The longest pause reason. */
export const MAX_REASON = 500;

/** Something an operator asked for that cannot be done, said so they can fix it. */
export interface Refusal {
  message: string;
  hint: string;
}

/** How the caller names the fields in messages: `--for` on the CLI, `"for"` in the API. */
export interface FieldNames {
  for: string;
  reason: string;
  /** An example of a good `for`, like `--for 30m, or --for 2h`. */
  forExample: string;
  reasonExample: string;
}

/** The pause to write, or why the request is refused. */
export function checkPause(
  req: { target: string; for?: string | undefined; reason?: string | undefined; by: string },
  names: FieldNames,
  now: number,
): Pause | Refusal {
  const forMs = req.for === undefined ? undefined : parseDuration(req.for);
  if (forMs === undefined || forMs <= 0 || forMs > MAX_PAUSE_MS) {
    const got = req.for === undefined ? "it is missing" : `got "${req.for}"`;
    return {
      message: `${names.for} must be a duration above 0 and at most 7d (${got})`,
      hint: `a pause always expires: like ${names.forExample}`,
    };
  }
  const reason = req.reason?.trim() ?? "";
  if (!reason || reason.length > MAX_REASON || /[\u0000-\u001f\u007f]/.test(reason)) {
    return {
      message: `${names.reason} must be one line of 1-${MAX_REASON} characters`,
      hint: `say why, for whoever wonders later: ${names.reasonExample}`,
    };
  }
  return { id: randomBytes(4).toString("hex"), target: req.target, from: now, until: now + forMs, reason, by: req.by };
}

/** Whether `x` is a refusal rather than a result. */
export function isRefusal(x: unknown): x is Refusal {
  return typeof x === "object" && x !== null && "message" in x && "hint" in x;
}

/** What checking a target name needs: the configured names, and whether discovery may add more. */
export interface KnownTargets {
  names: readonly string[];
  discovers: boolean;
}

/** The targets a config names. */
export function knownTargets(config: Pick<Config, "targets" | "discovery">): KnownTargets {
  return { names: config.targets.map((t) => t.name), discovers: Object.values(config.discovery ?? {}).some((d) => d !== undefined) };
}

/**
 * Whether the name is a target medic watches or may discover. `note` is set when it is accepted
 * only because discovery may find it.
 */
export function checkTarget(known: KnownTargets, name: string): { note?: string } | Refusal {
  if (known.names.includes(name)) return {};
  if (known.discovers) {
    if (SAFE_NAME.test(name) && !RESERVED_KEYS.has(name))
      return { note: `"${name}" is not in the config; it applies if discovery finds a target by that name` };
    return { message: `"${name}" is not a target name`, hint: `1-128 of letters, digits and ._@:-, not starting with "-"` };
  }
  return {
    message: `unknown target "${name}"`,
    hint: known.names.length > 0 ? `one of ${known.names.join(", ")}` : "the config has no targets",
  };
}

/** Writes a pause into the state directory's controls (throws MedicError when it cannot). */
export function addPause(stateDir: string, pause: Pause, now: number): void {
  updateControls(stateDir, (c) => void c.pauses.push(pause), now);
}

/** Ends the active pauses that match (no target: any target's); returns what ended and what is left. */
export function endPauses(
  stateDir: string,
  match: { target?: string | undefined; id?: string | undefined },
  now: number,
): { removed: Pause[]; left: Pause[] } {
  const matches = (p: Pause) => (match.target === undefined || p.target === match.target) && (match.id === undefined || p.id === match.id);
  let removed: Pause[] = [];
  let left: Pause[] = [];
  updateControls(
    stateDir,
    (c) => {
      removed = c.pauses.filter((p) => p.until > now && matches(p));
      left = c.pauses.filter((p) => p.until > now && !matches(p));
      c.pauses = left;
    },
    now,
  );
  return { removed, left };
}

/** Why nothing matched a resume: the hint names a pause on all targets that still holds the target. */
export function nothingToResume(
  match: { target?: string | undefined; id?: string | undefined },
  left: Pause[],
  resumeById: (id: string) => string,
  listHint: string,
): Refusal {
  const what = [match.target && `on ${match.target}`, match.id && `with id ${match.id}`].filter(Boolean).join(" ");
  const all = match.target !== undefined && left.find((p) => p.target === "*");
  const hint = all ? `${match.target} is held by a pause on all targets (${all.id}): ${resumeById(all.id)}` : listHint;
  return { message: `no active pause ${what || "at all"}`, hint };
}

/** The flap guard on the target forgets its runs before `now`. */
export function resetGuard(stateDir: string, target: string, now: number): void {
  updateControls(stateDir, (c) => void (c.guardResets[target] = now), now);
}
