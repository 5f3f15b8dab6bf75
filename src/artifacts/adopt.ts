import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { chmod, open, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { MedicError } from "../lib/errors.js";

// Taking in a file a service wrote (a dump): moved when it can be, copied when it must, hashed as kept.

/** A file's first `cap` bytes as UTF-8 text, or undefined when they are not text (a binary dump is kept as it is). */
export async function readText(file: string, cap: number): Promise<{ text: string; cut: boolean } | undefined> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new MedicError("ARTIFACT_SOURCE", `${file} is not a regular file`, { hint: "a capture adopts only files" });
    const buffer = Buffer.alloc(Math.min(st.size, cap));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const head = buffer.subarray(0, bytesRead);
    try {
      // A cut may split the last character: it is dropped, not a reason to call the file binary.
      const text = new TextDecoder("utf-8", { fatal: true }).decode(st.size > cap ? trimPartial(head) : head);
      return { text, cut: st.size > bytesRead };
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
 * Moves a file the service wrote into `tmp` when it fits (rename on one filesystem, else a copy and
 * an unlink), or copies its first `cap` bytes and leaves the original where it is, since a cut dump
 * is not the whole evidence. A symlink or anything but a regular file is refused.
 */
export async function take(file: string, tmp: string, cap: number): Promise<{ bytes: number; sha256: string; truncated: boolean }> {
  const source = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await source.stat();
    if (!st.isFile()) throw new MedicError("ARTIFACT_SOURCE", `${file} is not a regular file`, { hint: "a capture adopts only files" });
    if (st.size <= cap) {
      const moved = `${tmp}.in`;
      try {
        await rename(file, moved);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      }
      if (await stat(moved).catch(() => undefined)) {
        try {
          await chmod(moved, 0o600);
          await rename(moved, tmp);
          return await hashFile(tmp, cap);
        } catch (err) {
          // Another user's file (the service runs as someone else): medic keeps its own copy, 0600.
          if ((err as NodeJS.ErrnoException).code !== "EPERM") throw err;
          const copied = await copyHeadOf(moved, tmp, cap);
          await unlink(moved).catch(() => undefined);
          return copied;
        }
      }
    }
    const copied = await copyHead(source, tmp, cap);
    if (!copied.truncated) await unlink(file).catch(() => undefined);
    return copied;
  } finally {
    await source.close();
  }
}

/** The hash of a file moved in, cut at `cap` if it grew after it was measured. */
async function hashFile(path: string, cap: number): Promise<{ bytes: number; sha256: string; truncated: boolean }> {
  const handle = await open(path, "r+");
  try {
    const size = (await handle.stat()).size;
    const truncated = size > cap;
    if (truncated) await handle.truncate(cap);
    const hash = createHash("sha256");
    const buffer = Buffer.alloc(1024 * 1024);
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { bytes, sha256: hash.digest("hex"), truncated };
  } finally {
    await handle.close();
  }
}

async function copyHeadOf(path: string, tmp: string, cap: number): Promise<{ bytes: number; sha256: string; truncated: boolean }> {
  const source = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await copyHead(source, tmp, cap);
  } finally {
    await source.close();
  }
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
