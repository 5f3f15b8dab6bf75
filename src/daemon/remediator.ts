import { randomBytes } from "node:crypto";
import type { Config, Target } from "../config/types.js";
import type { ActionGate } from "../gate/gate.js";
import { raiseOwn, vantageSource } from "./own-incidents.js";
import type { Confirmation, StepCarrier } from "./ports.js";
import { lastRun } from "../incidents/fold.js";
import { isActive, isOpen, MEDIC_TARGET, type Incident } from "../incidents/types.js";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/log.js";
import { planRemediation, renderPlan, type Plan, type Previews, type RenderedStep } from "../playbooks/plan.js";
import { previewPlan } from "../playbooks/preview.js";
import type { SafetyDecision } from "../safety/decide.js";
import type { SafetyRuntime } from "../safety/runtime.js";
import type { Checked } from "../targets.js";
import type { Detector } from "./detector.js";
import type { RecordStream } from "./records.js";
import { runPlan } from "./run-plan.js";
import type { RunOutcome } from "../playbooks/run.js";
import type { Watcher } from "./watcher.js";
import type { Watchers } from "./watchers.js";

type RunnablePlan = Extract<Plan, { action: "run" }>;

/** Why a target's incidents close when a reload drops it from the config. */
export const REMOVED_FROM_CONFIG = "target removed from config";

/** What the remediator needs from the daemon. */
export interface RemediatorDeps {
  clock: Clock;
  log: Logger;
  config: () => Config;
  records: RecordStream;
  live: () => ReadonlyMap<string, Incident>;
  watchers: Watchers;
  detector: Detector;
  safety: SafetyRuntime;
  gate: ActionGate;
  dryRun: boolean;
  check(w: Watcher, signal: AbortSignal): Promise<Checked>;
  background(task: Promise<void>): void;
  /** Aborted when medic starts to stop: no further step or verification starts. */
  stop: AbortSignal;
  /** Aborted when medic gives up waiting: steps in flight are cut off. */
  cutoff: AbortSignal;
  /** A cluster's word from its other vantage points before a target is acted on (absent: act on what this node sees). */
  confirm?: (incident: Incident, target: Target) => Confirmation;
  /** Carries out the steps that must run on another node (a cluster's host steps). */
  carry?: StepCarrier;
}

/**
 * Acts on incidents: plans the playbook, asks the safety guards, asks the gate, runs it, and
 * escalates when it cannot (no playbook, a guard tripped, a step or verification failed). Holds
 * back what a guard holds (one loud incident of medic's own for the blast radius), and carries on
 * with what a previous daemon left in flight.
 */
export class Remediator {
  /** Incidents being planned or remediated now: one task per incident at a time. */
  private readonly acting = new Set<string>();
  /** Approved incidents waiting for a pause to end or a slot in the blast radius, and why (said once per reason). */
  private readonly waitingApproved = new Map<string, string>();
  /** Incidents of removed targets whose run is finishing its current step; they close once it ends. */
  private readonly retiring = new Map<string, Watcher>();

  constructor(private readonly deps: RemediatorDeps) {}

  /**
   * Plans (and runs, if the guards and the gate allow) the playbook for an incident, unless that is
   * under way. `resume`: carry on with the run a previous daemon left in flight; `approved`: carry
   * on with the run a person approved, once its target is seen still broken and no pause holds it.
   */
  act(id: string, mode: boolean | "approved" = false): void {
    if (this.acting.has(id)) return;
    this.acting.add(id);
    const work = mode === "approved" ? this.approved(id) : this.remediate(id, mode);
    this.deps.background(work.finally(() => this.acting.delete(id)));
  }

  /** A target stops being watched: its idle incidents resolve now; one whose run is in flight, once its step ends. */
  retire(w: Watcher, reason: string): number {
    let finishing = 0;
    for (const id of [...w.open]) {
      const incident = this.deps.live().get(id);
      if (this.acting.has(id) && incident && isActive(incident)) {
        this.retiring.set(id, w);
        finishing++;
      } else this.deps.records.append(id, { type: "resolved", reason: `no longer watched: ${reason}` });
    }
    return finishing;
  }

  /**
   * Carries on with incidents a previous daemon opened or was remediating when it stopped, on the
   * targets watched now (held and suppressed ones: the supervisor's). `closeRest`: those on a
   * target no longer watched (removed while a run was finishing, then medic stopped) close instead.
   */
  resumeInFlight(closeRest: boolean): void {
    for (const incident of this.deps.live().values()) {
      // "open" lasts only between recording an incident and planning it: a daemon died in between.
      if (!isActive(incident) && incident.state !== "open") continue;
      if (incident.dryRun !== this.deps.dryRun || incident.target === MEDIC_TARGET || this.acting.has(incident.id)) continue;
      if (!this.deps.watchers.get(incident.target)) {
        if (closeRest) this.closeUnwatched(incident.id);
        continue;
      }
      this.deps.log.info({ incident: incident.id, target: incident.target, state: incident.state }, "resuming incident left in flight");
      this.act(incident.id, isActive(incident));
    }
  }

