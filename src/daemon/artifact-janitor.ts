import { utimes } from "node:fs/promises";
import { join } from "node:path";
import { ARTIFACTS_DIR, isIncidentId } from "../artifacts/names.js";
import { pruneArtifacts } from "../artifacts/prune.js";
import type { Config } from "../config/types.js";
import { isOpen, type Incident } from "../incidents/types.js";
import { repeat, type Clock } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";

/** How often closed incidents' artifacts are checked against the retention and the total cap. */
export const ARTIFACT_PRUNE_MS = 10 * 60_000;

/** What the janitor needs of the daemon. */
export interface JanitorDeps {
  clock: Clock;
  log: Logger;
  config: () => Config;
  live: () => ReadonlyMap<string, Incident>;
  background(task: Promise<void>): void;
}

/**
 * Keeps the state dir's artifacts within the retention and the total cap: once at start, then every
 * ARTIFACT_PRUNE_MS and after each capture. Passes never overlap; an open incident's evidence stays.
 */
export class ArtifactJanitor {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly deps: JanitorDeps) {}

  /** Prunes now and every ARTIFACT_PRUNE_MS; returns the stop. */
  start(): () => void {
    this.prune();
    return repeat(this.deps.clock, ARTIFACT_PRUNE_MS, () => this.prune(), { unref: true });
  }

  /**
   * An incident closed: its evidence's retention counts from now, not from when it was captured (an
   * incident open for two weeks keeps its dump for the postmortem). The folder's mtime carries it.
   */
  closed(incident: string): void {
    if (!isIncidentId(incident)) return;
    const at = new Date(this.deps.clock.now());
    this.deps.background(utimes(join(this.deps.config().stateDir, ARTIFACTS_DIR, incident), at, at).catch(() => undefined));
  }

  /** Asks for a pass (one more after the one under way, if any). */
  prune(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.prune();
      }
    });
    this.deps.background(this.running);
  }

  private async pass(): Promise<void> {
    const { config, live, clock, log } = this.deps;
    const { stateDir, artifacts } = config();
    const open = new Set([...live().values()].filter(isOpen).map((i) => i.id));
    try {
      const out = await pruneArtifacts(stateDir, artifacts, open, clock.now());
      for (const r of out.removed) log.info({ incident: r.incident, bytes: r.bytes, reason: r.reason }, "removed an incident's artifacts");
    } catch (err) {
      log.warn({ stateDir, err: describeError(err) }, "could not prune artifacts; will try again");
    }
  }
}
