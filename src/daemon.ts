import { randomBytes } from "node:crypto";
import type { ClassifyContext } from "./classify/classify.js";
import { DATABASE_PROBES } from "./classify/database.js";
import type { Finding } from "./classify/types.js";
import type { Config, Target } from "./config/types.js";
import { Escalations } from "./escalation/escalations.js";
import { lastRun, runStarts } from "./incidents/fold.js";
import { JournalStore } from "./incidents/journal.js";
import { MemoryStore, type IncidentStore } from "./incidents/store.js";
import { trackRound, type Decision, type TargetTrack } from "./incidents/track.js";
import { isActive, isOpen, type Incident, type IncidentEvent, type JournalRecord } from "./incidents/types.js";
import { settles } from "./lib/clock.js";
import { describeError } from "./lib/errors.js";
import { lockStateDir } from "./lib/lockfile.js";
import type { Logger } from "./lib/log.js";
import { planRemediation, renderPlan } from "./playbooks/plan.js";
import { previewPlan } from "./playbooks/preview.js";
import { runPlaybook } from "./playbooks/run.js";
import { runProbe } from "./probes/run.js";
import { every, phaseFor, type Schedule } from "./schedule/scheduler.js";
import { checkTarget, liveTarget, type LiveTarget } from "./targets.js";
import { dockerDiscovery, type Discovery } from "./discovery/docker.js";
import { probeKinds } from "./probes/registry.js";

/** How the daemon is wired; everything but config and log has a default. */
export interface DaemonOptions {
  config: Config;
  log: Logger;
  /** Reason and log everything, act on nothing, write nothing. */
  dryRun?: boolean;
  store?: IncidentStore;
  /** Called after each journal record is durable (the demo narrates from it). */
  onRecord?: (record: JournalRecord) => void;
}

/** One target's live parts and what the daemon tracks about it. */
interface Watched extends LiveTarget {
  track: TargetTrack;
  /** Ids of the target's incidents that are not resolved: every round reads them. */
  open: Set<string>;
  /** The latest round's finding: null when healthy, undefined before the first round. */
  lastFinding?: Finding | null;
  /** An event proved the target broke since the last round began. */
  confirmed: boolean;
  schedule?: Schedule;
  unwatch?: () => void;
}

/** In-flight steps get this long to finish on stop before they are cut off; the whole stop stays under 10 s. */
const DRAIN_MS = 5_000;
const ABORT_GRACE_MS = 3_000;

/** The composition root: schedules probes, turns rounds into incidents, runs playbooks, tells humans. */
export class Daemon {
  readonly store: IncidentStore;
  private readonly config: Config;
  private readonly log: Logger;
  private readonly dryRun: boolean;
  readonly escalations: Escalations;
  private readonly watched = new Map<string, Watched>();
  private readonly targets = new Map<string, Target>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly drain = new AbortController();
  private readonly abort = new AbortController();
  private unlock: (() => void) | undefined;
  private started = false;
  private readonly discovery: Discovery | undefined;

  constructor(private readonly opts: DaemonOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.dryRun = opts.dryRun ?? false;
    this.store = opts.store ?? (this.dryRun ? new MemoryStore() : new JournalStore(opts.config.stateDir));
    this.escalations = new Escalations({
      config: this.config, log: this.log, dryRun: this.dryRun,
      record: (id, event) => void this.append(id, event), incidents: () => this.store.incidents(),
    });
    this.discovery = opts.config.discovery?.docker && dockerDiscovery(opts.config.discovery.docker, opts.config, opts.log);
    for (const target of this.config.targets) this.addTarget(target);
  }

  /** Takes the state dir, resumes what a previous daemon left in flight, and starts every target's schedule. */
  async start(): Promise<void> {
    if (!this.dryRun) this.unlock = await lockStateDir(this.config.stateDir);
    this.escalations.start();
    this.resumeInFlight();
    this.started = true;
    for (const w of this.watched.values()) this.startWatching(w);
    this.log.info({ targets: this.watched.size, dryRun: this.dryRun, stateDir: this.config.stateDir }, "medic started");
    await this.discovery?.start({ add: (t) => this.addTarget(t), remove: (name, why) => this.removeTarget(name, why) });
  }

