import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import type { ClassifyContext } from "./classify/classify.js";
import { DATABASE_PROBES } from "./classify/database.js";
import type { Finding, Severity } from "./classify/types.js";
import type { Config, Target } from "./config/types.js";
import { Escalations } from "./escalation/escalations.js";
import { lastRun } from "./incidents/fold.js";
import { JournalStore } from "./incidents/journal.js";
import { MemoryStore, type IncidentStore } from "./incidents/store.js";
import { StateDirWatch } from "./incidents/state-dir-watch.js";
import { trackRound, type Decision, type TargetTrack } from "./incidents/track.js";
import { isActive, isOpen, MEDIC_TARGET, type Incident, type IncidentEvent, type JournalRecord } from "./incidents/types.js";
import { settles } from "./lib/clock.js";
import { readJournal, SKIPPED_LINES, type JournalScan } from "./incidents/journal-read.js";
import { distance, findRoot } from "./safety/dependencies.js";
import type { SafetyDecision } from "./safety/decide.js";
import { SafetyRuntime } from "./safety/runtime.js";
import type { ActivePause } from "./safety/types.js";
import type { Observation, WatchEvent } from "./probes/types.js";
import { describeError, MedicError } from "./lib/errors.js";
import { lockStateDir } from "./lib/lockfile.js";
import type { Logger } from "./lib/log.js";
import { planRemediation, renderPlan } from "./playbooks/plan.js";
import { previewPlan } from "./playbooks/preview.js";
import { runPlaybook, type RunOutcome } from "./playbooks/run.js";
import type { FailedRound } from "./playbooks/verify.js";
import { runProbe } from "./probes/run.js";
import { every, phaseFor, type Schedule } from "./schedule/scheduler.js";
import { checkTarget, liveTarget, type LiveTarget } from "./targets.js";
import { dockerDiscovery, type Discovery } from "./discovery/docker.js";

/** How the daemon is wired; everything but config and log has a default. */
export interface DaemonOptions {
  config: Config;
  log: Logger;
  /** Reason and log everything, act on nothing, write nothing. */
  dryRun?: boolean;
  store?: IncidentStore;
  /** Called after each journal record is durable (the demo narrates from it; metrics count it). */
  onRecord?: (record: JournalRecord, incident: Incident | undefined) => void;
  /** Called after each probe round. */
  onRound?: (target: Target, observation: Observation, finding: Finding | undefined) => void;
  /** Called as a round starts, with how late it starts against when it was due (its slot, or the event that called it). */
  onRoundStart?: (target: Target, lateMs: number) => void;
}

/** A watched target as the API shows it. */
export interface TargetStatus {
  name: string;
  labels: Record<string, string>;
  probe: string;
  /** null before the first round. */
  up: boolean | null;
  lastRoundAt?: number;
  latencyMs?: number;
  finding?: { kind: string; evidence: string };
  /** Ids of its incidents that are not resolved. */
  open: string[];
  paused?: ActivePause;
}

/** The daemon's own health: is it doing its job? */
export interface DaemonHealth {
  ok: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
}

/** One target's live parts and what the daemon tracks about it. */
interface Watched extends LiveTarget {
  track: TargetTrack;
  /** Ids of the target's incidents that are not resolved: every round reads them. */
  open: Set<string>;
  /** The latest round's finding: null when healthy, undefined before the first round. */
  lastFinding?: Finding | null;
  /** When the round that gave lastFinding began. */
  verdictFrom?: number;
  /** When the first of the target's current run of failing rounds began; undefined while healthy. */
  failingSince?: number | undefined;
  /** An event proved the target broke since the last round began. */
  confirmed: boolean;
  lastRoundAt?: number;
  lastLatencyMs?: number;
  roundInFlight?: boolean;
  /** Since when opening an incident waits for a dependency's verdict or its own incident. */
  deferredSince?: number | undefined;
  /** Dependents whose opening waits for this target's next verdict: they look again once it is in. */
  awaitedBy?: Set<Watched>;
  schedule?: Schedule;
  unwatch?: () => void;
  /** The latest regular round that failed: verification of a fix resets its count on one that fails meanwhile. */
  lastFailedRound?: FailedRound;
  /** Aborted when the target stops being watched (reload, discovery): its playbook runs stop after their current step. */
  readonly retire: AbortController;
}

/** Why a target's incidents close when a reload drops it from the config. */
const REMOVED_FROM_CONFIG = "target removed from config";
/** In-flight steps get this long to finish on stop before they are cut off; the whole stop stays under 10 s. */
const DRAIN_MS = 5_000;
const ABORT_GRACE_MS = 3_000;
/** How often held and suppressed incidents are looked at again, and operator controls re-read. */
const SAFETY_TICK_MS = 1_000;

