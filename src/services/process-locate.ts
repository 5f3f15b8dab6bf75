import { readPidFile } from "../lib/proc.js";
import { checkPid, isRecordedAlive, judgeUnrecorded, readIdentity } from "../lib/process-identity.js";

/** The process a `process` service's pid file leads to, and whether medic may signal it. */
export type Located =
  /** No pid in the pid file, and no live process in medic's record. */
  | { kind: "none" }
  /** The pid file names a pid that is gone (or a zombie). */
  | { kind: "gone"; pid: number }
  /** A live process medic cannot prove it started: never signalled. */
  | { kind: "foreign"; pid: number; reason: string }
  /**
   * The service: the process medic recorded, or one from a pid file medic did not write whose
   * command is exactly `start` (`adopted`). `group`: its process group is one medic created, so
   * the whole group may be signalled. `note` says how it was found when the pid file did not name it.
   */
  | { kind: "service"; pid: number; startTicks: number; group: boolean; adopted: boolean; note: string };

/** Finds the service's process from its pid file and medic's identity record. */
export async function locateService(pidFile: string, start: string[]): Promise<Located> {
  const pid = await readPidFile(pidFile);
  const record = await readIdentity(pidFile);
  // medic's record names the process it started even when the pid file was lost or rewritten
  // (medic stopped between writing the record and the pid file, or someone else wrote the file).
  if (record !== undefined && record.pid !== pid && isRecordedAlive(record)) {
    const check = await checkPid(pidFile, record.pid);
    if (check.kind === "recorded") {
      const note = `pid file ${pidFile} named ${pid === undefined ? "no pid" : `pid ${pid}`}, medic's record pid ${record.pid}`;
      return { kind: "service", pid: record.pid, startTicks: check.startTicks, group: check.ownGroup, adopted: false, note };
    }
  }
  if (pid === undefined) return { kind: "none" };
  const check = await checkPid(pidFile, pid);
  switch (check.kind) {
    case "gone":
      return { kind: "gone", pid };
    case "reused":
      return { kind: "foreign", pid, reason: check.reason };
    case "recorded":
      return { kind: "service", pid, startTicks: check.startTicks, group: check.ownGroup, adopted: false, note: "" };
    case "unrecorded": {
      const refused = judgeUnrecorded(pid, pidFile, check.argv, start);
      if (refused !== undefined) return { kind: "foreign", pid, reason: refused };
      // Its command is the one medic would run, but medic did not create its group: the pid alone.
      return { kind: "service", pid, startTicks: check.startTicks, group: false, adopted: true, note: "" };
    }
  }
}
