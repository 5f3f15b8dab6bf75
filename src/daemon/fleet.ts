import type { Target } from "../config/types.js";
import type { Logger } from "../lib/log.js";
import type { LiveTarget } from "../targets.js";
import type { Remediator } from "./remediator.js";
import { Watcher } from "./watcher.js";
import type { Watchers } from "./watchers.js";

/** What the fleet needs from the daemon. */
export interface FleetDeps {
  log: Logger;
  watchers: Watchers;
  remediator: Remediator;
  /** Builds a target's probe and service from the registries. */
  parts(target: Target): LiveTarget;
  /** A watcher for the parts, wired to the daemon. */
  watcher(parts: LiveTarget): Watcher;
  /** Whether the daemon runs (new watchers start at once) or stops (none is added). */
  phase(): "building" | "running" | "stopping";
}

/** Adds, changes and removes watched targets: from the config, a reload, or discovery. */
export class Fleet {
  constructor(private readonly deps: FleetDeps) {}

  /** Watches a target, from the config or discovered at run time. */
  add(target: Target): void {
    const { watchers, log } = this.deps;
    const phase = this.deps.phase();
    if (watchers.get(target.name) || phase === "stopping") return;
    const w = this.deps.watcher(this.deps.parts(target));
    watchers.add(w);
    if (phase !== "running") return;
    log.info({ target: target.name }, "watching a discovered target");
    w.start();
  }

  /** A target whose config changed: new probe and service, same open incidents and debounce state. */
  replace(target: Target): void {
    const w = this.deps.watchers.get(target.name);
    if (!w) return this.add(target);
    w.replace(this.deps.parts(target));
    this.deps.watchers.replaced(w);
  }

  /**
   * Stops watching a target that went away; its open incidents resolve, saying why (the channels
   * that were told get their resolve). A playbook running on it finishes its current step, runs no
   * further step nor verification, and then its incident resolves the same way.
   */
  remove(name: string, reason: string): void {
    const { watchers, remediator, log } = this.deps;
    const w = watchers.get(name);
    if (!w) return;
    w.retire(reason);
    const finishing = remediator.retire(w, reason);
    watchers.delete(name);
    log.info({ target: name, reason, ...(finishing > 0 && { finishing }) }, "stopped watching a target");
  }
}
