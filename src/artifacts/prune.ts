import { readdir, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { ARTIFACTS_DIR, isIncidentId } from "./names.js";
import { TEMP_PREFIX, listArtifacts, type ArtifactLimits } from "./store.js";

/** What one pass of pruning removed. */
export interface PruneOutcome {
  /** Incidents whose artifacts were removed, and why. */
  removed: { incident: string; bytes: number; reason: "retention" | "total" }[];
  /** Bytes every incident's artifacts hold after the pass. */
  keptBytes: number;
}

// A temporary file older than this was left by a crash mid-write, not by a capture in progress.
const STALE_TEMP_MS = 3600_000;

/**
 * Removes the artifacts of closed incidents older than the retention, then, while every incident's
 * artifacts together exceed the total cap, the oldest closed incident's. An open incident's
 * artifacts are never removed: they are the evidence for an incident still being worked on.
 */
export async function pruneArtifacts(
  stateDir: string,
  limits: Pick<ArtifactLimits, "totalBytes" | "retentionMs">,
  open: ReadonlySet<string>,
  nowMs: number,
): Promise<PruneOutcome> {
  const root = join(stateDir, ARTIFACTS_DIR);
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { removed: [], keptBytes: 0 };
    throw err;
  }
  const folders: { incident: string; bytes: number; newestMs: number }[] = [];
  for (const incident of entries) {
    if (!isIncidentId(incident)) continue;
    const dir = join(root, incident);
    if (!(await stat(dir).catch(() => undefined))?.isDirectory()) continue;
    await removeStaleTemps(dir, nowMs);
    const files = await listArtifacts(dir);
    const dirMtime = (await stat(dir)).mtimeMs;
    folders.push({
      incident,
      bytes: files.reduce((sum, f) => sum + f.bytes, 0),
      newestMs: files.reduce((max, f) => Math.max(max, f.mtimeMs), dirMtime),
    });
  }
  folders.sort((a, b) => a.newestMs - b.newestMs);
  const removed: PruneOutcome["removed"] = [];
  let keptBytes = folders.reduce((sum, f) => sum + f.bytes, 0);
  for (const f of folders) {
    if (open.has(f.incident)) continue;
    const expired = f.newestMs < nowMs - limits.retentionMs;
    if (!expired && keptBytes <= limits.totalBytes) continue;
    await rm(join(root, f.incident), { recursive: true, force: true });
    removed.push({ incident: f.incident, bytes: f.bytes, reason: expired ? "retention" : "total" });
    keptBytes -= f.bytes;
  }
  return { removed, keptBytes };
}

async function removeStaleTemps(dir: string, nowMs: number): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st && st.mtimeMs < nowMs - STALE_TEMP_MS) await unlink(join(dir, name)).catch(() => undefined);
  }
}