/** The composition root: schedules probes, turns rounds into incidents, runs playbooks, tells humans. */
export class Daemon {
  readonly store: IncidentStore;
  private config: Config;
  private readonly log: Logger;
  private readonly dryRun: boolean;
  readonly escalations: Escalations;
  private readonly watched = new Map<string, Watched>();
  private readonly targets = new Map<string, Target>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly drain = new AbortController();
  private readonly abort = new AbortController();
  private unlock: (() => void) | undefined;
  /** Set when another medic took the state dir over (it judged this one gone): this one stops acting. */
  private lostLock: string | undefined;
  private stopping: Promise<void> | undefined;
  private started = false;
  private startedAt = Date.now();
  private readonly discovery: Discovery | undefined;
  private readonly safety: SafetyRuntime;
  /** Incidents being planned or remediated now: one task per incident at a time. */
  private readonly acting = new Set<string>();
  /** Roots whose suppressed dependents are being released now. */
  private readonly releasing = new Set<string>();
  private safetyTimer: NodeJS.Timeout | undefined;
  /** Incidents of targets no longer watched whose playbook run is finishing its current step; they resolve once it ends. */
  private readonly retiring = new Map<string, Watched>();
  /** medic's own incidents (target MEDIC_TARGET): the blast radius holding back. */
  private readonly medicIncidents = new Set<string>();
  /** Announces state dir trouble once when it starts and once when it ends; none in a dry run. */
  private readonly stateDirWatch: StateDirWatch | undefined;

  constructor(private readonly opts: DaemonOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.dryRun = opts.dryRun ?? false;
    // Every probe, playbook and send in flight listens for these two; thousands at once is normal,
    // not a leak, so Node's warning past 10 listeners would only put noise on stderr.
    setMaxListeners(0, this.drain.signal, this.abort.signal);
    // A dry run starts from the real journal (read only), so its guards decide on the real history.
    const warnSkipped = (_: string, { journal, skipped, oversized }: JournalScan & { journal: string }) =>
      opts.log.warn({ journal, skipped, oversized }, SKIPPED_LINES);
    this.store =
      opts.store ??
      (this.dryRun
        ? new MemoryStore(readJournal(opts.config.stateDir, warnSkipped))
        : new JournalStore(opts.config.stateDir, { log: opts.log }));
    this.safety = new SafetyRuntime(this.config, this.log);
    for (const i of this.store.incidents().values()) if (i.target === MEDIC_TARGET && isOpen(i)) this.medicIncidents.add(i.id);
    this.escalations = new Escalations({
      config: this.config,
      log: this.log,
      dryRun: this.dryRun,
      record: (id, event) => void this.append(id, event),
      incidents: () => this.store.incidents(),
      paused: (target, now) => this.safety.pausedFor(target, now) !== undefined,
    });
    this.stateDirWatch = this.dryRun
      ? undefined
      : new StateDirWatch({
          stateDir: this.config.stateDir,
          log: this.log,
          ...(this.store instanceof JournalStore && { journal: this.store }),
          announce: (text) => this.escalations.announce(text),
          page: (key, event, summary) => this.escalations.pageSelf(key, event, summary),
        });
    this.discovery = opts.config.discovery?.docker && dockerDiscovery(opts.config.discovery.docker, opts.config, opts.log);
    for (const target of this.config.targets) this.addTarget(target);
  }

  /** Takes the state dir, resumes what a previous daemon left in flight, and starts every target's schedule. */
  async start(): Promise<void> {
    if (!this.dryRun) this.unlock = await lockStateDir(this.config.stateDir, { log: this.log, onLost: (why) => this.lockLost(why) });
    this.escalations.start();
    this.resumeInFlight(!this.discovery);
    this.started = true;
    this.startedAt = Date.now();
    this.safetyTimer = setInterval(() => this.safetyTick(), SAFETY_TICK_MS);
    this.safetyTimer.unref();
    for (const w of this.watched.values()) this.startWatching(w);
    this.log.info({ targets: this.watched.size, dryRun: this.dryRun, stateDir: this.config.stateDir }, "medic started");
    if (!this.discovery) return;
    await this.discovery.start({ add: (t) => this.addTarget(t), remove: (name, why) => this.removeTarget(name, why) });
    // The containers found are watched now: what a previous daemon left in flight on them resumes.
    this.resumeInFlight(true);
  }

  /** Watches a target, from the config or discovered at run time. */
  addTarget(target: Target): void {
    if (this.watched.has(target.name) || this.drain.signal.aborted) return;
    const w: Watched = {
      ...liveTarget(target, this.config.baseDir),
      track: { failStreak: 0, okStreak: 0 },
      open: new Set(),
      confirmed: false,
      retire: new AbortController(),
    };
    for (const incident of this.store.incidents().values()) {
      if (incident.target === target.name && isOpen(incident)) w.open.add(incident.id);
    }
    this.watched.set(target.name, w);
    this.targets.set(target.name, target);
    if (this.started) {
      this.log.info({ target: target.name }, "watching a discovered target");
      this.startWatching(w);
    }
  }

