import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MedicError } from "./errors.js";
import { isAlive } from "./proc.js";

/** Takes the state directory for this process: two daemons on one journal would act twice. */
export async function lockStateDir(stateDir: string): Promise<() => void> {
  mkdirSync(stateDir, { recursive: true });
  const file = join(stateDir, "medic.pid");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(readFileSync(file, "utf8").trim());
      if (holder > 0 && holder !== process.pid && (await isAlive(holder))) {
        throw new MedicError("STATE_DIR_LOCKED", `another medic (pid ${holder}) is using ${stateDir}`, {
          hint: "stop it first, or give this one its own stateDir",
        });
      }
      rmSync(file, { force: true }); // left by a medic that died: take it over
    }
  }
  throw new MedicError("STATE_DIR_LOCKED", `cannot lock ${stateDir}`, { hint: "check the directory's permissions" });
}

