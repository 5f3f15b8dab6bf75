import { closeSync, openSync, readSync } from "node:fs";
import { parseStat, readProcNow, type ProcInfo } from "./proc.js";

/** /proc/PID/stat kept open: one read per look instead of open, stat, read and close. */
export interface ProcStatHandle {
  /** What /proc says about the process now; undefined once it is gone. */
  read(): ProcInfo | undefined;
  close(): void;
}

// An open /proc/PID/stat belongs to that one process, not to its number: once the process is
// reaped, a read fails (ESRCH) even when the pid already names another process. A zombie still
// reads, with state Z. The start time is compared all the same (the pid may have been reused
// between the check that chose it and the open).
const BUFFER_BYTES = 1024;
const buffer = Buffer.alloc(BUFFER_BYTES);

/** Opens `pid`'s stat file; without a descriptor to spare (EMFILE) every read opens the file again. */
export function openProcStat(pid: number): ProcStatHandle {
  let fd: number | undefined;
  try {
    fd = openSync(`/proc/${pid}/stat`, "r");
  } catch {
    fd = undefined;
  }
  if (fd === undefined) return { read: () => readProcNow(pid), close: () => {} };
  const held = fd;
  let open = true;
  return {
    read() {
      if (!open) return undefined;
      try {
        const bytes = readSync(held, buffer, 0, BUFFER_BYTES, 0);
        return bytes > 0 ? parseStat(pid, buffer.toString("latin1", 0, bytes)) : undefined;
      } catch {
        return undefined;
      }
    },
    close() {
      if (!open) return;
      open = false;
      closeSync(held);
    },
  };
}