  /** Records that medic gives up on the incident (its severity raised if the config says so). */
  escalate(id: string, reason: string, by?: "flap_guard"): void {
    const current = this.deps.live().get(id)?.severity;
    const raised = current && this.deps.config().escalation.raiseOnFailure[current];
    this.deps.records.append(id, {
      type: "escalated",
      reason,
      ...(raised && raised !== current && { severity: raised }),
      ...(by && { by }),
    });
    this.deps.log.warn({ incident: id, reason, severity: raised ?? current }, "incident escalated");
  }

  /** medic's own open incident saying it holds remediations back, if there is one. */
  blastIncident(): Incident | undefined {
    for (const incident of this.deps.live().values())
      if (incident.target === MEDIC_TARGET && incident.kind === "blast_radius" && isOpen(incident)) return incident;
    return undefined;
  }

  private async remediate(id: string, resume: boolean): Promise<void> {
    const { live, watchers, config, records, log } = this.deps;
    const incident = live().get(id);
    if (!incident) return;
    const w = watchers.get(incident.target);
    // Nothing watches it, so nothing could verify a fix or page about it usefully: it closes instead.
    if (!w) return this.closeUnwatched(id);
    const plan = planRemediation({ incident, target: w.target, playbooks: config().playbooks, approvals: config().approvals });
    if (plan.action === "escalate") return this.escalate(id, plan.reason);
    let guards = "resumed";
    let confirmed = "";
    if (!resume) {
      const confirmation = this.deps.confirm?.(incident, w.target);
      if (confirmation && !confirmation.act) {
        if ("hold" in confirmation) return this.holdBack(id, { action: "hold", by: "quorum", reason: confirmation.hold });
        if ("escalate" in confirmation) return this.escalate(id, confirmation.escalate);
        // The path from here is at fault, not the target: one incident about it pages, nothing restarts.
        raiseOwn(this.deps, "vantage_disagreement", confirmation.disagree, vantageSource(w.name), (i) => i.id === id);
        return;
      }
      if (confirmation?.detail) confirmed = `; ${confirmation.detail}`;
      const root = this.deps.detector.rootFor(w.name);
      const { decision } = this.deps.safety.decide(incident, root, [...live().values()], this.deps.clock.now());
      if (decision.action !== "act") return this.holdBack(id, decision);
      guards = decision.guards + confirmed;
    }
    // Asked at once, not awaited: the guards' decision and the run's record must come in one turn, or two
    // incidents could both pass the blast radius before either is seen running. Durability is awaited per step.
    const local = plan.steps.filter((s) => s.step.local?.(s.rendered, w.target)).map((s) => s.name);
    const verdict = this.deps.gate.check({ kind: "playbook", incident: id, target: w.name, playbook: plan.playbook.name, local });
    if (!verdict.allow) {
      // No node but the target's own can carry these steps out: a human must.
      if (verdict.rule === "placement") return this.escalate(id, verdict.reason);
      // A follower's refusal is its job, not news: the leader acts on what it sees.
      if (verdict.rule === "follower") return void log.debug({ incident: id, target: w.name, reason: verdict.reason }, "the leader acts");
      if (verdict.rule !== "dry_run")
        return void log.warn({ incident: id, target: w.name, reason: verdict.reason }, "playbook refused by the gate");
      // A dry run goes the whole way to this point, so it cannot drift from a real run: it records what would run.
      const previews = await previewPlan(plan, {
        target: w.target,
        targets: watchers.targets(),
        baseDir: config().baseDir,
        signal: this.deps.stop,
      });
      if (w.retired.aborted) return; // removed meanwhile, and resolved with it
      const lines = renderPlan(plan, previews);
      records.append(id, { type: "would_run", plan: lines, guards });
      log.info({ incident: id, target: w.name, plan: lines, guards }, "dry run: would run playbook");
      return;
    }

    const previous = resume ? lastRun(incident) : undefined;
    if (previous && (previous.playbook !== plan.playbook.name || previous.steps.length !== plan.steps.length)) {
      return this.escalate(id, `playbook ${previous.playbook} changed while its run was in flight; not resuming it`);
    }
    // What was started (and approved) is what runs: a step that renders otherwise now (a reload, a template on evidence) does not.
    const changed = previous && plan.steps.find((s, i) => s.description !== previous.steps[i]!.description);
    if (changed) {
      const was = previous.steps[changed.index]!.description;
      return this.escalate(
        id,
        `step ${changed.index + 1} of playbook ${previous.playbook} now reads "${changed.description}", not "${was}" as when its run started; not resuming it`,
      );
    }
    const runId = previous?.runId ?? `${id}-${incident.runs.length + 1}`;
    if (!previous) {
      const steps = plan.steps.map((s) => ({
        name: s.name,
        kind: s.kind,
        description: s.description,
        ...(s.step.capture && { capture: true as const }),
      }));
      records.append(id, { type: "playbook_started", runId, playbook: plan.playbook.name, steps, guards });
    }
    log.info({ incident: id, target: w.name, playbook: plan.playbook.name, resume, guards }, "running playbook");
    const askApproval = (step: RenderedStep) => this.askApproval(id, w, plan, runId, step);
    const result = await runPlan({ ...this.deps, incident: id, planned: incident, watcher: w, plan, runId, previous, askApproval });
    if (w.retired.aborted && this.retiring.has(id)) return this.closeRetired(id, w, result.outcome);
    if (result.outcome === "failed") return this.failed(id, w, result.reason);
    if (result.outcome === "abandoned")
      return void log.warn({ incident: id, target: w.name }, "playbook left unfinished; the next start resumes it");
    if (result.outcome === "awaiting_approval") return void log.warn({ incident: id, target: w.name }, "playbook waits for approval");
    w.track = { ...w.track, failStreak: 0, okStreak: 0 };
    log.info({ incident: id, target: w.name }, "incident resolved: recovery verified");
  }

