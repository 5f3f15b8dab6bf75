import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { SAFE_NAME } from "../config/fields.js";
import { describeError, MedicError } from "../lib/errors.js";
import type { Controls } from "./types.js";

/** The controls' file name inside the state directory. */
export const CONTROLS_FILE = "controls.json";

/** Names that would reach an object's prototype if used as a key. */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

const targetName = z
  .string()
  .regex(SAFE_NAME, "must be a target name")
  .refine((n) => !RESERVED_KEYS.has(n), "is a reserved name");
const pauseSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 letters, digits, _ or -"),
  target: z.union([z.literal("*"), targetName]),
  from: z.number(),
  until: z.number(),
  reason: z
    .string()
    .max(500)
    .regex(/^[^\r\n]*$/, "must be one line"),
  by: z.string().max(256),
});
const oneLine = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\r\n]*$/, "must be one line");
const answerSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 letters, digits, _ or -"),
  incident: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be an incident id"),
  runId: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, "must be a run id"),
  index: z.number().int().min(0).max(1000),
  decision: z.enum(["approved", "rejected"]),
  by: oneLine(256),
  reason: oneLine(500).optional(),
  at: z.number(),
});
// Unknown keys are dropped, not refused, so an older medic still reads a newer medic's file.
const controlsSchema = z.object({
  pauses: z.array(pauseSchema).max(10_000).default([]),
  guardResets: z.record(targetName, z.number()).default({}),
  answers: z.array(answerSchema).max(10_000).default([]),
});

/** An answer is kept this long after it was given: long past any question it can answer (the journal keeps what it did). */
export const ANSWER_KEPT_MS = 86_400_000;

const HINT = `it is written by medic pause, resume, guard reset, approve and reject: fix it, or delete it to drop every pause, guard reset and answer`;

/** Several nodes' controls as one: every pause (once per id), and the latest reset of each target's guard. */
export function mergeControls(all: readonly Controls[]): Controls {
  const merged = emptyControls();
  const ids = new Set<string>();
  for (const c of all) {
    for (const p of c.pauses) {
      if (ids.has(p.id)) continue;
      ids.add(p.id);
      merged.pauses.push(p);
    }
    for (const [target, at] of Object.entries(c.guardResets)) merged.guardResets[target] = Math.max(merged.guardResets[target] ?? 0, at);
    merged.answers.push(...c.answers.filter((a) => !merged.answers.some((b) => b.id === a.id)));
  }
  merged.answers.sort((a, b) => a.at - b.at);
  return merged;
}

/** No pauses, no guard resets. */
export function emptyControls(): Controls {
  return { pauses: [], guardResets: nullProto({}), answers: [] };
}

/** The controls in the state directory; none when the file is missing. Throws MedicError when it is unreadable or malformed. */
export function readControls(stateDir: string): Controls {
  const file = join(stateDir, CONTROLS_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return emptyControls();
    throw new MedicError("CONTROLS_READ", `cannot read ${file}: ${describeError(cause)}`, {
      cause,
      hint: "make the state directory readable by medic's user",
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw new MedicError("CONTROLS_INVALID", `${file} is not valid JSON: ${describeError(cause)}`, { cause, hint: HINT });
  }
  return parseControls(data, `${file} is malformed`);
}

/**
 * Reads the controls, applies `change`, drops expired pauses and writes the file atomically (a temp
 * file, fsync, rename, fsync of the directory), so the daemon reads the old file or the new one,
 * never half of one. A lock file keeps two commands from losing each other's change.
 */
export function updateControls(stateDir: string, change: (c: Controls) => void, now = Date.now()): Controls {
  const file = join(stateDir, CONTROLS_FILE);
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o750 });
  } catch (cause) {
    throw new MedicError("CONTROLS_WRITE", `cannot create the state directory ${stateDir}: ${describeError(cause)}`, {
      cause,
      hint: "run this as the user medic runs as, or set stateDir to a writable directory",
    });
  }
  const unlock = lock(file);
  try {
    const controls = readControls(stateDir);
    change(controls);
    controls.pauses = controls.pauses.filter((p) => p.until > now);
    controls.answers = controls.answers.filter((a) => a.at > now - ANSWER_KEPT_MS);
    const checked = parseControls(controls, `refusing to write ${file}`);
    writeAtomically(file, JSON.stringify(checked, null, 2) + "\n");
    return checked;
  } finally {
    unlock();
  }
}

/** The controls file as the daemon sees it: re-read when it changes on disk, the last good version kept when it breaks. */
export class ControlsFile {
  private readonly file: string;
  private controls = emptyControls();
  // (ino, size, mtime) of the version on disk last looked at: rename gives every write a new inode.
  private version: string | undefined;
  private pending: string | undefined;

