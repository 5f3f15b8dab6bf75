import { closeSync, fstatSync, readSync } from "node:fs";
import { openExisting } from "../../lib/open-existing.js";

const CHUNK_BYTES = 256 * 1024;
const NEWLINE = 0x0a;

/** Gives the event loop a turn: a long scan of history never holds up probes and the API for long. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Reads a file's whole lines from its end back to its start, handing each to `onLine` (without its
 * "\n"); a partial last line (a write under way, or cut short by a crash) is left out. Returns
 * false as soon as `onLine` does (the caller found what it wanted), true at the start of the file.
 * A missing file has no lines. Yields to the event loop between chunks.
 */
export async function readLinesBackwards(path: string, onLine: (line: Buffer) => boolean): Promise<boolean> {
  const fd = openExisting(path);
  if (fd === undefined) return true;
  try {
    let end = fstatSync(fd).size;
    let carry: Buffer | undefined;
    let sawNewline = false;
    while (end > 0) {
      const start = Math.max(0, end - CHUNK_BYTES);
      const chunk = Buffer.allocUnsafe(end - start);
      const n = readSync(fd, chunk, 0, chunk.length, start);
      const view = carry ? Buffer.concat([chunk.subarray(0, n), carry]) : chunk.subarray(0, n);
      let to = view.length;
      if (!sawNewline) {
        // Whatever follows the last "\n" is not a whole line yet.
        const last = view.lastIndexOf(NEWLINE);
        if (last === -1) {
          carry = start === 0 ? undefined : view;
          end = start;
          continue;
        }
        sawNewline = true;
        to = last;
      }
      // (lastIndexOf counts a negative offset from the end: never pass one.)
      let nl = to === 0 ? -1 : view.lastIndexOf(NEWLINE, to - 1);
      while (nl !== -1) {
        if (to - nl - 1 > 0 && !onLine(view.subarray(nl + 1, to))) return false;
        to = nl;
        nl = to === 0 ? -1 : view.lastIndexOf(NEWLINE, to - 1);
      }
      carry = view.subarray(0, to);
      end = start;
      if (start === 0 && to > 0 && !onLine(carry)) return false;
      await yieldToLoop();
    }
    return true;
  } finally {
    closeSync(fd);
  }
}