  /**
   * Asks a person to approve a step, with the whole plan as it would run now and what it would touch
   * (`medic plan`'s lines); the same question already asked (medic restarted while it waited) is not asked again.
   */
  private async askApproval(id: string, w: Watcher, plan: RunnablePlan, runId: string, step: RenderedStep): Promise<void> {
    const asked = this.deps.live().get(id)?.approval;
    if (asked && asked.runId === runId && asked.index === step.index && !asked.answer) return;
    const { config, watchers, clock, records, log } = this.deps;
    // What a step handed to another node would touch is on that host: not looked at from here.
    const node = this.deps.carry ? w.target.node : undefined;
    const previews: Previews = node
      ? new Map(
          plan.steps
            .filter((s) => s.step.local?.(s.rendered, w.target))
            .map((s) => [s.index, [`(carried out on node ${node}: what it would touch there is not looked at from here)`]]),
        )
      : await previewPlan(plan, { target: w.target, targets: watchers.targets(), baseDir: config().baseDir, signal: this.deps.stop });
    const need = step.approval!;
    records.append(id, {
      type: "approval_requested",
      runId,
      index: step.index,
      step: step.name,
      plan: renderPlan(plan, previews),
      why: need.why,
      run: need.run,
      expiresAt: clock.now() + need.timeoutMs,
    });
    log.warn({ incident: id, target: w.name, step: step.index + 1, why: need.why }, "awaiting approval before a step");
  }

  /**
   * A person approved: the target is looked at afresh, and the run carries on only if it is still
   * broken and no pause or window holds it (a hold now means asking again once it lifts). The flap
   * guard and the blast radius counted this run when it started.
   */
  private async approved(id: string): Promise<void> {
    const { live, watchers, safety, clock, config, log } = this.deps;
    const incident = live().get(id);
    const w = incident && watchers.get(incident.target);
    if (!incident || incident.state !== "approved") return;
    if (!w) return this.closeUnwatched(id);
    // Waits, approved, while a pause holds the target or the blast radius is full: the desk asks again every second.
    const pause = safety.pausedFor(w.name, clock.now());
    const running = [...live().values()].filter((i) => i.id !== id && !i.dryRun && isActive(i)).length;
    const limit = config().safety.blastRadius.concurrent;
    if (pause || running >= limit) {
      const why = pause
        ? `${pause.source === "window" ? "maintenance window" : "pause"} ${pause.name}`
        : `${running} playbooks running (limit ${limit})`;
      if (this.waitingApproved.get(id) !== why) log.warn({ incident: id, target: w.name, why }, "approved, and waiting before it runs");
      this.waitingApproved.set(id, why);
      return;
    }
    this.waitingApproved.delete(id);
    const { finding } = await this.deps.check(w, this.deps.stop);
    if (this.deps.stop.aborted || live().get(id)?.state !== "approved") return;
    if (!finding) {
      const ran = lastRun(incident)?.steps.some((s) => s.status === "ok") ?? false;
      const reason = `${w.name} recovered while a step awaited approval: the approved step did not run${ran ? " (the steps before it did)" : ""}`;
      this.deps.records.append(id, { type: "resolved", reason });
      return;
    }
    await this.remediate(id, true);
  }