  /**
   * Applies a reloaded config: targets added, removed or changed, playbooks, rules, guards,
   * maintenance windows, escalation policy and channels. Open incidents, guard history (the
   * journal), pauses and the outbox carry over. What needs a restart (stateDir, discovery, the
   * API, notify retry and breaker settings) is kept as it was and named in the result.
   */
  reload(next: Config): { added: string[]; removed: string[]; changed: string[]; needsRestart: string[] } {
    const needsRestart: string[] = [];
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    if (next.stateDir !== this.config.stateDir) needsRestart.push("stateDir");
    if (!same(next.discovery, this.config.discovery)) needsRestart.push("discovery");
    if (!same(next.api, this.config.api)) needsRestart.push("api");
    if (!same([next.notify.retry, next.notify.breaker], [this.config.notify.retry, this.config.notify.breaker]))
      needsRestart.push("notify.retry/breaker");
    const previous = this.config;
    this.config = {
      ...next,
      stateDir: previous.stateDir,
      ...(previous.discovery ? { discovery: previous.discovery } : {}),
      api: previous.api,
    };
    this.safety.reconfigure(this.config);
    this.escalations.reconfigure(this.config);

    const before = new Map(previous.targets.map((t) => [t.name, t]));
    const after = new Map(this.config.targets.map((t) => [t.name, t]));
    const added = [...after.keys()].filter((n) => !before.has(n));
    const removed = [...before.keys()].filter((n) => !after.has(n));
    const changed = [...after.keys()].filter((n) => before.has(n) && !same(before.get(n), after.get(n)));
    for (const name of removed) this.removeTarget(name, REMOVED_FROM_CONFIG);
    for (const name of changed) this.replaceTarget(after.get(name)!);
    for (const name of added) this.addTarget(after.get(name)!);
    this.log.info({ added, removed, changed, needsRestart }, "config reloaded");
    return { added, removed, changed, needsRestart };
  }

  // A target whose config changed: new probe and service, same open incidents and debounce state.
  private replaceTarget(target: Target): void {
    const w = this.watched.get(target.name);
    if (!w) return this.addTarget(target);
    w.unwatch?.();
    void w.schedule?.stop();
    Object.assign(w, liveTarget(target, this.config.baseDir), { unwatch: undefined, schedule: undefined });
    this.targets.set(target.name, target);
    if (this.started) this.startWatching(w);
  }

  /**
   * Stops watching a target that went away; its open incidents resolve, saying why (the channels
   * that were told get their resolve). A playbook running on it finishes its current step, runs no
   * further step nor verification, and then its incident resolves the same way.
   */
  removeTarget(name: string, reason: string): void {
    const w = this.watched.get(name);
    if (!w) return;
    w.unwatch?.();
    void w.schedule?.stop();
    w.retire.abort(new Error(reason));
    for (const id of [...w.open]) {
      if (this.acting.has(id) && isActive(this.store.incidents().get(id)!)) this.retiring.set(id, w);
      else this.append(id, { type: "resolved", reason: `no longer watched: ${reason}` });
    }
    this.watched.delete(name);
    this.targets.delete(name);
    const finishing = [...this.retiring.values()].filter((r) => r === w).length;
    this.log.info({ target: name, reason, ...(finishing > 0 && { finishing }) }, "stopped watching a target");
  }

  private startWatching(w: Watched): void {
    const { target } = w;
    w.schedule = every(target.intervalMs, phaseFor(target.name, target.intervalMs), (intendedAt) => {
      this.opts.onRoundStart?.(target, Date.now() - intendedAt);
      return this.round(w);
    });
    // The probe's source (engine events) and the service (a pid seen to die) can both call a round early.
    const onEvent = (event: WatchEvent): void => {
      this.log.info({ target: target.name, event: event.what }, "event from the target's source");
      if (event.confirmsFailure) w.confirmed = true;
      w.schedule?.poke();
    };
    const unwatch = [w.probe.watch?.(onEvent), w.service?.watch?.(onEvent)];
    w.unwatch = () => unwatch.forEach((stop) => stop?.());
  }

  // Two medics on one journal would both act: the one that lost the lock stops, and says so in its health.
  private lockLost(why: string): void {
    this.lostLock = why;
    this.log.fatal({ stateDir: this.config.stateDir, why }, "another medic took over the state dir: stopping");
    void this.stop();
  }

