import { openSync } from "node:fs";

/** Opens a file for reading; undefined when it does not exist (any other failure throws). */
export function openExisting(path: string): number | undefined {
  try {
    return openSync(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