  /** Reads the file at once; a problem with it is reported by the first refresh(). */
  constructor(private readonly stateDir: string) {
    this.file = join(stateDir, CONTROLS_FILE);
    this.pending = this.refresh().error;
  }

  /** The controls last read well. */
  current(): Controls {
    return this.controls;
  }

  /** Re-reads the file if it changed on disk; an error is returned once per bad version, and the last good controls stay. */
  refresh(): { changed: boolean; error?: string } {
    if (this.pending !== undefined) {
      const error = this.pending;
      this.pending = undefined;
      return { changed: false, error };
    }
    let version: string;
    try {
      const st = statSync(this.file);
      version = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      version = code === "ENOENT" ? "absent" : `unreadable:${code}`;
      if (version === this.version) return { changed: false };
      this.version = version;
      if (code === "ENOENT") return this.replace(emptyControls());
      return { changed: false, error: `cannot read ${this.file}: ${describeError(err)}` };
    }
    if (version === this.version) return { changed: false };
    this.version = version;
    try {
      return this.replace(readControls(this.stateDir));
    } catch (err) {
      return { changed: false, error: describeError(err) };
    }
  }

  private replace(next: Controls): { changed: boolean } {
    const changed = JSON.stringify(next) !== JSON.stringify(this.controls);
    this.controls = next;
    return { changed };
  }
}

/** Controls from elsewhere (another node's, through a cluster's store) checked as the file is; throws MedicError. */
export function parseControls(data: unknown, what: string): Controls {
  // zod skips a "__proto__" key without a word; say so instead of dropping a reset silently.
  const resets = (data as { guardResets?: unknown } | null)?.guardResets;
  if (typeof resets === "object" && resets !== null && Object.hasOwn(resets, "__proto__")) {
    throw new MedicError("CONTROLS_INVALID", `${what}: guardResets.__proto__: is a reserved name`, { hint: HINT });
  }
  const parsed = controlsSchema.safeParse(data);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => {
      // A bad record key's own reason sits one level down ("Invalid key in record" says little).
      const message = i.code === "invalid_key" ? (i.issues[0]?.message ?? i.message) : i.message;
      return `${i.path.map(String).join(".") || "(top level)"}: ${message}`;
    });
    throw new MedicError("CONTROLS_INVALID", `${what}: ${issues.join("; ")}`, { hint: HINT });
  }
  // A null prototype: a target named "constructor" must not find Object's own.
  const answers = parsed.data.answers.map(({ reason, ...a }) => ({ ...a, ...(reason !== undefined && { reason }) }));
  return { pauses: parsed.data.pauses, guardResets: nullProto(parsed.data.guardResets), answers };
}

function nullProto(record: Record<string, number>): Record<string, number> {
  const out = Object.create(null) as Record<string, number>;
  for (const [key, value] of Object.entries(record)) out[key] = value;
  return out;
}

function writeAtomically(file: string, text: string): void {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    // Readable by all within the 0750 state dir: the daemon may run as another user than the operator.
    const fd = openSync(temp, "wx", 0o644);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
    const dir = openSync(dirname(file), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (cause) {
    rmSync(temp, { force: true });
    throw new MedicError("CONTROLS_WRITE", `cannot write ${file}: ${describeError(cause)}`, {
      cause,
      hint: "run this as the user medic runs as, or make the state directory writable",
    });
  }
}

const LOCK_WAIT_MS = 5_000;
const LOCK_STALE_MS = 30_000;

// Commands hold the lock for milliseconds: one older than LOCK_STALE_MS was left by a crash.
function lock(file: string): () => void {
  const lockFile = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      closeSync(openSync(lockFile, "wx", 0o644));
      return () => rmSync(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new MedicError("CONTROLS_WRITE", `cannot create ${lockFile}: ${describeError(err)}`, {
          cause: err,
          hint: "run this as the user medic runs as, or make the state directory writable",
        });
      }
    }
    const age = lockAge(lockFile);
    if (age !== undefined && age > LOCK_STALE_MS) rmSync(lockFile, { force: true });
    else if (Date.now() > deadline) {
      throw new MedicError("CONTROLS_BUSY", `${lockFile} is held by another medic command`, {
        retryable: true,
        hint: "try again; if no medic pause, resume or guard command is running, delete the lock file",
      });
    } else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

function lockAge(lockFile: string): number | undefined {
  try {
    return Date.now() - statSync(lockFile).mtimeMs;
  } catch {
    return undefined;
  }
}