  /** Stops probing, lets in-flight steps finish for a while, cuts off the rest (journaled as abandoned). Once, however often called. */
  stop(): Promise<void> {
    return (this.stopping ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    this.drain.abort(new Error("medic is stopping"));
    clearInterval(this.safetyTimer);
    this.discovery?.stop();
    for (const w of this.watched.values()) w.unwatch?.();
    const schedules = Promise.all([...this.watched.values()].map((w) => w.schedule?.stop()));
    if (!(await settles([...this.inflight], DRAIN_MS))) {
      this.log.warn({ inflight: this.inflight.size }, "cutting off in-flight playbooks");
      this.abort.abort(new Error("medic is stopping"));
      await settles([...this.inflight], ABORT_GRACE_MS);
    }
    this.abort.abort(new Error("medic is stopping"));
    await settles([schedules], ABORT_GRACE_MS);
    await this.escalations.stop();
    this.store.close();
    this.unlock?.();
    this.log.info({}, "medic stopped");
  }

  /** What classification of a target may know about its dependencies: their latest rounds. */
  private contextFor(target: Target): ClassifyContext {
    return {
      dependencies: target.dependsOn.map((name) => {
        const dep = this.watched.get(name);
        return { name, database: DATABASE_PROBES.has(dep?.target.probe.kind ?? ""), finding: dep?.lastFinding };
      }),
    };
  }

  /** Every watched target, its latest round and its open incidents. */
  targetsStatus(now = Date.now()): TargetStatus[] {
    return [...this.watched.values()].map((w) => {
      const paused = this.safety.pausedFor(w.target.name, now);
      return {
        name: w.target.name,
        labels: w.target.labels,
        probe: w.target.probe.kind,
        up: w.lastFinding === undefined ? null : w.lastFinding === null,
        ...(w.lastRoundAt !== undefined && { lastRoundAt: w.lastRoundAt, latencyMs: w.lastLatencyMs }),
        ...(w.lastFinding && { finding: { kind: w.lastFinding.kind, evidence: w.lastFinding.evidence } }),
        open: [...w.open],
        ...(paused && { paused }),
      };
    });
  }

  /** A person takes an incident on: timed escalation stops, PagerDuty hears an acknowledge. Undefined when there is no such open incident. */
  acknowledge(id: string, by: string, note?: string): Incident | undefined {
    const incident = this.store.incidents().get(id);
    if (!incident || !isOpen(incident)) return undefined;
    this.append(id, { type: "acknowledged", by, ...(note && { note }) });
    this.log.info({ incident: id, by }, "incident acknowledged");
    return this.store.incidents().get(id);
  }

  /**
   * Something outside medic (an Alertmanager alert, `source` names it) says a target is broken: an
   * incident opens, or the open one from the same source or of the same kind is joined, and it is
   * remediated like one a probe found.
   */
  raiseExternal(alert: { target: string; kind: string; severity: Severity; evidence: string; source: string }): {
    incident: string;
    created: boolean;
  } {
    const w = this.watched.get(alert.target);
    if (!w)
      throw new MedicError("unknown_target", `no target named ${JSON.stringify(alert.target)} is watched`, {
        hint: `one of ${[...this.watched.keys()].slice(0, 20).join(", ")}`,
      });
    const open = this.openIncidents(alert.target);
    const joined = open.find((i) => i.source === alert.source) ?? open.find((i) => i.kind === alert.kind);
    if (joined) return { incident: joined.id, created: false };
    const id = this.open(w, { target: alert.target, kind: alert.kind, severity: alert.severity, evidence: alert.evidence }, alert.source)!;
    return { incident: id, created: true };
  }

  /**
   * The outside source stopped firing: the incident resolves once a fresh probe of the target is
   * healthy; if the probe still fails, or a playbook is on it, it stays open and says why.
   */
  async resolveExternal(source: string): Promise<{ incident?: string; resolved: boolean; detail: string }> {
    const incident = [...this.watched.values()].flatMap((w) => this.openIncidents(w.target.name)).find((i) => i.source === source);
    if (!incident) return { resolved: false, detail: "no open incident came from it" };
    if (isActive(incident))
      return { incident: incident.id, resolved: false, detail: "a playbook is working on it; its verification resolves it" };
    const w = this.watched.get(incident.target)!;
    const { finding } = await checkTarget(this.config, w, this.drain.signal, this.contextFor(w.target));
    if (!isOpen(incident)) return { incident: incident.id, resolved: true, detail: "already resolved" };
    if (finding) {
      this.append(incident.id, {
        type: "source_resolved",
        detail: `the alert resolved, but a fresh probe still sees ${finding.kind}: ${finding.evidence}; it resolves once the probe is healthy`,
      });
      return { incident: incident.id, resolved: false, detail: `the probe still sees ${finding.kind}` };
    }
    this.append(incident.id, { type: "resolved", reason: "the alert resolved and a fresh probe of the target is healthy" });
    return { incident: incident.id, resolved: true, detail: "verified healthy" };
  }

  /** Whether every target's schedule is ticking and the state dir takes writes. */
  health(now = Date.now()): DaemonHealth {
    const late = [...this.watched.values()]
      .filter((w) => {
        const slack = w.target.intervalMs * 3 + w.target.timeoutMs + 5_000;
        return this.started && now - (w.lastRoundAt ?? this.startedAt) > slack;
      })
      .map((w) => w.target.name);
    const checks = [
      {
        name: "scheduler",
        ok: late.length === 0,
        detail:
          late.length === 0 ? `${this.watched.size} targets probed on time` : `no probe round lately for ${late.slice(0, 10).join(", ")}`,
      },
      ...(this.stateDirWatch?.check(now) ?? [{ name: "state dir", ok: true, detail: "dry run: writes nothing" }]),
    ];
    if (this.lostLock) checks.push({ name: "state dir lock", ok: false, detail: `lost: ${this.lostLock}` });
    if (this.drain.signal.aborted) checks.push({ name: "running", ok: false, detail: "medic is stopping" });
    return { ok: checks.every((c) => c.ok), checks };
  }

  /** The target's incidents that are not resolved. */
  openIncidents(target: string): Incident[] {
    const ids = this.watched.get(target)?.open ?? [];
    return [...ids].map((id) => this.store.incidents().get(id)!);
  }

  private async round(w: Watched): Promise<void> {
    if (this.drain.signal.aborted) return;
    const confirmed = w.confirmed;
    w.confirmed = false;
    const startedAt = Date.now();
    w.lastRoundAt = startedAt;
    w.roundInFlight = true;
    const { observation, finding } = await checkTarget(this.config, w, this.drain.signal, this.contextFor(w.target)).finally(
      () => (w.roundInFlight = false),
    );
    if (this.drain.signal.aborted || this.watched.get(w.target.name) !== w) return; // removed (or removed and added again) meanwhile
    w.lastFinding = finding ?? null;
    if (finding) w.lastFailedRound = { startedAt, endedAt: Date.now(), finding };
    w.verdictFrom = startedAt;
    w.failingSince = finding ? (w.failingSince ?? startedAt) : undefined;
    w.lastLatencyMs = observation.latencyMs;
    this.opts.onRound?.(w.target, observation, finding);
    if (!finding) w.deferredSince = undefined;
    this.log.debug({ target: w.target.name, ok: observation.ok, latencyMs: observation.latencyMs, kind: finding?.kind }, "probe round");
    const { track, decisions } = trackRound({
      track: w.track,
      finding,
      open: this.openIncidents(w.target.name),
      failureThreshold: w.target.failureThreshold,
      successThreshold: w.target.successThreshold,
      now: Date.now(),
      confirmed,
    });
    w.track = track;
    for (const decision of decisions) this.decide(w, decision);
    // A proven failure whose incident waits for a dependency's verdict stays proven for the round that looks again.
    if (confirmed && w.deferredSince !== undefined) w.confirmed = true;
    this.wakeDependents(w);
  }

  /** Dependents that held off opening until this target's verdict was in look again now. */
  private wakeDependents(w: Watched): void {
    for (const dependent of w.awaitedBy ?? []) dependent.schedule?.poke();
    w.awaitedBy = undefined;
  }

  private decide(w: Watched, d: Decision): void {
    switch (d.type) {
      case "open": {
        this.open(w, d.finding);
        return;
      }
      case "repeat": {
        // Not journaled now: the count waits in w.track (never in the folded incident, which is the journal's alone).
        if (d.journal) this.append(d.incident, { type: "observed", evidence: d.evidence, occurrences: d.occurrences });
        return;
      }
      case "resolve": {
        this.append(d.incident, { type: "resolved", reason: d.reason });
        this.log.info({ incident: d.incident, target: w.target.name, reason: d.reason }, "incident resolved");
        return;
      }
    }
  }

  /**
   * Opens an incident; when a dependency's incident explains it, opens it suppressed under that one
   * instead of acting. While a dependency may be the cause but has no incident yet, opening waits
   * a little, so the root, not the dependent, is acted on first.
   */
  private open(w: Watched, finding: Finding, source?: string): string | undefined {
    const waitMs = source ? 0 : this.dependencyWait(w);
    const now = Date.now();
    if (waitMs > 0 && now - (w.deferredSince ??= now) < waitMs) {
      this.log.debug(
        { target: w.target.name },
        "a dependency may be the cause: waiting for its verdict or its incident before opening one",
      );
      return undefined;
    }
    w.deferredSince = undefined;
    const id = randomBytes(4).toString("hex");
    const { kind, severity, evidence } = finding;
    const root = this.rootFor(w.target.name);
    this.append(id, {
      type: "opened",
      target: w.target.name,
      kind,
      severity,
      evidence,
      ...(this.dryRun && { dryRun: true }),
      ...(root && { root: root.id }),
      ...(source && { source }),
    });
    if (root) {
      this.log.warn(
        { incident: id, target: w.target.name, kind, root: root.id, rootTarget: root.target },
        "incident opened, suppressed: a dependency's incident explains it",
      );
      this.append(root.id, {
        type: "note",
        message: `${w.target.name} is affected too: incident ${id} (${kind}) is suppressed under this one`,
      });
      return id;
    }
    this.log.warn({ incident: id, target: w.target.name, kind, severity, evidence }, "incident opened");
    this.act(id);
    return id;
  }

  /**
   * How long opening an incident on `w` may wait for a dependency with no incident open: one that
   * fails its rounds (it debounces too), or one not seen healthy since `w` began failing (its round
   * is still out, maybe hanging, or it was last probed before). A dependency of that last kind is
   * probed now, and `w` looks again as soon as its verdict is in.
   */
  private dependencyWait(w: Watched): number {
    const since = w.failingSince ?? Date.now();
    let wait = 0;
    for (const name of w.target.dependsOn) {
      const dep = this.watched.get(name);
      if (!dep || this.openIncidents(name).length > 0) continue;
      if (dep.lastFinding === null && (dep.verdictFrom ?? 0) >= since) continue;
      if (!dep.lastFinding) {
        (dep.awaitedBy ??= new Set()).add(w);
        if (!dep.roundInFlight) dep.schedule?.poke();
      }
      wait = Math.max(wait, (dep.target.failureThreshold + 1) * (dep.target.intervalMs + dep.target.timeoutMs));
    }
    return wait;
  }

  /** The open incident on one of the target's dependencies that explains its trouble, if any. */
  private rootFor(target: string): Incident | undefined {
    return findRoot(target, {
      dependsOn: (name) => this.targets.get(name)?.dependsOn ?? [],
      openIncidents: (name) => this.openIncidents(name),
      incident: (id) => this.store.incidents().get(id),
    });
  }

  /** Plans (and runs, if the safety checks allow) the playbook for an incident, unless that is already under way. */
  private act(id: string, resume = false): void {
    if (this.acting.has(id)) return;
    this.acting.add(id);
    this.spawn(this.remediate(id, resume).finally(() => this.acting.delete(id)));
  }

  /** Plans and runs the playbook for an incident; `resume` continues a run a previous daemon started. */
  private async remediate(id: string, resume = false): Promise<void> {
    const incident = this.store.incidents().get(id)!;
    const w = this.watched.get(incident.target);
    // Nothing watches it, so nothing could verify a fix or page about it usefully: it closes instead.
    if (!w) return this.closeUnwatched(id);
    const plan = planRemediation({ incident, target: w.target, playbooks: this.config.playbooks });
    if (plan.action === "escalate") return this.escalate(id, plan.reason);
    let guards = "resumed";
    if (!resume) {
      const { decision } = this.safety.decide(incident, this.rootFor(w.target.name), [...this.store.incidents().values()], Date.now());
      if (decision.action !== "act") return this.holdBack(id, decision);
      guards = decision.guards;
    }
    if (this.dryRun) {
      const previews = await previewPlan(plan, {
        target: w.target,
        targets: this.targets,
        baseDir: this.config.baseDir,
        signal: this.drain.signal,
      });
      if (w.retire.signal.aborted) return; // removed meanwhile, and resolved with it
      const lines = renderPlan(plan, previews);
      this.append(id, { type: "would_run", plan: lines, guards });
      this.log.info({ incident: id, target: w.target.name, plan: lines, guards }, "dry run: would run playbook");
      return;
    }

    const previous = resume ? lastRun(incident) : undefined;
    if (previous && (previous.playbook !== plan.playbook.name || previous.steps.length !== plan.steps.length)) {
      return this.escalate(id, `playbook ${previous.playbook} changed while its run was in flight; not resuming it`);
    }
    const runId = previous?.runId ?? `${id}-${incident.runs.length + 1}`;
    if (!previous) {
      const steps = plan.steps.map((s) => ({ name: s.name, kind: s.kind, description: s.description }));
      this.append(id, { type: "playbook_started", runId, playbook: plan.playbook.name, steps, guards });
    }
    this.log.info({ incident: id, target: w.target.name, playbook: plan.playbook.name, resume, guards }, "running playbook");

    // No further step or verification once medic stops or the target is removed. Linked by hand, not
    // with AbortSignal.any, whose signals the daemon's lifetime signal would keep alive on Node 20.
    const stop = new AbortController();
    const onStop = (): void => stop.abort(w.retire.signal.aborted ? w.retire.signal.reason : this.drain.signal.reason);
    const sources = [this.drain.signal, w.retire.signal];
    for (const source of sources) source.addEventListener("abort", onStop, { once: true });
    if (sources.some((source) => source.aborted)) onStop();
    const result = await runPlaybook({
      record: (event) => this.append(id, event),
      runId,
      steps: plan.steps,
      verifyWithinMs: plan.verifyWithinMs,
      target: w.target,
      service: w.service,
      baseDir: this.config.baseDir,
      targets: this.targets,
      check: (signal) => checkTarget(this.config, w, signal, this.contextFor(w.target)).then((c) => c.finding),
      lastFailedRound: () => w.lastFailedRound,
      observe: (signal) => runProbe(w.probe, { target: w.target.name, timeoutMs: w.target.timeoutMs, signal }),
      signal: this.abort.signal,
      stop: stop.signal,
      resume: previous,
    }).finally(() => sources.forEach((source) => source.removeEventListener("abort", onStop)));
    if (w.retire.signal.aborted && this.retiring.has(id)) return this.closeRetired(id, w, result.outcome);
    if (result.outcome === "failed") return this.escalate(id, result.reason);
    if (result.outcome === "abandoned") {
      this.log.warn({ incident: id, target: w.target.name }, "playbook left unfinished; the next start resumes it");
      return;
    }
    w.track = { ...w.track, failStreak: 0, okStreak: 0 };
    this.log.info({ incident: id, target: w.target.name }, "incident resolved: recovery verified");
  }

  /**
   * The run on a removed target ended (its current step done, nothing more started): its incident
   * resolves with the removal's reason, unless the run already resolved it or medic is stopping with
   * a step cut off (the next start closes it: the target is not watched then).
   */
  private closeRetired(id: string, w: Watched, outcome: RunOutcome["outcome"]): void {
    const reason = (w.retire.signal.reason as Error).message;
    const incident = this.store.incidents().get(id);
    if (incident && isOpen(incident) && !(outcome === "abandoned" && this.abort.signal.aborted)) {
      this.append(id, { type: "resolved", reason: `no longer watched: ${reason}` });
      this.log.info({ incident: id, target: w.target.name, reason }, "incident closed: its target is no longer watched");
    }
    this.retiring.delete(id);
  }

  /** An incident a previous daemon left in flight on a target not watched now: a step it cut off is journaled as such, then it closes. */
  private closeUnwatched(id: string): void {
    const incident = this.store.incidents().get(id)!;
    const run = lastRun(incident);
    run?.steps.forEach((step, index) => {
      if (step.status !== "running") return;
      const detail = "interrupted by a daemon stop; not resumed: the target is no longer watched";
      this.append(id, { type: "step_finished", runId: run.runId, index, outcome: "abandoned", detail, durationMs: 0 });
    });
    this.append(id, { type: "resolved", reason: `no longer watched: ${REMOVED_FROM_CONFIG}` });
    this.log.info({ incident: id, target: incident.target }, "incident left in flight on a target no longer watched: closed");
  }

  /** A safety check said no: journal why (once per distinct decision) and, for the blast radius, say so loudly. */
  private holdBack(id: string, decision: Exclude<SafetyDecision, { action: "act" }>): void {
    const incident = this.store.incidents().get(id)!;
    switch (decision.action) {
      case "trip":
        return this.escalate(id, decision.reason, "flap_guard");
      case "suppress":
        if (incident.state === "suppressed" && incident.root === decision.root) return;
        this.append(id, { type: "suppressed", root: decision.root, reason: decision.reason });
        this.log.warn(
          { incident: id, target: incident.target, root: decision.root },
          "incident suppressed: a dependency's incident explains it",
        );
        return;
      case "hold": {
        const { hold } = incident;
        if (incident.state !== "held" || hold?.by !== decision.by || hold.until !== decision.until) {
          this.append(id, {
            type: "held",
            by: decision.by,
            reason: decision.reason,
            ...(decision.until !== undefined && { until: decision.until }),
          });
          this.log.warn({ incident: id, target: incident.target, by: decision.by, reason: decision.reason }, "playbook held back");
        }
        if (decision.by === "blast_radius") this.raiseBlastRadius(decision.reason);
        return;
      }
    }
  }

  private escalate(id: string, reason: string, by?: "flap_guard"): void {
    const current = this.store.incidents().get(id)?.severity;
    const raised = current && this.config.escalation.raiseOnFailure[current];
    this.append(id, { type: "escalated", reason, ...(raised && raised !== current && { severity: raised }), ...(by && { by }) });
    this.log.warn({ incident: id, reason, severity: raised ?? current }, "incident escalated");
  }

  /**
   * Carries on with incidents a previous daemon opened or was remediating when it stopped, on the
   * targets watched now (held and suppressed ones: the safety tick). `closeRest`: those on a target
   * no longer watched (removed while a run was finishing, then medic stopped) close instead.
   */
  private resumeInFlight(closeRest: boolean): void {
    for (const incident of this.store.incidents().values()) {
      // "open" lasts only between journaling an incident and planning it: a daemon died in between.
      if (!isActive(incident) && incident.state !== "open") continue;
      if (incident.dryRun !== this.dryRun || incident.target === MEDIC_TARGET || this.acting.has(incident.id)) continue;
      if (!this.watched.has(incident.target)) {
        if (closeRest) this.closeUnwatched(incident.id);
        continue;
      }
      this.log.info({ incident: incident.id, target: incident.target, state: incident.state }, "resuming incident left in flight");
      this.act(incident.id, isActive(incident));
    }
  }

  /**
   * Every second: re-reads the operator's controls (announcing pauses that ended), looks again at
   * held incidents (a backoff over, a slot free, a window closed), releases dependents whose root
   * is resolved, acts again where an operator reset the flap guard, and resolves the blast-radius
   * incident once nothing is held back.
   */
  private safetyTick(): void {
    if (this.drain.signal.aborted) return;
    const now = Date.now();
    this.stateDirWatch?.tick(now);
    const changes = this.safety.refresh(now);
    for (const pause of changes.ended) this.announcePauseEnd(pause, now);
    const reset = new Set(changes.reset);
    for (const target of reset) this.log.warn({ target }, "flap guard reset by an operator");
    let heldByBlast = 0;
    for (const w of this.watched.values()) {
      for (const incident of this.openIncidents(w.target.name)) {
        if (incident.dryRun !== this.dryRun) continue;
        const failing = w.lastFinding !== null;
        if (incident.state === "held") {
          if (incident.hold?.by === "blast_radius") heldByBlast++;
          const waiting = incident.hold?.by === "backoff" && (incident.hold.until ?? 0) > now && !reset.has(w.target.name);
          if (failing && !waiting) this.act(incident.id);
        } else if (incident.state === "suppressed") {
          const root = incident.root ? this.store.incidents().get(incident.root) : undefined;
          if (!root || root.state === "resolved") this.spawn(this.releaseDependents(incident.root ?? ""));
        } else if (incident.state === "escalated" && reset.has(w.target.name) && failing && trippedGuard(incident)) {
          this.act(incident.id);
        }
      }
    }
    const blast = this.blastIncident();
    if (blast && heldByBlast === 0) {
      this.append(blast.id, { type: "resolved", reason: "nothing is held back by the blast radius any more" });
      this.log.info({ incident: blast.id }, "blast radius: no longer holding back");
    }
  }

  /**
   * A root incident was resolved: its suppressed dependents are looked at again, nearest first. A
   * dependent that is healthy now is resolved; one still broken gets an incident of its own (which
   * a dependency still broken suppresses again), so parents are fixed before children.
   */
  private async releaseDependents(rootId: string): Promise<void> {
    if (this.releasing.has(rootId)) return;
    this.releasing.add(rootId);
    try {
      const root = this.store.incidents().get(rootId);
      const rootTarget = root?.target ?? "";
      const waiting = [...this.watched.values()]
        .flatMap((w) => this.openIncidents(w.target.name))
        .filter((i) => i.state === "suppressed" && i.root === rootId)
        .sort(
          (a, b) =>
            distance(a.target, rootTarget, (t) => this.targets.get(t)?.dependsOn ?? []) -
            distance(b.target, rootTarget, (t) => this.targets.get(t)?.dependsOn ?? []),
        );
      for (const incident of waiting) {
        const w = this.watched.get(incident.target);
        if (this.drain.signal.aborted || !w || incident.state !== "suppressed") continue;
        const { finding } = await checkTarget(this.config, w, this.drain.signal, this.contextFor(w.target));
        if (this.drain.signal.aborted || incident.state !== "suppressed") continue;
        if (!finding) {
          this.append(incident.id, { type: "resolved", reason: `healthy once incident ${rootId} on ${rootTarget} was resolved` });
          continue;
        }
        const again = this.rootFor(w.target.name);
        if (again) {
          this.append(incident.id, {
            type: "suppressed",
            root: again.id,
            reason: `incident ${rootId} on ${rootTarget} was resolved, but incident ${again.id} on ${again.target} is open`,
          });
          continue;
        }
        this.append(incident.id, {
          type: "resolved",
          reason: `incident ${rootId} on ${rootTarget} was resolved; ${w.target.name} is still broken, so it gets an incident of its own`,
        });
        w.lastFinding = finding;
        w.deferredSince = undefined;
        const id = this.open(w, finding);
        this.log.warn(
          { incident: id, target: w.target.name, root: rootId },
          "still broken after its dependency recovered: acting on it now",
        );
      }
    } finally {
      this.releasing.delete(rootId);
    }
  }

  /** The open incident saying medic holds remediations back, if there is one. */
  private blastIncident(): Incident | undefined {
    for (const id of this.medicIncidents) {
      const incident = this.store.incidents().get(id);
      if (incident && isOpen(incident)) return incident;
    }
    return undefined;
  }

  /** One loud incident for holding back, not one per target: opened and escalated once, its evidence kept current. */
  private raiseBlastRadius(reason: string): void {
    const held = [...this.watched.values()]
      .flatMap((w) => this.openIncidents(w.target.name))
      .filter((i) => i.state === "held" && i.hold?.by === "blast_radius");
    const names = [...new Set(held.map((i) => i.target))].sort();
    const list = names.length > 10 ? `${names.slice(0, 10).join(", ")} and ${names.length - 10} more` : names.join(", ");
    const evidence = `holding back playbooks on ${names.length} targets (${list}): ${reason}`;
    const open = this.blastIncident();
    if (open) {
      if (open.evidence !== evidence) this.append(open.id, { type: "observed", evidence, occurrences: names.length });
      return;
    }
    const id = randomBytes(4).toString("hex");
    this.medicIncidents.add(id);
    const severity = this.config.severities.blast_radius ?? "P1";
    this.append(id, {
      type: "opened",
      target: MEDIC_TARGET,
      kind: "blast_radius",
      severity,
      evidence,
      ...(this.dryRun && { dryRun: true }),
    });
    this.escalate(id, `medic is holding back: too many targets broke at once for it to act on all of them (${reason})`);
  }

  private announcePauseEnd(pause: { id: string; target: string; until: number; reason: string; by: string }, now: number): void {
    const scope = pause.target === "*" ? "all targets" : pause.target;
    const how = now >= pause.until ? "expired" : "was lifted";
    const open = pause.target === "*" ? [...this.watched.keys()].flatMap((t) => this.openIncidents(t)) : this.openIncidents(pause.target);
    const text =
      `medic: the pause on ${scope} ${how} (${pause.id}, by ${pause.by}: ${pause.reason}). ` +
      (open.length === 0
        ? "Nothing is broken there now."
        : `${open.length === 1 ? "1 open incident is" : `${open.length} open incidents are`} handled normally from now on.`);
    this.log.warn({ pause: pause.id, target: pause.target, open: open.length }, "pause ended");
    this.escalations.announce(text);
  }

  private append(id: string, event: IncidentEvent, at = Date.now()): JournalRecord {
    // The failing rounds counted since the last `observed` record go with the resolve, so the final count is exact.
    const record = this.store.append(id, event.type === "resolved" ? { ...event, ...this.takeCount(id) } : event, at);
    const incident = this.store.incidents().get(id);
    const open = incident && this.watched.get(incident.target)?.open;
    if (open && isOpen(incident)) open.add(id);
    else open?.delete(id);
    this.opts.onRecord?.(record, incident);
    // Every change of an incident may make a notification due; what notifications record changes nothing.
    if (!record.type.startsWith("notification_")) this.escalations.review(id);
    return record;
  }

  /** An incident's failing rounds counted but not journaled yet, taken out of its target's track. */
  private takeCount(id: string): { occurrences?: number } {
    const target = this.store.incidents().get(id)?.target;
    const w = this.retiring.get(id) ?? (target === undefined ? undefined : this.watched.get(target));
    const counted = w?.track.unjournaled?.[id];
    if (!w || counted === undefined) return {};
    const { [id]: _, ...others } = w.track.unjournaled!;
    w.track = { ...w.track, unjournaled: others };
    return { occurrences: counted };
  }

  private spawn(task: Promise<void>): void {
    const tracked = task.catch((err) => this.log.error({ err: describeError(err) }, "internal error in a background task"));
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }
}

// Escalated because the flap guard tripped (not because remediation failed): an operator's reset lets medic try again.
function trippedGuard(incident: Incident): boolean {
  for (let i = incident.timeline.length - 1; i >= 0; i--) {
    const r = incident.timeline[i]!;
    if (r.type === "escalated") return r.by === "flap_guard";
  }
  return false;
}
