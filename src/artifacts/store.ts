import { createHash, randomBytes } from "node:crypto";
import { chmod, link, mkdir, open, readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { MedicError } from "../lib/errors.js";
import { redactor as processRedactor, type Redactor } from "../lib/redact.js";
import type { ArtifactSink } from "../playbooks/types.js";
import type { ArtifactRef } from "../services/types.js";
import { readText, take, unlinkIfSame } from "./adopt.js";
import { excerptOf } from "./excerpt.js";
import type { ArtifactLimits } from "./limits.js";
import { ARTIFACTS_DIR, isExt, isIncidentId, isStem, sequenceOf } from "./names.js";

/** The folder that holds one incident's artifacts. */
export function incidentArtifactDir(stateDir: string, incident: string): string {
  if (!isIncidentId(incident)) throw new MedicError("ARTIFACT_INCIDENT", `not an incident id: ${JSON.stringify(incident)}`);
  return join(stateDir, ARTIFACTS_DIR, incident);
}

/** Options for one incident's sink. */
export interface SinkOptions {
  stateDir: string;
  incident: string;
  limits: ArtifactLimits;
  /** Redacts text before it is written (default: the process's redactor). */
  redactor?: Redactor;
}

const TEMP_PREFIX = ".tmp-";

/**
 * The ArtifactSink of one incident: files under `<stateDir>/artifacts/<incident>/`, mode 0600 in a
 * 0700 folder, each written under a temporary name and linked into place under a fresh name, so a
 * reader never sees half an artifact and two captures never take the same name.
 */
export function createArtifactSink(opts: SinkOptions): ArtifactSink {
  const dir = incidentArtifactDir(opts.stateDir, opts.incident);
  const redactor = opts.redactor ?? processRedactor;
  const relative = (name: string) => join(ARTIFACTS_DIR, opts.incident, name);

  const sink: ArtifactSink = {
    maxBytes: opts.limits.maxBytes,

    async save(stem, data, o = {}) {
      const ext = checkName(stem, o.ext ?? (o.binary ? "bin" : "txt"));
      await ensureDir(opts.stateDir, dir);
      const cap = await roomFor(dir, opts);
      const binary = Buffer.isBuffer(data) && o.binary === true;
      const text = binary ? undefined : redactor.text(Buffer.isBuffer(data) ? data.toString("utf8") : data);
      const whole = text === undefined ? (data as Buffer) : Buffer.from(text, "utf8");
      const kept = cut(whole, cap, o.keep ?? "head", !binary);
      const tmp = join(dir, TEMP_PREFIX + randomBytes(6).toString("hex"));
      const handle = await open(tmp, "wx", 0o600);
      try {
        await handle.writeFile(kept);
        await handle.sync();
      } finally {
        await handle.close();
      }
      const name = await publish(dir, tmp, stem, ext);
      return {
        name,
        path: relative(name),
        bytes: kept.length,
        sha256: createHash("sha256").update(kept).digest("hex"),
        truncated: kept.length < whole.length,
        ...(text === undefined ? {} : { excerpt: excerptOf(kept.toString("utf8"), o.keep ?? "head") }),
      } satisfies ArtifactRef;
    },

    async adopt(stem, file, o = {}) {
      if (o.redact) {
        const text = await readText(file, opts.limits.maxBytes);
        if (text !== undefined) {
          const ref = await sink.save(stem, text.text, { ext: o.ext ?? "txt" });
          // The original goes only when all of it was kept and it is still the file read; otherwise it stays whole.
          if (!text.cut && !ref.truncated) await unlinkIfSame(file, text.stat);
          return text.cut ? { ...ref, truncated: true } : ref;
        }
      }
      const ext = checkName(stem, o.ext ?? "bin");
      await ensureDir(opts.stateDir, dir);
      const cap = await roomFor(dir, opts);
      const tmp = join(dir, TEMP_PREFIX + randomBytes(6).toString("hex"));
      const kept = await take(file, tmp, cap);
      const name = await publish(dir, tmp, stem, ext);
      return { name, path: relative(name), bytes: kept.bytes, sha256: kept.sha256, truncated: kept.truncated } satisfies ArtifactRef;
    },
  };
  return sink;
}

function checkName(stem: string, ext: string): string {
  if (!isStem(stem)) throw new MedicError("ARTIFACT_NAME", `not an artifact stem: ${JSON.stringify(stem)}`, { hint: "like logs or heap" });
  if (!isExt(ext)) throw new MedicError("ARTIFACT_NAME", `not an artifact extension: ${JSON.stringify(ext)}`, { hint: "like txt" });
  return ext;
}

async function ensureDir(stateDir: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is filtered by the umask, and an existing folder keeps whatever mode it had.
  await chmod(join(stateDir, ARTIFACTS_DIR), 0o700);
  await chmod(dir, 0o700);
}

/**
 * The bytes the next artifact may hold: the per-artifact cap, or what is left of the incident's, or
 * of everything's (pruning frees only closed incidents' evidence: many open ones at once must not fill the disk).
 */
async function roomFor(dir: string, opts: SinkOptions): Promise<number> {
  const used = (await listArtifacts(dir)).reduce((sum, f) => sum + f.bytes, 0);
  const left = opts.limits.incidentBytes - used;
  if (left <= 0) {
    throw new MedicError(
      "ARTIFACTS_FULL",
      `incident ${opts.incident} already keeps ${used} bytes of artifacts, its cap (artifacts.incidentBytes ${opts.limits.incidentBytes})`,
      { hint: "raise artifacts.incidentBytes in medic.yaml, or capture less (lines:, maxBytes:)" },
    );
  }
  const root = join(opts.stateDir, ARTIFACTS_DIR);
  const incidents = await readdir(root).catch(() => [] as string[]);
  let all = 0;
  for (const incident of incidents) all += (await listArtifacts(join(root, incident))).reduce((sum, f) => sum + f.bytes, 0);
  const leftInAll = opts.limits.totalBytes - all;
  if (leftInAll <= 0) {
    throw new MedicError(
      "ARTIFACTS_FULL",
      `medic already keeps ${all} bytes of artifacts, its total cap (artifacts.totalBytes ${opts.limits.totalBytes}), most of it for open incidents`,
      { hint: "raise artifacts.totalBytes in medic.yaml, or capture less" },
    );
  }
  return Math.min(opts.limits.maxBytes, left, leftInAll);
}

/** At most `cap` bytes of `data`: its head, or its tail from a line start; never half a UTF-8 character. */
function cut(data: Buffer, cap: number, keep: "head" | "tail", text: boolean): Buffer {
  if (data.length <= cap) return data;
  if (keep === "head") {
    let end = cap;
    // 0b10xxxxxx is a continuation byte: back off to the start of the character it belongs to.
    if (text) while (end > 0 && (data[end]! & 0xc0) === 0x80) end--;
    return data.subarray(0, end);
  }
  let start = data.length - cap;
  if (text) {
    const newline = data.indexOf(0x0a, start);
    // A partial first line says nothing; drop it unless it is all there is.
    if (newline !== -1 && newline < data.length - 1) start = newline + 1;
    else while (start < data.length && (data[start]! & 0xc0) === 0x80) start++;
  }
  return data.subarray(start);
}

/** Links `tmp` in under the next free `<stem>-<n>.<ext>` (link fails on an existing name) and drops `tmp`. */
async function publish(dir: string, tmp: string, stem: string, ext: string): Promise<string> {
  let n = (await listArtifacts(dir)).reduce((max, f) => Math.max(max, sequenceOf(f.name)), 0) + 1;
  for (;;) {
    const name = `${stem}-${n}.${ext}`;
    try {
      await link(tmp, join(dir, name));
      await unlink(tmp);
      return name;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        await unlink(tmp).catch(() => undefined);
        throw err;
      }
      n++;
    }
  }
}

/** One file in an incident's folder. */
export interface StoredFile {
  name: string;
  bytes: number;
  mtimeMs: number;
}

/** The artifacts in one incident's folder (temporary files left out); none when it does not exist. */
export async function listArtifacts(dir: string): Promise<StoredFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const files: StoredFile[] = [];
  for (const name of names) {
    if (name.startsWith(TEMP_PREFIX)) continue;
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st?.isFile()) files.push({ name, bytes: st.size, mtimeMs: st.mtimeMs });
  }
  return files;
}

export { TEMP_PREFIX };
export type { ArtifactLimits } from "./limits.js";
export { ARTIFACT_DEFAULTS } from "./limits.js";
