import type { Observation } from "../probes/types.js";
import type { Judgement } from "./database.js";
import { plain } from "./evidence.js";

const MIB = 1024 ** 2;

/**
 * What a container's state says, before the generic checks: OOM-killed is memory_pressure (more
 * memory, not a plain restart, is what helps); not running or unhealthy is server_down. The
 * restart count goes into the evidence so a crash loop is visible, and the run cap stops it.
 */
export function judgeContainer(obs: Observation): Judgement | undefined {
  const c = obs.facts.container;
  if (!c) return undefined;
  const restarts = c.restartCount ? `restarted ${c.restartCount} times` : "";
  const limit = c.memory?.limitBytes ? `limit ${Math.round(c.memory.limitBytes / MIB)}MiB` : "";
  if (c.oomKilled && c.state !== "running") {
    return { kind: "memory_pressure", parts: [`container ${plain(c.name, 80)} was OOM-killed (exit ${c.exitCode})`, limit, restarts] };
  }
  if (c.state === "restarting")
    return { kind: "server_down", parts: [`container ${plain(c.name, 80)} is restarting (last exit ${c.exitCode})`, restarts] };
  if (c.state !== "running") {
    const how = c.state === "exited" ? `exited with code ${c.exitCode}` : `is ${c.state}`;
    return { kind: "server_down", parts: [`container ${plain(c.name, 80)} ${how}`, restarts] };
  }
  if (c.health?.status === "unhealthy") {
    const output = c.health.lastOutput ? `: ${plain(c.health.lastOutput, 80)}` : "";
    return {
      kind: "server_down",
      parts: [`container ${plain(c.name, 80)} is unhealthy (failing ${c.health.failingStreak} checks)${output}`, restarts],
    };
  }
  return undefined;
}
