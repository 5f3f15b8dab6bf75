import { constants } from "node:fs";
import { open } from "node:fs/promises";

/** The end of a file: at most `lines` lines and `maxBytes` bytes, and whether anything before it was left out. */
export interface FileTail {
  data: Buffer;
  /** The file held more than what was read. */
  cut: boolean;
  /** The file's size when it was read. */
  sizeBytes: number;
}

const CHUNK_BYTES = 64 * 1024;

/**
 * Reads a regular file from its end, a chunk at a time, until it has `lines` whole lines or
 * `maxBytes` bytes: a multi-gigabyte log costs what its tail costs, never the whole file. A FIFO,
 * a device or a directory is refused without reading it (O_NONBLOCK: opening a FIFO does not wait).
 */
export async function readTail(path: string, lines: number, maxBytes: number): Promise<FileTail> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: "ENOTREG" });
    const size = st.size;
    const chunks: Buffer[] = [];
    let have = 0;
    let newlines = 0;
    let pos = size;
    // A last line without its newline counts as a line too.
    const want = lines + 1;
    while (pos > 0 && have < maxBytes && newlines < want) {
      const len = Math.min(CHUNK_BYTES, pos, maxBytes - have);
      pos -= len;
      const buf = Buffer.alloc(len);
      const { bytesRead } = await handle.read(buf, 0, len, pos);
      const chunk = buf.subarray(0, bytesRead);
      chunks.unshift(chunk);
      have += chunk.length;
      for (const byte of chunk) if (byte === 0x0a) newlines++;
    }
    let data = Buffer.concat(chunks);
    let cut = pos > 0;
    // Keep the last `lines` lines: drop everything up to the newline that starts them.
    const trailing = data.length > 0 && data[data.length - 1] === 0x0a ? 1 : 0;
    let seen = 0;
    for (let i = data.length - 1 - trailing; i >= 0; i--) {
      if (data[i] !== 0x0a) continue;
      if (++seen === lines) {
        data = data.subarray(i + 1);
        cut = true;
        break;
      }
    }
    return { data, cut, sizeBytes: size };
  } finally {
    await handle.close();
  }
}