  /** Watches a target, from the config or discovered at run time. */
  addTarget(target: Target): void {
    if (this.watched.has(target.name) || this.drain.signal.aborted) return;
    const w: Watched = { ...liveTarget(target, this.config.baseDir), track: { failStreak: 0, okStreak: 0 }, open: new Set(), confirmed: false };
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

  /** Stops watching a target that went away; its open incidents resolve, saying why. */
  removeTarget(name: string, reason: string): void {
    const w = this.watched.get(name);
    if (!w) return;
    this.watched.delete(name);
    this.targets.delete(name);
    w.unwatch?.();
    void w.schedule?.stop();
    for (const id of w.open) {
      if (!isActive(this.store.incidents().get(id)!)) this.append(id, { type: "resolved", reason: `no longer watched: ${reason}` });
    }
    this.log.info({ target: name, reason }, "stopped watching a target");
  }

  private startWatching(w: Watched): void {
    const { target } = w;
    w.schedule = every(target.intervalMs, phaseFor(target.name, target.intervalMs), () => this.round(w));
    const kind = probeKinds.get(target.probe.kind);
    w.unwatch = kind?.watch?.(target.probe.params, { target: target.name, timeoutMs: target.timeoutMs, baseDir: this.config.baseDir }, (event) => {
      this.log.info({ target: target.name, event: event.what }, "event from the target's source");
      if (event.confirmsFailure) w.confirmed = true;
      w.schedule?.poke();
    });
  }

  /** Stops probing, lets in-flight steps finish for a while, cuts off the rest (journaled as abandoned). */
  async stop(): Promise<void> {
    this.drain.abort(new Error("medic is stopping"));
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

  /** The target's incidents that are not resolved. */
  openIncidents(target: string): Incident[] {
    const ids = this.watched.get(target)?.open ?? [];
    return [...ids].map((id) => this.store.incidents().get(id)!);
  }

  private async round(w: Watched): Promise<void> {
    if (this.drain.signal.aborted) return;
    const confirmed = w.confirmed;
    w.confirmed = false;
    const { observation, finding } = await checkTarget(this.config, w, this.drain.signal, this.contextFor(w.target));
    if (this.drain.signal.aborted || !this.watched.has(w.target.name)) return;
    w.lastFinding = finding ?? null;
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
  }

  private decide(w: Watched, d: Decision): void {
    switch (d.type) {
      case "open": {
        const id = randomBytes(4).toString("hex");
        const { kind, severity, evidence } = d.finding;
        this.append(id, { type: "opened", target: w.target.name, kind, severity, evidence, ...(this.dryRun && { dryRun: true }) });
        this.log.warn({ incident: id, target: w.target.name, kind, severity, evidence }, "incident opened");
        this.spawn(this.remediate(id));
        return;
      }
      case "repeat": {
        if (d.journal) this.append(d.incident, { type: "observed", evidence: d.evidence, occurrences: d.occurrences });
        else {
          const incident = this.store.incidents().get(d.incident);
          if (incident) incident.occurrences = d.occurrences;
        }
        return;
      }
      case "resolve": {
        this.append(d.incident, { type: "resolved", reason: d.reason });
        this.log.info({ incident: d.incident, target: w.target.name, reason: d.reason }, "incident resolved");
        return;
      }
    }
  }

  /** Plans and runs the playbook for an incident; `resume` continues a run a previous daemon started. */
  private async remediate(id: string, resume = false): Promise<void> {
    const incident = this.store.incidents().get(id)!;
    const w = this.watched.get(incident.target);
    if (!w) return this.escalate(id, `target ${incident.target} is no longer in the config`);
    const recentRunsAt = resume ? [] : runStarts(this.store.incidents().values(), incident.target);
    const plan = planRemediation({
      incident, target: w.target, playbooks: this.config.playbooks, recentRunsAt,
      runsPerHour: this.config.limits.runsPerHour, now: Date.now(),
    });
    if (plan.action === "escalate") return this.escalate(id, plan.reason);
    if (this.dryRun) {
      const previews = await previewPlan(plan, { target: w.target, targets: this.targets, baseDir: this.config.baseDir, signal: this.drain.signal });
      const lines = renderPlan(plan, previews);
      this.append(id, { type: "note", message: `dry run: would run ${lines.join("\n")}` });
      this.log.info({ incident: id, target: w.target.name, plan: lines }, "dry run: would run playbook");
      return;
    }

    const previous = resume ? lastRun(incident) : undefined;
    if (previous && (previous.playbook !== plan.playbook.name || previous.steps.length !== plan.steps.length)) {
      return this.escalate(id, `playbook ${previous.playbook} changed while its run was in flight; not resuming it`);
    }
    const runId = previous?.runId ?? `${id}-${incident.runs.length + 1}`;
    if (!previous) {
      const steps = plan.steps.map((s) => ({ name: s.name, kind: s.kind, description: s.description }));
      this.append(id, { type: "playbook_started", runId, playbook: plan.playbook.name, steps });
    }
    this.log.info({ incident: id, target: w.target.name, playbook: plan.playbook.name, resume }, "running playbook");

    const result = await runPlaybook({
      record: (event) => this.append(id, event), runId, steps: plan.steps, verifyWithinMs: plan.verifyWithinMs,
      target: w.target, service: w.service, baseDir: this.config.baseDir, targets: this.targets,
      check: (signal) => checkTarget(this.config, w, signal, this.contextFor(w.target)).then((c) => c.finding),
      observe: (signal) => runProbe(w.probe, { target: w.target.name, timeoutMs: w.target.timeoutMs, signal }),
      signal: this.abort.signal, stop: this.drain.signal, resume: previous,
    });
    if (result.outcome === "failed") return this.escalate(id, result.reason);
    if (result.outcome === "abandoned") {
      this.log.warn({ incident: id, target: w.target.name }, "playbook left unfinished; the next start resumes it");
      return;
    }
    w.track = { failStreak: 0, okStreak: 0 };
    this.log.info({ incident: id, target: w.target.name }, "incident resolved: recovery verified");
  }

  private escalate(id: string, reason: string): void {
    const current = this.store.incidents().get(id)?.severity;
    const raised = current && this.config.escalation.raiseOnFailure[current];
    this.append(id, { type: "escalated", reason, ...(raised && raised !== current && { severity: raised }) });
    this.log.warn({ incident: id, reason, severity: raised ?? current }, "incident escalated");
  }

  /** Carries on with incidents a previous daemon opened or was remediating when it stopped. */
  private resumeInFlight(): void {
    for (const incident of this.store.incidents().values()) {
      // "open" lasts only between journaling an incident and planning it: a daemon died in between.
      if (!isActive(incident) && incident.state !== "open") continue;
      this.log.info({ incident: incident.id, target: incident.target, state: incident.state }, "resuming incident left in flight");
      this.spawn(this.remediate(incident.id, isActive(incident)));
    }
  }

  private append(id: string, event: IncidentEvent, at = Date.now()): JournalRecord {
    const record = this.store.append(id, event, at);
    const incident = this.store.incidents().get(id);
    const open = incident && this.watched.get(incident.target)?.open;
    if (open && isOpen(incident)) open.add(id);
    else open?.delete(id);
    this.opts.onRecord?.(record);
    // Every change of an incident may make a notification due; what notifications record changes nothing.
    if (!record.type.startsWith("notification_")) this.escalations.review(id);
    return record;
  }

  private spawn(task: Promise<void>): void {
    const tracked = task.catch((err) => this.log.error({ err: describeError(err) }, "internal error in a background task"));
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }
}
