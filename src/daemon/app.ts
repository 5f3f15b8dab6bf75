import type { Finding } from "../classify/types.js";
import type { Config, Target } from "../config/types.js";
import { dockerDiscovery, type Discovery } from "../discovery/docker.js";
import { Escalations } from "../escalation/escalations.js";
import { ActionGate } from "../gate/gate.js";
import { approvalRule, dryRunRule, standingRule } from "../gate/rules.js";
import type { GateRule } from "../gate/types.js";
import { StateDirWatch, type WatchedJournal } from "../incidents/state-dir-watch.js";
import type { Incident } from "../incidents/types.js";
import { repeat, systemClock, type Clock } from "../lib/clock.js";
import type { Logger } from "../lib/log.js";
import type { Observation } from "../probes/types.js";
import { SafetyRuntime } from "../safety/runtime.js";
import type { Controls } from "../safety/types.js";
import type { HistoryQuery, IncidentStore, Precondition } from "../store/types.js";
import { checkTarget, liveTarget, type LiveTarget } from "../targets.js";
import type { StepResult } from "../services/types.js";
import { Commands } from "./commands.js";
import { raiseOwn, resolveOwn, type OwnDeps } from "./own-incidents.js";
import { Detector } from "./detector.js";
import { Fleet } from "./fleet.js";
import { Lifecycle } from "./lifecycle.js";
import { ApprovalDesk } from "./approvals.js";
import { carryOut } from "./carry-out.js";
import { ArtifactJanitor } from "./artifact-janitor.js";
import type { CommandPort, Confirmation, DaemonHealth, ReadPort, StepCarrier, StepTask, TargetStatus } from "./ports.js";
import { RecordStream, type RecordListener } from "./records.js";
import { Reloader, type ReloadResult } from "./reloader.js";
import { Remediator } from "./remediator.js";
import { daemonHealth, targetStatus } from "./status.js";
import { Supervisor } from "./supervisor.js";
import { Watcher, type Round } from "./watcher.js";
import { Watchers } from "./watchers.js";

/**
 * How the daemon is wired; everything but config, log and store has a default (tests bring their
 * own parts and clock). `openDaemon` (open.ts) takes the state dir and opens its store.
 */
export interface DaemonOptions {
  config: Config;
  log: Logger;
  /** Reason and log everything, act on nothing, write nothing: the gate refuses every action. */
  dryRun?: boolean;
  store: IncidentStore;
  /** Lets go of the state dir's lock, held by whoever opened the store (called last when the daemon stops). */
  unlock?: () => void;
  clock?: Clock;
  /** Builds a target's probe and service (default: from the registries). */
  parts?: (target: Target, baseDir: string) => LiveTarget;
  /** Told of each record once it is stored (the demo narrates from it; metrics count it). */
  onRecord?: RecordListener;
  /** Called after each probe round. */
  onRound?: (target: Target, observation: Observation, finding: Finding | undefined) => void;
  /** Called as a round starts, with how late it starts against its slot or the event that called it. */
  onRoundStart?: (target: Target, lateMs: number) => void;
  /** Gate rules besides the daemon's own (a cluster's: only the leader, at its epoch). */
  rules?: GateRule[];
  /** What every append requires of the store (a cluster leader's epoch). */
  precondition?: () => Precondition | undefined;
  /** Other nodes' pauses and guard resets (a cluster's), honoured with this node's own. */
  sharedControls?: () => Controls | undefined;
  /** A cluster's word from its other vantage points before a target is acted on (see Remediator). */
  confirm?: (incident: Incident, target: Target) => Confirmation;
  /** The open incident standing for a target's host being gone (a cluster's node_down), if any. */
  hostRoot?: (target: Target, live: ReadonlyMap<string, Incident>) => Incident | undefined;
  /** Carries out the steps that must run on another node (a cluster's host steps, on the target's node). */
  carry?: StepCarrier;
}

