import { closeSync, openSync, readSync } from "node:fs";
import { readProcNow } from "./proc.js";

/** What a watch needs to know of a process: its state letter and its start time (see ProcInfo). */
export interface ProcLife {
  state: string;
  startTicks: number;
}

/** /proc/PID/stat kept open: one read per look instead of open, stat, read and close. */
export interface ProcStatHandle {
  /** What /proc says about the process now; undefined once it is gone. */
  read(): ProcLife | undefined;
  close(): void;
}

// An open /proc/PID/stat belongs to that one process, not to its number: once the process is
// reaped, a read fails (ESRCH) even when the pid already names another process. A zombie still
// reads, with state Z. The start time is compared all the same (the pid may have been reused
// between the check that chose it and the open).
const BUFFER_BYTES = 1024;
const buffer = Buffer.alloc(BUFFER_BYTES);
const CLOSE_PAREN = 0x29;
const SPACE = 0x20;
const COMM_END_WITHIN = 64;

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
        return parseLife(buffer, readSync(held, buffer, 0, BUFFER_BYTES, 0));
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

/**
 * The state (field 3) and start time (field 22) of a stat line, straight from its bytes: a watch reads
 * it several times a second per pid, and splitting the whole line costs more than the read. The
 * command name (field 2) may hold spaces and ")": the fields start after the last ")".
 */
export function parseLife(bytes: Buffer, length: number): ProcLife | undefined {
  // The name is at most 15 bytes (TASK_COMM_LEN), so it ends within the first 64; nothing after it holds
  // a ")". A loop, not Buffer#lastIndexOf: that is a call into C++ per look, which costs more than the scan.
  let i = -1;
  for (let j = Math.min(length, COMM_END_WITHIN) - 1; j >= 0 && i < 0; j--) if (bytes[j] === CLOSE_PAREN) i = j;
  if (i < 0 || i + 2 >= length) return undefined;
  i += 2;
  const state = String.fromCharCode(bytes[i]!);
  for (let field = 3; field < 22 && i < length; i++) if (bytes[i] === SPACE) field++;
  let startTicks = 0;
  let digits = 0;
  for (; i < length && bytes[i] !== SPACE; i++, digits++) startTicks = startTicks * 10 + (bytes[i]! - 0x30);
  return digits === 0 ? undefined : { state, startTicks };
}
