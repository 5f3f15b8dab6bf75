import { randomBytes } from "node:crypto";
import type { Finding } from "../classify/types.js";
import { trackRound, type Decision } from "../incidents/track.js";
import type { Incident, IncidentEvent } from "../incidents/types.js";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/log.js";
import { distance, findRoot } from "../safety/dependencies.js";
import type { Checked } from "../targets.js";
import type { RecordStream } from "./records.js";
import type { Round, Watcher } from "./watcher.js";
import type { Watchers } from "./watchers.js";

/** What the detector needs from the daemon. */
export interface DetectorDeps {
  clock: Clock;
  log: Logger;
  records: RecordStream;
  watchers: Watchers;
  live: () => ReadonlyMap<string, Incident>;
  dryRun: boolean;
  /** A fresh round of a target, outside its schedule (a suppressed dependent looked at again). */
  check(w: Watcher, signal: AbortSignal): Promise<Checked>;
  /** An incident opened that nothing explains: remediate it. */
  act(id: string): void;
  /**
   * The open incident that stands for the target's host being gone (a cluster's `node_down`), if
   * any: the target's own incidents open suppressed under it.
   */
  hostRoot?(target: string): Incident | undefined;
  /** Runs a task in the background, counted so that stopping waits for it. */
  background(task: Promise<void>): void;
  stop: AbortSignal;
}

/**
 * Turns rounds into records: debounce (incidents/track), opening, repeats and resolves. It knows
 * the targets' dependencies: an incident that a dependency's explains opens suppressed under it,
 * and one whose dependency may be the cause but has no incident yet waits a little for that
 * dependency's verdict, so the root, not the dependent, is acted on first.
 */
export class Detector {
  /** Since when a target's opening waits for a dependency's verdict or incident. */
  private readonly deferred = new Map<string, number>();
  /** Per dependency: the dependents whose opening waits for its next verdict. */
  private readonly awaitedBy = new Map<string, Set<Watcher>>();
  /** Roots whose suppressed dependents are being released now. */
  private readonly releasing = new Set<string>();

  constructor(private readonly deps: DetectorDeps) {}

  /** One round of a watcher, decided. */
  onRound(w: Watcher, round: Round): void {
    const { finding } = round;
    if (!finding) this.deferred.delete(w.name);
    this.deps.log.debug(
      { target: w.name, ok: round.observation.ok, latencyMs: round.observation.latencyMs, kind: finding?.kind },
      "probe round",
    );
    const { track, decisions } = trackRound({
      track: w.track,
      finding,
      open: this.deps.watchers.openIncidents(w.name),
      failureThreshold: w.target.failureThreshold,
      successThreshold: w.target.successThreshold,
      now: this.deps.clock.now(),
      confirmed: round.confirmed,
    });
    w.track = track;
    for (const decision of decisions) this.decide(w, decision);
    // A proven failure whose incident waits for a dependency's verdict stays proven for the round that looks again.
    if (round.confirmed && this.deferred.has(w.name)) w.keepConfirmed();
    // Dependents that held off opening until this target's verdict was in look again now.
    for (const dependent of this.awaitedBy.get(w.name) ?? []) dependent.poke();
    this.awaitedBy.delete(w.name);
  }

  /** A resolve carries the failing rounds counted since the last `observed`, so the final count is exact. */
  readonly complete = (id: string, event: IncidentEvent): IncidentEvent => {
    if (event.type !== "resolved") return event;
    const target = this.deps.live().get(id)?.target;
    const w = target === undefined ? undefined : this.deps.watchers.get(target);
    const counted = w?.track.unjournaled?.[id];
    if (!w || counted === undefined) return event;
    const { [id]: _, ...others } = w.track.unjournaled!;
    w.track = { ...w.track, unjournaled: others };
    return { ...event, occurrences: counted };
  };

  private decide(w: Watcher, d: Decision): void {
    switch (d.type) {
      case "open":
        this.open(w, d.finding);
        return;
      case "repeat":
        // Not journaled now: the count waits in the track (never in the incident, which is the store's alone).
        if (d.journal) this.deps.records.append(d.incident, { type: "observed", evidence: d.evidence, occurrences: d.occurrences });
        return;
      case "resolve":
        this.deps.records.append(d.incident, { type: "resolved", reason: d.reason });
        this.deps.log.info({ incident: d.incident, target: w.name, reason: d.reason }, "incident resolved");
        return;
    }
  }