/** How often the supervisor looks at held and suppressed incidents and re-reads the operator's controls. */
const SUPERVISOR_TICK_MS = 1_000;

/**
 * The composition root: builds the parts (store, records, gate, escalation, watchers, detector,
 * remediator, supervisor), wires them, and runs them. Each part's job is in its own file.
 */
export class Daemon implements ReadPort, CommandPort {
  private readonly log: Logger;
  private readonly dryRun: boolean;
  private readonly clock: Clock;
  private readonly life: Lifecycle;
  private readonly store: IncidentStore;
  private readonly escalations: Escalations;
  private readonly safety: SafetyRuntime;
  private readonly watchers: Watchers;
  private readonly remediator: Remediator;
  private readonly supervisor: Supervisor;
  private readonly fleet: Fleet;
  private readonly reloader: Reloader;
  private readonly commands: Commands;
  private readonly own: OwnDeps;
  private readonly stateDirWatch: StateDirWatch | undefined;
  private readonly discovery: Discovery | undefined;
  /** Prunes artifacts (none in a dry run: it keeps none). */
  private readonly janitor: ArtifactJanitor | undefined;
  private phase: "building" | "running" | "stopping" = "building";
  private startedAt: number;
  /** Why medic may no longer act (another medic took over the state dir). */
  private lostLock: string | undefined;

  constructor(opts: DaemonOptions) {
    const { config } = opts;
    const log = (this.log = opts.log);
    const dryRun = (this.dryRun = opts.dryRun ?? false);
    const clock = (this.clock = opts.clock ?? systemClock);
    this.startedAt = clock.now();
    const life = (this.life = new Lifecycle(log));
    const store = (this.store = opts.store);
    if (opts.unlock) life.defer("unlock the state dir", opts.unlock);
    const live = () => store.live();
    const background = life.background;
    const current = () => this.config;

    const records = new RecordStream(store, {
      clock,
      log,
      complete: (id, event) => detector.complete(id, event),
      ...(opts.precondition && { precondition: opts.precondition }),
    });
    const rules: GateRule[] = [
      ...(dryRun ? [dryRunRule] : []),
      ...(opts.rules ?? []),
      standingRule(() => this.lostLock ?? records.refusal()),
      approvalRule((id) => store.live().get(id)?.approved),
    ];
    const gate = new ActionGate(rules, { durable: () => store.flushed(), log });
    const watchers = (this.watchers = new Watchers(live));
    const safety = (this.safety = new SafetyRuntime(config, log, clock, opts.sharedControls));
    const check = (w: Watcher, signal: AbortSignal) => checkTarget(current(), w.live, signal, watchers.contextFor(w.target));
    // What most parts share; each takes what it needs.
    const core = { clock, log, records, live, watchers, safety, gate, dryRun, check, background, stop: life.stop, config: current };
    const escalations = (this.escalations = new Escalations({
      ...core,
      config,
      incidents: live,
      record: (id, event) => void records.append(id, event),
      paused: (target, now) => safety.pausedFor(target, now) !== undefined,
      labels: (target) => watchers.targets().get(target)?.labels,
      discovers: config.discovery?.docker !== undefined,
    }));
    const hostRoot = opts.hostRoot;
    const detector: Detector = new Detector({
      ...core,
      act: (id) => remediator.act(id),
      ...(hostRoot && {
        hostRoot: (name: string) => {
          const target = watchers.targets().get(name);
          return target && hostRoot(target, store.live());
        },
      }),
    });
    const remediator: Remediator = (this.remediator = new Remediator({
      ...core,
      detector,
      cutoff: life.cutoff,
      ...(opts.confirm && { confirm: opts.confirm }),
      ...(opts.carry && { carry: opts.carry }),
    }));
    const desk = new ApprovalDesk({
      ...core,
      remediator,
      answers: () => safety.answers(),
      watched: (name) => watchers.get(name) !== undefined,
    });
    this.supervisor = new Supervisor({
      ...core,
      detector,
      remediator,
      announce: (text) => escalations.announce(text),
      tick: (now) => {
        this.stateDirWatch?.tick(now);
        desk.tick(now);
      },
    });
    this.commands = new Commands({ ...core, detector });
    this.own = { records, live, config: current, log };

    const parts = opts.parts ?? liveTarget;
    const onRound = (w: Watcher, round: Round): void => {
      opts.onRound?.(w.target, round.observation, round.finding);
      detector.onRound(w, round);
    };
    const watcherDeps = { ...core, onRound, ...(opts.onRoundStart && { onRoundStart: opts.onRoundStart }) };
    this.fleet = new Fleet({
      ...core,
      remediator,
      parts: (target) => parts(target, current().baseDir),
      watcher: (p) => new Watcher(p, watcherDeps),
      phase: () => this.phase,
    });
    this.reloader = new Reloader(config, { log, fleet: this.fleet, reconfigure: (c) => this.reconfigure(c) });

    // Listeners, in order: the targets' open incidents first, so everything after sees them current.
    records.subscribe(watchers.onRecord);
    // Every change of an incident may make a notification due; what notifications record changes nothing.
    records.subscribe((record) => {
      if (!record.type.startsWith("notification_")) escalations.review(record.incident);
    });
    if (opts.onRecord) records.subscribe(opts.onRecord);
    const janitor = (this.janitor = dryRun ? undefined : new ArtifactJanitor(core));
    // A capture may have filled the state dir past its total cap: the oldest closed incidents' evidence goes now.
    if (janitor) records.subscribe((record) => void (record.type === "step_finished" && record.artifacts && janitor.prune()));
    // Evidence is kept `retention` after its incident closed.
    if (janitor) records.subscribe((record) => void (record.type === "resolved" && janitor.closed(record.incident)));

    this.stateDirWatch = dryRun
      ? undefined
      : new StateDirWatch({
          stateDir: config.stateDir,
          log,
          ...(isWatched(store) && { journal: store }),
          announce: (text) => escalations.announce(text),
          page: (key, event, summary) => escalations.pageSelf(key, event, summary),
        });
    this.discovery = config.discovery?.docker && dockerDiscovery(config.discovery.docker, config, log);
    for (const target of config.targets) this.fleet.add(target);
    life.defer("close the store", () => store.close());
    life.defer("stop escalation", () => escalations.stop());
  }

