import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IncidentEvent } from "../../incidents/types.js";
import type { Logger } from "../../lib/log.js";
import { openFileStore } from "./open.js";
import type { FileStoreOptions } from "./options.js";

// Shared by the file store's tests: temp dirs, a clock the test moves, a log it reads, events.

const dirs: string[] = [];

/** A fresh state dir under the system temp dir; `removeTempDirs()` (afterEach) removes them. */
export function tempStateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "medic-store-"));
  dirs.push(d);
  return join(d, "state");
}

/** Removes the temp dirs made so far. */
export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A clock that moves only when the test says. */
export function manualClock(start = 1_700_000_000_000): { now(): number; set(t: number): void; advance(ms: number): void } {
  let t = start;
  return { now: () => t, set: (v) => (t = v), advance: (ms) => (t += ms) };
}

/** A logger that keeps what it was told (message and fields). */
export function memoryLog(): { log: Logger; lines: { level: string; msg: string; fields: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => void lines.push({ level, msg, fields });
  const log = { info: at("info"), warn: at("warn"), error: at("error"), debug: at("debug") } as unknown as Logger;
  return { log, lines };
}

/** An incident opening on a target. */
export function opened(target: string, extra: Partial<Extract<IncidentEvent, { type: "opened" }>> = {}): IncidentEvent {
  return { type: "opened", target, kind: "server_down", severity: "P1", evidence: `${target} refused`, ...extra };
}

/** Its resolve. */
export const resolved: IncidentEvent = { type: "resolved", reason: "healthy for 2 rounds" };

/** Opens a file store with no timer (the test calls maintain) and a one-hour window. */
export function openStore(stateDir: string, opts: Partial<FileStoreOptions> = {}) {
  return openFileStore({ stateDir, recentMs: 3600_000, maintainEveryMs: 0, ...opts });
}
