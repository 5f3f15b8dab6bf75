import { realpathSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** The playbooks/ folder that ships with medic (beside src/ and dist/), which a config lists to use them. */
export const SHIPPED_PLAYBOOKS_DIR = fileURLToPath(new URL("../../playbooks", import.meta.url));

const real = (path: string): string => {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
};
const shippedDir = real(SHIPPED_PLAYBOOKS_DIR);

/** Whether `file` is one of the shipped playbooks, through whatever symlink (npm -g links) it was listed. */
export function isShippedPlaybook(file: string): boolean {
  return real(dirname(file)) === shippedDir;
}
