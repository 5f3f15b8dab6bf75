import type { Config } from "../config/types.js";
import type { Logger } from "../lib/log.js";
import type { Fleet } from "./fleet.js";
import { REMOVED_FROM_CONFIG } from "./remediator.js";

/** What a reload changed, and what it could not change without a restart. */
export interface ReloadResult {
  added: string[];
  removed: string[];
  changed: string[];
  needsRestart: string[];
}

/**
 * Owns the config-scoped part of the daemon: a reload computes what changed and swaps it in.
 * Targets added, removed or changed, playbooks, rules, guards, maintenance windows, escalation
 * policy and channels apply at once; open incidents, guard history (the store), pauses and the
 * outbox carry over. What needs a restart (stateDir, discovery, the API, notify retry and breaker
 * settings) is kept as it was and named in the result.
 */
export class Reloader {
  private current: Config;

  constructor(
    config: Config,
    private readonly deps: { log: Logger; fleet: Fleet; reconfigure: (config: Config) => void },
  ) {
    this.current = config;
  }

  /** The config in force. */
  readonly config = (): Config => this.current;

  reload(next: Config): ReloadResult {
    const previous = this.current;
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    const needsRestart: string[] = [];
    if (next.stateDir !== previous.stateDir) needsRestart.push("stateDir");
    if (!same(next.discovery, previous.discovery)) needsRestart.push("discovery");
    if (!same(next.api, previous.api)) needsRestart.push("api");
    if (!same([next.notify.retry, next.notify.breaker], [previous.notify.retry, previous.notify.breaker]))
      needsRestart.push("notify.retry/breaker");
    this.current = {
      ...next,
      stateDir: previous.stateDir,
      ...(previous.discovery ? { discovery: previous.discovery } : {}),
      api: previous.api,
    };
    this.deps.reconfigure(this.current);

    const before = new Map(previous.targets.map((t) => [t.name, t]));
    const after = new Map(this.current.targets.map((t) => [t.name, t]));
    const added = [...after.keys()].filter((n) => !before.has(n));
    const removed = [...before.keys()].filter((n) => !after.has(n));
    const changed = [...after.keys()].filter((n) => before.has(n) && !same(before.get(n), after.get(n)));
    for (const name of removed) this.deps.fleet.remove(name, REMOVED_FROM_CONFIG);
    for (const name of changed) this.deps.fleet.replace(after.get(name)!);
    for (const name of added) this.deps.fleet.add(after.get(name)!);
    this.deps.log.info({ added, removed, changed, needsRestart }, "config reloaded");
    return { added, removed, changed, needsRestart };
  }
}