  /** Takes the state dir, resumes what a previous daemon left in flight, and starts every target's schedule. */
  async start(): Promise<void> {
    const { config } = this;
    this.escalations.start();
    this.remediator.resumeInFlight(!this.discovery);
    this.phase = "running";
    this.startedAt = this.clock.now();
    this.life.defer(
      "stop the supervisor",
      repeat(this.clock, SUPERVISOR_TICK_MS, () => this.supervisor.tick(), { unref: true }),
    );
    if (this.janitor) this.life.defer("stop pruning artifacts", this.janitor.start());
    for (const w of this.watchers.all()) w.start();
    this.log.info({ targets: this.watchers.size, dryRun: this.dryRun, stateDir: config.stateDir }, "medic started");
    if (!this.discovery) return;
    await this.discovery.start({ add: (t) => this.fleet.add(t), remove: (name, why) => this.fleet.remove(name, why) });
    // The containers found are watched now: what a previous daemon left in flight on them resumes, and their incidents are routed.
    this.remediator.resumeInFlight(true);
    this.escalations.settle();
  }

  /**
   * Stops probing, lets in-flight work finish for a while, cuts off the rest (recorded as abandoned).
   * Once, however often called. `cut`: nothing in flight finishes (a leader that lost the lead).
   */
  stop(opts: { cut?: boolean } = {}): Promise<void> {
    this.phase = "stopping";
    return this.life
      .shutdown(
        async () => {
          this.discovery?.stop();
          await Promise.all([...this.watchers.all()].map((w) => w.stop()));
        },
        opts.cut ? 0 : undefined,
      )
      .then(() => this.log.info({}, "medic stopped"));
  }

