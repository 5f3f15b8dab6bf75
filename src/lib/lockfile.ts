import { fstatSync, linkSync, mkdirSync, openSync, closeSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { readFile, utimes } from "node:fs/promises";
import { join } from "node:path";
import { MedicError, errorCode } from "./errors.js";
import { describeOwner, judgeHolder, ownerNow, parseOwner } from "./lock-owner.js";
import type { Logger } from "./log.js";
import { isAliveNow, readArgvNow, readProcNow } from "./proc.js";

// One medic per state dir: two on one journal would both act. The lock is a file created with
// link(2) (atomic, on NFS too) holding an owner record (lock-owner.ts). A medic that can see the
// holder (same boot, same pid namespace) knows at once whether it is alive. One that cannot (another
// container on a shared volume, another host on a shared filesystem, a record from before a reboot)
// watches the holder's heartbeat: the holder touches the file every HEARTBEAT_MS. If the file's time
// moves, the holder is alive and this medic refuses to start; if it does not move for STALE_AFTER_MS,
// the holder is gone and the lock is taken over. Across hosts that needs no synchronised clocks: only
// a change is looked for.

/** The lock's file name in the state dir. */
export const LOCK_FILE = "medic.lock";
/** What medic before the owner record used: a bare pid. */
const LEGACY_FILE = "medic.pid";
/** How often the holder touches its lock. */
export const HEARTBEAT_MS = 5_000;
/** A lock not touched for this long, whose holder medic cannot see, is taken over. */
export const STALE_AFTER_MS = 20_000;
const POLL_MS = 250;
const TOOK_OVER = "took over the state dir lock of a medic that is gone";
const ATTEMPTS = 5;

/** How the lock is held; everything has a default. */
export interface LockOptions {
  log?: Logger;
  /** Called once if another medic's record replaces this one's (it judged this medic gone): stop acting. */
  onLost?: (why: string) => void;
  heartbeatMs?: number;
  staleAfterMs?: number;
}

/** Takes the state directory for this process; resolves to the release. Throws STATE_DIR_LOCKED while another medic holds it. */
export async function lockStateDir(stateDir: string, opts: LockOptions = {}): Promise<() => void> {
  const staleAfterMs = opts.staleAfterMs ?? STALE_AFTER_MS;
  mkdirSync(stateDir, { recursive: true });
  checkLegacy(stateDir, opts.log);
  const file = join(stateDir, LOCK_FILE);
  const me = ownerNow();
  const mine = `${JSON.stringify(me)}\n`;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (create(file, mine)) return hold(file, mine, opts);
    const held = readHeld(file);
    if (!held) continue; // released meanwhile
    const owner = parseOwner(held.text);
    // A record medic cannot read (cut short, written by hand) is judged like one it cannot see.
    const verdict = owner ? judgeHolder(owner, me, readProcNow(owner.pid)) : { kind: "unseen" as const, sameBoot: false };
    const who = owner ? describeOwner(owner) : `an unreadable record (${JSON.stringify(held.text.slice(0, 60))})`;
    if (verdict.kind === "alive") {
      throw new MedicError("STATE_DIR_LOCKED", `another medic (${who}) is using ${stateDir}`, {
        hint: "stop it first, or give this one its own stateDir",
      });
    }
    if (verdict.kind === "dead") {
      if (takeOver(file, held)) opts.log?.warn({ lock: file, holder: owner, why: verdict.why }, TOOK_OVER);
      continue;
    }
    const where = verdict.sameBoot
      ? "another pid namespace on this machine: a container"
      : "another host, or this machine before it last booted";
    opts.log?.warn(
      { lock: file, holder: owner ?? held.text.slice(0, 200), staleAfterMs },
      "state dir locked by a medic this one cannot see; waiting for its heartbeat",
    );
    const seen = await awaitHeartbeat(file, held, verdict.sameBoot, staleAfterMs);
    if (seen === "refreshed") {
      throw new MedicError("STATE_DIR_LOCKED", `another medic (${who}; ${where}) is using ${stateDir}: it refreshed its lock just now`, {
        hint:
          "stop that medic first, or give this one its own stateDir; a lock whose holder is gone is taken over " +
          `once it has not been refreshed for ${staleAfterMs / 1000} s`,
      });
    }
    if (seen === "stale" && takeOver(file, held)) {
      opts.log?.warn({ lock: file, holder: owner, why: `not refreshed for ${staleAfterMs / 1000} s (${where})` }, TOOK_OVER);
    }
  }
  throw new MedicError("STATE_DIR_LOCKED", `cannot lock ${stateDir}: ${file} keeps changing hands`, {
    hint: "several medics are starting on this state dir; stop all but one, or give each its own stateDir",
  });
}

interface Held {
  text: string;
  ino: number;
  mtimeMs: number;
}