  /** Opens an incident (suppressed when a dependency's explains it); undefined while it waits for a dependency. */
  open(w: Watcher, finding: Finding, source?: string): string | undefined {
    const { clock, log, records } = this.deps;
    const now = clock.now();
    const waitMs = source ? 0 : this.dependencyWait(w);
    if (waitMs > 0) {
      const since = this.deferred.get(w.name) ?? now;
      this.deferred.set(w.name, since);
      if (now - since < waitMs) {
        log.debug({ target: w.name }, "a dependency may be the cause: waiting for its verdict or its incident before opening one");
        return undefined;
      }
    }
    this.deferred.delete(w.name);
    const id = randomBytes(4).toString("hex");
    const { kind, severity, evidence } = finding;
    const root = this.rootFor(w.name);
    records.append(id, {
      type: "opened",
      target: w.name,
      kind,
      severity,
      evidence,
      ...(this.deps.dryRun && { dryRun: true }),
      ...(root && { root: root.id }),
      ...(source && { source }),
    });
    if (root) {
      log.warn(
        { incident: id, target: w.name, kind, root: root.id, rootTarget: root.target },
        "incident opened, suppressed: a dependency's incident explains it",
      );
      records.append(root.id, {
        type: "note",
        message: `${w.name} is affected too: incident ${id} (${kind}) is suppressed under this one`,
      });
      return id;
    }
    log.warn({ incident: id, target: w.name, kind, severity, evidence }, "incident opened");
    this.deps.act(id);
    return id;
  }

  /**
   * How long opening an incident on `w` may wait for a dependency with no incident open: one that
   * fails its rounds (it debounces too), or one not seen healthy since `w` began failing (its round
   * is still out, maybe hanging, or it was last probed before). A dependency of that last kind is
   * probed now, and `w` looks again as soon as its verdict is in.
   */
  private dependencyWait(w: Watcher): number {
    const since = w.verdict.state === "failing" ? w.verdict.since : this.deps.clock.now();
    let wait = 0;
    for (const name of w.target.dependsOn) {
      const dep = this.deps.watchers.get(name);
      if (!dep || this.deps.watchers.openIncidents(name).length > 0) continue;
      if (dep.verdict.state === "healthy" && dep.verdict.from >= since) continue;
      if (dep.verdict.state !== "failing") {
        const waiting = this.awaitedBy.get(name) ?? new Set();
        this.awaitedBy.set(name, waiting.add(w));
        if (!dep.roundInFlight) dep.poke();
      }
      wait = Math.max(wait, (dep.target.failureThreshold + 1) * (dep.target.intervalMs + dep.target.timeoutMs));
    }
    return wait;
  }

  /** The open incident on one of the target's dependencies that explains its trouble, if any. */
  rootFor(target: string): Incident | undefined {
    const { watchers } = this.deps;
    const host = this.deps.hostRoot?.(target);
    if (host) return host;
    return findRoot(target, {
      dependsOn: (name) => watchers.targets().get(name)?.dependsOn ?? [],
      openIncidents: (name) => watchers.openIncidents(name),
      incident: (id) => this.deps.live().get(id),
    });
  }

  /**
   * A root incident was resolved: its suppressed dependents are looked at again, nearest first. A
   * dependent that is healthy now is resolved; one still broken gets an incident of its own (which
   * a dependency still broken suppresses again), so parents are fixed before children.
   */
  release(rootId: string): void {
    if (this.releasing.has(rootId)) return;
    this.releasing.add(rootId);
    this.deps.background(this.releaseNow(rootId).finally(() => this.releasing.delete(rootId)));
  }

  private async releaseNow(rootId: string): Promise<void> {
    const { watchers, records, stop } = this.deps;
    const rootTarget = this.deps.live().get(rootId)?.target ?? "";
    const hops = (target: string) => distance(target, rootTarget, (t) => watchers.targets().get(t)?.dependsOn ?? []);
    const waiting = watchers
      .allOpen()
      .filter((i) => i.state === "suppressed" && i.root === rootId)
      .sort((a, b) => hops(a.target) - hops(b.target));
    for (const incident of waiting) {
      const w = watchers.get(incident.target);
      if (stop.aborted || !w || incident.state !== "suppressed") continue;
      const { finding } = await this.deps.check(w, stop);
      const now = this.deps.live().get(incident.id);
      if (stop.aborted || now?.state !== "suppressed") continue;
      if (!finding) {
        records.append(incident.id, { type: "resolved", reason: `healthy once incident ${rootId} on ${rootTarget} was resolved` });
        continue;
      }
      const again = this.rootFor(w.name);
      if (again) {
        const reason = `incident ${rootId} on ${rootTarget} was resolved, but incident ${again.id} on ${again.target} is open`;
        records.append(incident.id, { type: "suppressed", root: again.id, reason });
        continue;
      }
      const reason = `incident ${rootId} on ${rootTarget} was resolved; ${w.name} is still broken, so it gets an incident of its own`;
      records.append(incident.id, { type: "resolved", reason });
      const at = this.deps.clock.now();
      w.verdict = { state: "failing", finding, from: at, since: w.verdict.state === "failing" ? w.verdict.since : at };
      this.deferred.delete(w.name);
      const id = this.open(w, finding);
      this.deps.log.warn({ incident: id, target: w.name, root: rootId }, "still broken after its dependency recovered: acting on it now");
    }
  }
}
