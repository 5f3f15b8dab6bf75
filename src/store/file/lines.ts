import { closeSync, readSync } from "node:fs";
import { openExisting } from "../../lib/open-existing.js";

const CHUNK_BYTES = 256 * 1024;

/**
 * Reads a small file's whole lines from `from` on, oldest first (the index); returns the offset just
 * past the last whole line, what follows being a line cut short. A missing file has none.
 */
export function scanLines(path: string, from: number, onLine: (line: Buffer, offset: number) => void): number {
  const fd = openExisting(path);
  if (fd === undefined) return from;
  try {
    let valid = from;
    let carry = Buffer.alloc(0);
    for (let position = from; ;) {
      const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      const n = readSync(fd, chunk, 0, chunk.length, position);
      if (n <= 0) return valid;
      const view = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      const base = position - carry.length;
      let start = 0;
      for (let nl = view.indexOf(0x0a); nl !== -1; nl = view.indexOf(0x0a, start)) {
        if (nl > start) onLine(view.subarray(start, nl), base + start);
        start = nl + 1;
        valid = base + start;
      }
      carry = Buffer.from(view.subarray(start));
      position += n;
    }
  } finally {
    closeSync(fd);
  }
}
