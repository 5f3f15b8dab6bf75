import { randomBytes } from "node:crypto";
import type { Config } from "../config/types.js";
import { isActive, isOpen, MEDIC_TARGET, type Incident } from "../incidents/types.js";
import type { Logger } from "../lib/log.js";
import type { RecordStream } from "./records.js";

/** What opening an incident about medic's own world needs. */
export interface OwnDeps {
  records: RecordStream;
  live: () => ReadonlyMap<string, Incident>;
  config: () => Pick<Config, "severities">;
  log: Logger;
}

/** The source of a target's vantage_disagreement incident: one per target, while its nodes disagree. */
export const vantageSource = (target: string): string => `vantage:${target}`;

/** The open incident raised from `source`, if any. */
export function openFrom(live: ReadonlyMap<string, Incident>, source: string): Incident | undefined {
  for (const i of live.values()) if (i.source === source && isOpen(i)) return i;
  return undefined;
}

/**
 * Something about medic's own world broke that no playbook fixes (a cluster node went silent, its
 * vantage points disagree): an incident on medic itself, from `source`, escalated at once so that
 * people hear of it; the open one from the same source is returned instead of a second. Open
 * incidents for which `under` holds, and that no playbook is working on, are filed under it: it
 * explains them, and they wait for it.
 */
export function raiseOwn(deps: OwnDeps, kind: string, evidence: string, source: string, under?: (i: Incident) => boolean): string {
  const { records, live, log } = deps;
  const open = openFrom(live(), source);
  if (open) return open.id;
  const id = randomBytes(4).toString("hex");
  const severity = deps.config().severities[kind] ?? "P1";
  records.append(id, { type: "opened", target: MEDIC_TARGET, kind, severity, evidence, source });
  records.append(id, { type: "escalated", reason: `${evidence}; no playbook can fix this from here` });
  for (const i of [...live().values()]) {
    if (i.id === id || !isOpen(i) || isActive(i) || i.state === "suppressed" || !under?.(i)) continue;
    records.append(i.id, { type: "suppressed", root: id, reason: `${evidence}; this incident waits for it` });
  }
  log.warn({ incident: id, kind, source, evidence }, "incident about medic's own world opened");
  return id;
}

/** The source of an incident raised with raiseOwn is well again: it resolves. */
export function resolveOwn(deps: OwnDeps, source: string, reason: string): string | undefined {
  const open = openFrom(deps.live(), source);
  if (!open) return undefined;
  deps.records.append(open.id, { type: "resolved", reason });
  deps.log.info({ incident: open.id, source, reason }, "incident about medic's own world resolved");
  return open.id;
}