  /**
   * The run failed. When an incident opened meanwhile explains it (the node that was to carry a step
   * out went down with its host, a dependency broke), it waits under that one, which pages; else it escalates.
   */
  private failed(id: string, w: Watcher, reason: string): void {
    const root = this.deps.detector.rootFor(w.name);
    if (!root || root.id === id) return this.escalate(id, reason);
    this.holdBack(id, { action: "suppress", root: root.id, reason: `${reason}; incident ${root.id} on ${root.target} explains it` });
  }

  /**
   * The run on a removed target ended (its current step done, nothing more started): its incident
   * resolves with the removal's reason, unless the run already resolved it or medic is stopping with
   * a step cut off (the next start closes it: the target is not watched then).
   */
  private closeRetired(id: string, w: Watcher, outcome: RunOutcome["outcome"]): void {
    const reason = (w.retired.reason as Error).message;
    const incident = this.deps.live().get(id);
    if (incident && isOpen(incident) && !(outcome === "abandoned" && this.deps.cutoff.aborted)) {
      this.deps.records.append(id, { type: "resolved", reason: `no longer watched: ${reason}` });
      this.deps.log.info({ incident: id, target: w.name, reason }, "incident closed: its target is no longer watched");
    }
    this.retiring.delete(id);
  }

  /** An incident a previous daemon left in flight on a target not watched now: a step it cut off is recorded as such, then it closes. */
  private closeUnwatched(id: string): void {
    const incident = this.deps.live().get(id);
    if (!incident) return;
    const run = lastRun(incident);
    run?.steps.forEach((step, index) => {
      if (step.status !== "running") return;
      const detail = "interrupted by a daemon stop; not resumed: the target is no longer watched";
      this.deps.records.append(id, { type: "step_finished", runId: run.runId, index, outcome: "abandoned", detail, durationMs: 0 });
    });
    this.deps.records.append(id, { type: "resolved", reason: `no longer watched: ${REMOVED_FROM_CONFIG}` });
    this.deps.log.info({ incident: id, target: incident.target }, "incident left in flight on a target no longer watched: closed");
  }

  /** A safety check said no: record why (once per distinct decision) and, for the blast radius, say so loudly. */
  private holdBack(id: string, decision: Exclude<SafetyDecision, { action: "act" }>): void {
    const incident = this.deps.live().get(id)!;
    const { records, log } = this.deps;
    switch (decision.action) {
      case "trip":
        return this.escalate(id, decision.reason, "flap_guard");
      case "suppress":
        if (incident.state === "suppressed" && incident.root === decision.root) return;
        records.append(id, { type: "suppressed", root: decision.root, reason: decision.reason });
        log.warn(
          { incident: id, target: incident.target, root: decision.root },
          "incident suppressed: a dependency's incident explains it",
        );
        return;
      case "hold": {
        const { hold } = incident;
        if (incident.state !== "held" || hold?.by !== decision.by || hold.until !== decision.until) {
          records.append(id, {
            type: "held",
            by: decision.by,
            reason: decision.reason,
            ...(decision.until !== undefined && { until: decision.until }),
          });
          log.warn({ incident: id, target: incident.target, by: decision.by, reason: decision.reason }, "playbook held back");
        }
        if (decision.by === "blast_radius") this.raiseBlastRadius(decision.reason);
        return;
      }
    }
  }

  /** One loud incident for holding back, not one per target: opened and escalated once, its evidence kept current. */
  private raiseBlastRadius(reason: string): void {
    const held = this.deps.watchers.allOpen().filter((i) => i.state === "held" && i.hold?.by === "blast_radius");
    const names = [...new Set(held.map((i) => i.target))].sort();
    const list = names.length > 10 ? `${names.slice(0, 10).join(", ")} and ${names.length - 10} more` : names.join(", ");
    const evidence = `holding back playbooks on ${names.length} targets (${list}): ${reason}`;
    const open = this.blastIncident();
    if (open) {
      if (open.evidence !== evidence) this.deps.records.append(open.id, { type: "observed", evidence, occurrences: names.length });
      return;
    }
    const id = randomBytes(4).toString("hex");
    const severity = this.deps.config().severities.blast_radius ?? "P1";
    this.deps.records.append(id, {
      type: "opened",
      target: MEDIC_TARGET,
      kind: "blast_radius",
      severity,
      evidence,
      ...(this.deps.dryRun && { dryRun: true }),
    });
    this.escalate(id, `medic is holding back: too many targets broke at once for it to act on all of them (${reason})`);
  }
}
