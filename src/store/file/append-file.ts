import { closeSync, fdatasync, fdatasyncSync, fstatSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { describeError } from "../../lib/errors.js";

/**
 * A file that takes whole lines at its end, and only whole lines: a write the disk takes only part
 * of (a full disk) is cut back, so the next line is never glued to half a line.
 */
export class AppendFile {
  /** Bytes of whole lines in the file. */
  size: number;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    size: number,
  ) {
    this.size = size;
  }

  /** Opens (creating) `path` for appending, cut back to `validBytes` when given (a line cut short by a crash). */
  static open(path: string, validBytes?: number): AppendFile {
    const fd = openSync(path, "a+");
    try {
      const size = fstatSync(fd).size;
      if (validBytes !== undefined && validBytes < size) ftruncateSync(fd, validBytes);
      return new AppendFile(path, fd, validBytes ?? size);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Writes one line (with its "\n"); undefined when all of it is in the file, else why not (the file is as before). */
  write(line: Buffer): string | undefined {
    try {
      for (let done = 0; done < line.length;) done += writeSync(this.fd, line, done, line.length - done);
      this.size += line.length;
      return undefined;
    } catch (err) {
      this.cutBack(this.size);
      return describeError(err);
    }
  }

  /** Cuts the file back to `bytes` (what was durable before a sync failed). */
  cutBack(bytes: number): void {
    try {
      ftruncateSync(this.fd, bytes);
    } catch {
      // Nothing more to do: opening the file drops a partial last line anyway.
    }
    this.size = bytes;
  }

  /** fdatasync in libuv's pool: the event loop goes on meanwhile. */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
  }

  /** fdatasync now, on the calling thread. */
  syncNow(): void {
    fdatasyncSync(this.fd);
  }

  /** The file was unlinked under us (its folder deleted): what is written to it is lost. */
  unlinked(): boolean {
    return fstatSync(this.fd).nlink === 0;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // Already closed or the disk is gone: nothing is lost that a sync had not kept.
    }
  }
}
