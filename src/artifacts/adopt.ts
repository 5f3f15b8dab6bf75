import { createHash } from "node:crypto";
import { constants } from "node:fs";
import type { Stats } from "node:fs";
import { lstat, open, unlink, type FileHandle } from "node:fs/promises";
import { MedicError } from "../lib/errors.js";

// Taking in a file a service wrote (a dump): copied through a descriptor that follows no link, hashed as kept.

/** A file's first `cap` bytes as UTF-8 text, or undefined when they are not text (a binary dump is kept as it is). */
export async function readText(file: string, cap: number): Promise<{ text: string; cut: boolean; stat: Stats } | undefined> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new MedicError("ARTIFACT_SOURCE", `${file} is not a regular file`, { hint: "a capture adopts only files" });
    if (st.size === 0) throw new MedicError("ARTIFACT_SOURCE", `${file} is empty`, { hint: "the dump was not written yet; raise settle:" });
    const buffer = Buffer.alloc(Math.min(st.size, cap));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const head = buffer.subarray(0, bytesRead);
    try {
      // A cut may split the last character: it is dropped, not a reason to call the file binary.
      const text = new TextDecoder("utf-8", { fatal: true }).decode(st.size > cap ? trimPartial(head) : head);
      return { text, cut: st.size > bytesRead, stat: st };
    } catch {
      return undefined;
    }
  } finally {
    await handle.close();
  }
}

function trimPartial(data: Buffer): Buffer {
  let end = data.length;
  while (end > 0 && end > data.length - 4 && (data[end - 1]! & 0xc0) === 0x80) end--;
  if (end > 0 && data[end - 1]! >= 0xc0) end--;
  return data.subarray(0, end);
}

/**
 * Copies a file the service wrote into `tmp` (its first `cap` bytes) through the one descriptor
 * opened without following links, so a file swapped for a symlink meanwhile is never touched; the
 * original is removed only when all of it was kept and the same file, unchanged, is still there. A
 * symlink, anything but a regular file, and an empty file (a dump not written yet) are refused.
 */
export async function take(file: string, tmp: string, cap: number): Promise<{ bytes: number; sha256: string; truncated: boolean }> {
  const source = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await source.stat();
    if (!st.isFile()) throw new MedicError("ARTIFACT_SOURCE", `${file} is not a regular file`, { hint: "a capture adopts only files" });
    if (st.size === 0) throw new MedicError("ARTIFACT_SOURCE", `${file} is empty`, { hint: "the dump was not written yet; raise settle:" });
    const copied = await copyHead(source, tmp, cap);
    if (!copied.truncated && copied.bytes === st.size) await unlinkIfSame(file, st);
    return copied;
  } finally {
    await source.close();
  }
}

/** Removes `file` only if it is still the very file measured as `was` (same device, inode, size and mtime). */
export async function unlinkIfSame(file: string, was: { dev: number; ino: number; size: number; mtimeMs: number }): Promise<void> {
  const now = await lstat(file).catch(() => undefined);
  if (now && now.dev === was.dev && now.ino === was.ino && now.size === was.size && now.mtimeMs === was.mtimeMs)
    await unlink(file).catch(() => undefined);
}

async function copyHead(source: FileHandle, tmp: string, cap: number): Promise<{ bytes: number; sha256: string; truncated: boolean }> {
  const target = await open(tmp, "wx", 0o600);
  const hash = createHash("sha256");
  const buffer = Buffer.alloc(1024 * 1024);
  let bytes = 0;
  let truncated = false;
  try {
    for (;;) {
      const { bytesRead } = await source.read(buffer, 0, Math.min(buffer.length, cap - bytes + 1), bytes);
      if (bytesRead === 0) break;
      const take = Math.min(bytesRead, cap - bytes);
      if (take < bytesRead) truncated = true;
      await target.write(buffer, 0, take);
      hash.update(buffer.subarray(0, take));
      bytes += take;
      if (truncated) break;
    }
    await target.sync();
  } finally {
    await target.close();
  }
  return { bytes, sha256: hash.digest("hex"), truncated };
}
