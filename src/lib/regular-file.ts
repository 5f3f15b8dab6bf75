import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { open } from "node:fs/promises";

/** Why a file could not be read: a stable code, what is wrong with it ("file not found"), what to do. */
export interface FileProblem {
  code: string;
  reason: string;
  hint: string;
}

/** A file's text and permission bits, or why it cannot be read. */
export type FileText = { ok: true; text: string; mode: number } | { ok: false; problem: FileProblem };

// O_NONBLOCK: opening a FIFO for reading must not wait for a writer; regular files ignore the flag.
const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/**
 * The UTF-8 text of a regular file of at most `maxBytes`. Anything else (a FIFO that would block,
 * a device like /dev/zero that never ends, a directory, a socket) is refused without reading it,
 * and so is a longer file, counted as it is read (files in /proc claim to be empty).
 */
export async function readRegularFile(path: string, maxBytes: number): Promise<FileText> {
  let handle;
  try {
    handle = await open(path, FLAGS);
  } catch (err) {
    return { ok: false, problem: openProblem(err) };
  }
  try {
    const st = await handle.stat();
    const kind = notRegular(st);
    if (kind) return { ok: false, problem: kind };
    const buffer = Buffer.alloc(Math.min(maxBytes + 1, 64 * 1024));
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size > maxBytes) return { ok: false, problem: tooLarge(maxBytes) };
      chunks.push(Buffer.from(buffer.subarray(0, bytesRead)));
    }
    return { ok: true, text: Buffer.concat(chunks).toString("utf8"), mode: st.mode };
  } catch (err) {
    return { ok: false, problem: openProblem(err) };
  } finally {
    await handle.close();
  }
}

/** readRegularFile, synchronously: for what is read once at start-up outside async code (the API token). */
export function readRegularFileSync(path: string, maxBytes: number): FileText {
  let fd: number;
  try {
    fd = openSync(path, FLAGS);
  } catch (err) {
    return { ok: false, problem: openProblem(err) };
  }
  try {
    const st = fstatSync(fd);
    const kind = notRegular(st);
    if (kind) return { ok: false, problem: kind };
    const buffer = Buffer.alloc(maxBytes + 1);
    let size = 0;
    for (let n; (n = readSync(fd, buffer, size, buffer.length - size, null)) > 0;) {
      size += n;
      if (size > maxBytes) return { ok: false, problem: tooLarge(maxBytes) };
    }
    return { ok: true, text: buffer.subarray(0, size).toString("utf8"), mode: st.mode };
  } catch (err) {
    return { ok: false, problem: openProblem(err) };
  } finally {
    closeSync(fd);
  }
}

function notRegular(st: Stats): FileProblem | undefined {
  if (st.isFile()) return undefined;
  const what = st.isDirectory()
    ? "a directory"
    : st.isFIFO()
      ? "a named pipe (FIFO)"
      : st.isCharacterDevice()
        ? "a character device"
        : st.isBlockDevice()
          ? "a block device"
          : st.isSocket()
            ? "a socket"
            : "not a regular file";
  return {
    code: "ENOTREG",
    reason: `is ${what}, not a regular file`,
    hint: "point it at a regular file; medic never reads pipes or devices",
  };
}

function tooLarge(maxBytes: number): FileProblem {
  return { code: "EFBIG", reason: `is larger than ${maxBytes} bytes`, hint: "is this the right file? medic reads at most that much" };
}

function openProblem(err: unknown): FileProblem {
  const code = (err as NodeJS.ErrnoException).code ?? "EIO";
  const why =
    code === "ENOENT"
      ? "file not found"
      : code === "EACCES"
        ? "permission denied"
        : code === "EISDIR"
          ? "is a directory, not a file"
          : `cannot read it (${code})`;
  return { code, reason: why, hint: code === "EACCES" ? "make it readable by medic's user" : "check the path" };
}