/** Creates the lock holding `text` (complete the moment it appears); false when one exists. */
function create(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    writeFileSync(tmp, text, { flag: "wx", mode: 0o644 });
    try {
      linkSync(tmp, file);
      return true;
    } catch (err) {
      const code = errorCode(err);
      if (code === "EEXIST") return false;
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw err;
      // A filesystem without hard links: exclusive create (a reader may see it empty for a moment).
      writeFileSync(file, text, { flag: "wx", mode: 0o644 });
      return true;
    }
  } catch (err) {
    if (errorCode(err) === "EEXIST") return false;
    throw new MedicError("STATE_DIR_LOCK_FAILED", `cannot create ${file}: ${errorCode(err, "EIO")}`, {
      hint: "make the state dir writable by the user medic runs as",
      cause: err,
    });
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** The lock's record with its inode and time, read through one descriptor; undefined when there is none. */
function readHeld(file: string): Held | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    return { text: readFileSync(fd, "utf8"), ino: st.ino, mtimeMs: st.mtimeMs };
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes the lock judged stale, and only it: moved aside first, then checked. If it is not the
 * record judged (another medic took over meanwhile), it is put back. True when it was removed.
 */
function takeOver(file: string, judged: Held): boolean {
  const aside = `${file}.stale.${process.pid}.${Math.random().toString(36).slice(2)}`;
  try {
    renameSync(file, aside);
  } catch {
    return false; // gone already
  }
  const moved = readHeld(aside);
  if (moved && moved.ino === judged.ino && moved.text === judged.text) {
    rmSync(aside, { force: true });
    return true;
  }
  try {
    linkSync(aside, file);
  } catch {
    // Its owner wrote it again meanwhile (its heartbeat saw it missing): nothing to restore.
  }
  rmSync(aside, { force: true });
  return false;
}

/** Watches an unseen holder's lock: its time moves (refreshed), it changes hands (changed), or neither for staleAfterMs (stale). */
async function awaitHeartbeat(
  file: string,
  held: Held,
  sameBoot: boolean,
  staleAfterMs: number,
): Promise<"refreshed" | "changed" | "stale"> {
  // On the same machine the file's time and ours come from one clock: its age counts. Elsewhere only a change does.
  const deadline = sameBoot ? held.mtimeMs + staleAfterMs : Date.now() + staleAfterMs;
  for (;;) {
    if (Date.now() >= deadline) return "stale";
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))));
    const now = readHeld(file);
    if (!now || now.ino !== held.ino || now.text !== held.text) return "changed";
    if (now.mtimeMs !== held.mtimeMs) return "refreshed";
  }
}

/** Keeps the lock fresh and watches that it is still this medic's; returns the release. */
function hold(file: string, mine: string, opts: LockOptions): () => void {
  let done = false;
  const beat = async (): Promise<void> => {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      // The state dir was removed or mounted over: claim it again (the state dir watch reports the trouble).
      if (errorCode(err) === "ENOENT" && !done) {
        try {
          if (create(file, mine)) opts.log?.warn({ lock: file }, "the state dir lock was missing; wrote it again");
        } catch {
          // not writable now; the next beat tries again
        }
      }
      return;
    }
    if (done) return;
    if (text !== mine) {
      done = true;
      clearInterval(timer);
      const other = parseOwner(text);
      opts.onLost?.(`${file} now names ${other ? `another medic (${describeOwner(other)})` : "no medic"}`);
      return;
    }
    const now = new Date();
    await utimes(file, now, now).catch(() => {});
  };
  const timer = setInterval(() => void beat(), opts.heartbeatMs ?? HEARTBEAT_MS);
  // The heartbeat follows the daemon; it must not be what keeps the process alive.
  timer.unref();
  return () => {
    if (done) return;
    done = true;
    clearInterval(timer);
    try {
      if (readFileSync(file, "utf8") === mine) rmSync(file, { force: true });
    } catch {
      // gone already
    }
  };
}

/** A bare-pid lock from an older medic: refused while that pid is a medic here, else removed. */
function checkLegacy(stateDir: string, log: Logger | undefined): void {
  const file = join(stateDir, LEGACY_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return;
  }
  const pid = Number(text.trim());
  const argv = Number.isInteger(pid) && pid > 1 && pid !== process.pid && isAliveNow(pid) ? readArgvNow(pid) : undefined;
  if (argv?.some((a) => a.includes("medic"))) {
    throw new MedicError("STATE_DIR_LOCKED", `an older medic (pid ${pid}) may be using ${stateDir} (its lock is ${file})`, {
      hint: `stop it first; if pid ${pid} is not a medic, remove ${file}`,
    });
  }
  rmSync(file, { force: true });
  log?.warn({ lock: file, pid }, "removed the lock of an older medic that is gone");
}