  /** Applies a reloaded config (see Reloader). */
  reload(next: Config): ReloadResult {
    return this.reloader.reload(next);
  }

  /** Resolves once every record so far is durable (or the store says why not). */
  flushed(): Promise<void> {
    return this.store.flushed();
  }

  /** Resolves when no notification is waiting to be sent (the demo, tests). */
  idle(): Promise<void> {
    return this.escalations.idle();
  }

  // Read port.
  targetsStatus(now = this.clock.now()): TargetStatus[] {
    return [...this.watchers.all()].map((w) => targetStatus(w, this.safety.pausedFor(w.name, now)));
  }

  health(now = this.clock.now()): DaemonHealth {
    const watchers = this.phase === "building" ? undefined : [...this.watchers.all()];
    const stateDir = this.stateDirWatch?.check(now);
    return daemonHealth({
      now,
      startedAt: this.startedAt,
      watchers,
      stateDir,
      lostLock: this.lostLock,
      stopping: this.phase === "stopping",
    });
  }

  /** Whether it is doing its job (the systemd watchdog's question): its own checks. */
  alive(now?: number): boolean {
    return this.health(now).ok;
  }

  readonly liveIncidents = (): ReadonlyMap<string, Incident> => this.store.live();
  readonly findIncident: ReadPort["findIncident"] = (id) => this.store.find(id);
  readonly history = (query: HistoryQuery) => this.store.history(query);
  readonly channels: ReadPort["channels"] = () => this.escalations.status();
  /** Pages about medic itself, straight to the paging channels (see Escalations.pageSelf). */
  readonly pageSelf = (key: string, event: "trigger" | "resolve", summary: string): Promise<void> =>
    this.escalations.pageSelf(key, event, summary);
  /** Trouble with the store itself (records waiting for it), or undefined. */
  readonly storeProblem = (): string | undefined => this.store.problem();

  /** Carries out a step another node decided on, for a target on this host (see carry-out.ts). */
  readonly carryOut = (task: StepTask, signal: AbortSignal): Promise<StepResult> =>
    carryOut({ config: () => this.config, watchers: this.watchers, clock: this.clock }, task, signal);

  // Command port.
  readonly acknowledge = (id: string, by: string, note?: string): Incident | undefined => this.commands.acknowledge(id, by, note);
  readonly raiseExternal: CommandPort["raiseExternal"] = (alert) => this.commands.raiseExternal(alert);
  /** See own-incidents.ts: incidents about medic's own world (a cluster node gone, vantage points that disagree). */
  readonly raiseOwn = (kind: string, evidence: string, source: string, under?: (i: Incident) => boolean): string =>
    raiseOwn(this.own, kind, evidence, source, under);
  readonly resolveOwn = (source: string, reason: string): string | undefined => resolveOwn(this.own, source, reason);
  readonly resolveExternal: CommandPort["resolveExternal"] = (source) => this.commands.resolveExternal(source);

  private get config(): Config {
    return this.reloader.config();
  }

  private reconfigure(config: Config): void {
    this.safety.reconfigure(config);
    this.escalations.reconfigure(config);
  }

  /** Two medics on one journal would both act: the one that lost the lock stops, and says so in its health. */
  lockLost(why: string): void {
    this.lostLock = why;
    this.log.fatal({ stateDir: this.config.stateDir, why }, "another medic took over the state dir: stopping");
    void this.stop();
  }
}

// A store in the state dir that can say what waits for the disk (the file store) is watched with it.
function isWatched(store: IncidentStore): store is IncidentStore & WatchedJournal {
  return typeof (store as Partial<WatchedJournal>).waiting === "function";
}
