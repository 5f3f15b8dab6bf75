import { mkdir } from "node:fs/promises";
import type pg from "pg";
import type { ClusterConfig } from "../config/cluster.js";
import type { Config } from "../config/types.js";
import { Daemon, type DaemonOptions } from "../daemon/app.js";
import type { CommandPort, DaemonHealth, ReadPort, TargetStatus } from "../daemon/ports.js";
import type { Incident } from "../incidents/types.js";
import { repeat, systemClock } from "../lib/clock.js";
import { describeError, MedicError } from "../lib/errors.js";
import type { ClusterGauges } from "../metrics/cluster.js";
import { migrate } from "../store/postgres/migrations.js";
import { PgStore } from "../store/postgres/pg-store.js";
import { createPool, storeClient } from "../store/postgres/pool.js";
import type { HistoryQuery } from "../store/types.js";
import { recentWindowMs } from "../store/window.js";
import { queueAck } from "./commands.js";
import { ClusterDuties, FOLLOW_MS, HEARTBEAT_MS, silentLimitMs } from "./duties.js";
import { HostSteps, TAKE_MS } from "./host-steps.js";
import { Leadership, type Role } from "./leadership.js";
import { heartbeat, type NodeDetail } from "./nodes.js";
import { Roles } from "./roles.js";
import { readClusterStatus, type ClusterStatus } from "./status.js";
import { StoreAlarm } from "./store-alarm.js";

/** How a node is built: a daemon's options without the store, which the node opens itself. */
export type ClusterNodeOptions = Omit<DaemonOptions, "store" | "unlock" | "dryRun" | "rules" | "precondition">;

/** A store out of reach for this long (at least two leases) pages the on-call, once for the cluster. */
const STORE_PAGE_AFTER_MS = 5_000;

/**
 * One node of a cluster on a PostgreSQL store. It takes part in leader election; while it leads, it
 * runs a whole daemon on the shared store, fenced by its epoch, and stops it the moment it no longer
 * leads (in-flight work cut off, as by a crash: the next leader resumes it). While it follows, it
 * serves the read API from the shared store and stands ready.
 */
export class ClusterNode implements ReadPort, CommandPort {
  private readonly leadership: Leadership;
  /** The daemon this node runs: the leader's on the shared store, or an observer's that only watches. */
  private readonly roles: Roles;
  private readonly alarm: StoreAlarm;
  private config: Config;
  private readonly me: ClusterConfig;
  /** Writes the store refused at an epoch that was over. */
  private refusedWrites = 0;
  private readonly duties: ClusterDuties;
  /** The leader's host steps for targets on this node's host. */
  private readonly hostSteps: HostSteps;
  /** When this node's view of the shared store was last brought up to date. */
  private viewedAt = Date.now();
  private stops: (() => void)[] = [];
  private stopped = false;

  private constructor(
    private readonly opts: ClusterNodeOptions,
    private readonly pool: pg.Pool,
    private readonly follower: PgStore,
  ) {
    this.config = opts.config;
    this.me = opts.config.cluster!;
    const { name, node, leaseTtlMs } = this.me;
    this.alarm = new StoreAlarm(Math.max(STORE_PAGE_AFTER_MS, 2 * leaseTtlMs));
    this.leadership = new Leadership({
      cluster: name,
      node,
      ttlMs: leaseTtlMs,
      log: opts.log,
      connect: () => this.connectSession(),
      onChange: (role, previous) => this.changed(role, previous),
    });
    this.duties = new ClusterDuties({
      pool,
      me: this.me,
      config: () => this.config,
      log: opts.log,
      leader: () => this.leader,
      role: () => this.leadership.current(),
    });
    this.roles = new Roles({
      opts,
      config: () => this.config,
      me: this.me,
      pool,
      leadership: this.leadership,
      follower,
      refused: () => this.refusedWrites++,
      confirm: (incident, target) => this.duties.confirm(incident, target),
      sharedControls: () => this.duties.othersControls,
      known: (node) => this.duties.known(node),
      silentMs: silentLimitMs(this.me),
    });
    this.hostSteps = new HostSteps({ pool, me: this.me, config: () => this.config, log: opts.log, daemon: () => this.roles.daemon });
  }

  /** Connects to the store, brings its schema up to date (or refuses a newer one), and opens the shared view. */
  static async open(opts: ClusterNodeOptions): Promise<ClusterNode> {
    const { config, log } = opts;
    const store = config.store?.postgres;
    if (!store || !config.cluster)
      throw new MedicError("NOT_A_CLUSTER", "this config has no store.postgres", { hint: "add store.postgres" });
    const pool = createPool({
      url: store.url,
      statementTimeoutMs: store.statementTimeoutMs,
      applicationName: `medic ${config.cluster.name} ${config.cluster.node}`.slice(0, 63),
      log,
    });
    try {
      // The state dir still holds this node's own files (the operator's controls, its health probe).
      await mkdir(config.stateDir, { recursive: true });
      await migrate(pool, log);
      const follower = await PgStore.open({
        pool,
        cluster: config.cluster.name,
        node: config.cluster.node,
        recentMs: recentWindowMs(config.safety),
        log,
      });
      return new ClusterNode(opts, pool, follower);
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
  }

  /** Joins the election and starts following. */
  async start(): Promise<void> {
    const { log } = this.opts;
    this.stops.push(repeat(systemClock, FOLLOW_MS, () => void this.refreshView(), { unref: true }));
    let failing = false;
    const beat = () =>
      void heartbeat(this.pool, this.me, this.detail()).then(
        () => (failing = false),
        (err) => {
          // Once per outage: the cluster check on /healthz says the rest.
          if (!failing) log.warn({ err: describeError(err) }, "could not record this node's heartbeat");
          failing = true;
        },
      );
    beat();
    this.stops.push(repeat(systemClock, HEARTBEAT_MS, beat, { unref: true }));
    this.stops.push(repeat(systemClock, FOLLOW_MS, () => this.checkStore(), { unref: true }));
    this.stops.push(repeat(systemClock, FOLLOW_MS, () => void this.duties.applyCommands(), { unref: true }));
    this.stops.push(repeat(systemClock, HEARTBEAT_MS, () => void this.duties.watchNodes(), { unref: true }));
    this.stops.push(repeat(systemClock, FOLLOW_MS, () => void this.duties.watchVantage(), { unref: true }));
    this.stops.push(repeat(systemClock, FOLLOW_MS, () => void this.duties.shareControls(), { unref: true }));
    this.stops.push(repeat(systemClock, TAKE_MS, () => void this.hostSteps.take(), { unref: true }));
    await this.roles.start();
    this.leadership.start();
    log.info({ cluster: this.me.name, node: this.me.node, leaseTtlMs: this.me.leaseTtlMs }, "medic started as a cluster node");
  }

  /** Leaves the election (a follower takes over at once: the lock goes with the session) and stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const stop of this.stops.splice(0)) stop();
    await this.hostSteps.stop();
    await this.roles.stop();
    await this.leadership.stop();
    await this.follower.close();
    await this.pool.end().catch(() => {});
    this.opts.log.info({}, "medic stopped");
  }

  /** Applies a reloaded config now, and to every daemon this node runs as leader from now on. */
  reload(next: Config): void {
    this.config = next;
    this.roles.daemon?.reload(next);
  }

  /** The cluster as the store has it, and this node's part (`/api/cluster`). */
  async cluster(): Promise<ClusterStatus & { self: { node: string; mode: Role["mode"]; epoch?: number } }> {
    const role = this.leadership.current();
    const status = await readClusterStatus(this.pool, this.me.name);
    return { ...status, self: { node: this.me.node, mode: role.mode, ...(role.mode === "leader" && { epoch: role.epoch }) } };
  }

  private detail(): NodeDetail {
    const role = this.leadership.current();
    return {
      mode: role.mode,
      ...(role.mode === "leader" && { epoch: role.epoch }),
      ...this.leadership.stats(),
      problem: this.follower.problem() ?? null,
    };
  }

  // The leadership session is a client of its own: it holds the lock for as long as the node leads.
  private async connectSession(): Promise<pg.Client> {
    const { url, statementTimeoutMs } = this.config.store!.postgres!;
    const client = storeClient({ url, statementTimeoutMs, applicationName: "medic leader", log: this.opts.log });
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    return client;
  }

  private changed(role: Role, previous: Role): void {
    const { log } = this.opts;
    if (role.mode === "follower") log.info({ leader: role.leader?.node }, "following the cluster");
    else if (role.mode === "connecting") log.warn({ why: role.why }, "cannot take part in the cluster: connecting to the store");
    this.roles.changed(role, previous);
  }

  // A store out of reach: no node can act (nothing can be fenced), and every node says so; the
  // page goes straight to the paging channels, under one key for the whole cluster.
  private checkStore(): void {
    // Asked only while a daemon runs to send it: a change of role in between must not use up a page or its resolve.
    const daemon = this.roles.daemon;
    if (!daemon) return;
    const mode = this.leadership.current().mode;
    const action = this.alarm.tick(Date.now(), mode === "leader" || mode === "follower");
    if (!action) return;
    const since = new Date(this.alarm.since() ?? Date.now()).toISOString();
    const summary =
      action === "trigger"
        ? `medic cluster ${this.me.name} cannot reach its PostgreSQL store since ${since}: no node acts until it is back (they keep probing)`
        : `medic cluster ${this.me.name} reaches its PostgreSQL store again`;
    this.opts.log[action === "trigger" ? "error" : "warn"]({ cluster: this.me.name }, summary);
    void daemon.pageSelf(`medic:cluster:${this.me.name}:store`, action, summary);
  }

  private async refreshView(): Promise<void> {
    if (this.leader) return;
    await this.follower.refresh();
    if (this.follower.problem() === undefined) this.viewedAt = Date.now();
  }

  /** The cluster's gauges for /metrics. */
  clusterGauges(): ClusterGauges {
    const role = this.leadership.current();
    const stats = this.leadership.stats();
    return {
      leader: role.mode === "leader" ? 1 : 0,
      epoch: role.mode === "leader" ? role.epoch : role.mode === "follower" ? (role.leader?.epoch ?? 0) : 0,
      elected: stats.elected,
      steppedDown: stats.steppedDown,
      fencedWrites: this.refusedWrites,
      fencedLeaders: stats.fenced,
      observationLagSeconds: this.leader ? 0 : Math.max(0, (Date.now() - this.viewedAt) / 1000),
    };
  }

  private get leader(): Daemon | undefined {
    return this.roles.leader;
  }

  // Read port: targets as this node probes them; incidents from the leader's daemon, or from the
  // shared store as a follower sees it.
  targetsStatus(now?: number): TargetStatus[] {
    return this.roles.daemon?.targetsStatus(now) ?? [];
  }

  health(now?: number): DaemonHealth {
    const role = this.leadership.current();
    const problem = this.leader ? this.leader.storeProblem() : this.follower.problem();
    const cluster = {
      name: "cluster",
      ok: role.mode === "leader" || role.mode === "follower",
      detail:
        role.mode === "leader"
          ? `leads ${this.me.name} at epoch ${role.epoch}`
          : role.mode === "follower"
            ? `follows ${role.leader?.node ?? "nobody yet"} in ${this.me.name}`
            : `cannot reach the store, so this node acts on nothing (it keeps probing): ${role.mode === "connecting" ? (role.why ?? "connecting") : role.mode}`,
    };
    const store = { name: "store", ok: problem === undefined, detail: problem ?? "PostgreSQL store reachable" };
    const own = this.roles.daemon?.health(now);
    const checks = [cluster, store, ...(own?.checks ?? [])];
    return { ok: checks.every((c) => c.ok), checks };
  }

  /**
   * Whether this node is doing its job as a node (the systemd watchdog's question): its daemon's own
   * checks. A store out of reach is not a reason to be restarted: the node keeps probing, and says so.
   */
  alive(now?: number): boolean {
    return this.roles.daemon?.health(now).ok ?? true;
  }

  liveIncidents(): ReadonlyMap<string, Incident> {
    return this.leader?.liveIncidents() ?? this.follower.live();
  }

  findIncident: ReadPort["findIncident"] = (id) => this.leader?.findIncident(id) ?? this.follower.find(id);
  history = (query: HistoryQuery) => this.leader?.history(query) ?? this.follower.history(query);
  channels: ReadPort["channels"] = () => this.leader?.channels() ?? {};

  // Command port: the leader decides; a follower says where to go.
  acknowledge: CommandPort["acknowledge"] = (id, by, note) =>
    this.leader ? this.leader.acknowledge(id, by, note) : this.passAck(id, by, note);
  raiseExternal: CommandPort["raiseExternal"] = (alert) => this.leading().raiseExternal(alert);
  resolveExternal: CommandPort["resolveExternal"] = (source) => this.leading().resolveExternal(source);

  /** Resolves when the leader's daemon has nothing left to send (tests). */
  idle(): Promise<void> {
    return this.leader?.idle() ?? Promise.resolve();
  }

  // A follower's acknowledge goes to the leader through the store; what it answers is the incident
  // as this node sees it (the leader's record follows within a second or two).
  private async passAck(id: string, by: string, note?: string): Promise<Incident | undefined> {
    await this.follower.refresh();
    const incident = this.follower.live().get(id);
    if (!incident || incident.state === "resolved") return undefined;
    await queueAck(this.pool, this.me.name, this.me.node, { incident: id, by, ...(note !== undefined && { note }) });
    this.opts.log.info({ incident: id, by }, "acknowledge passed to the leader");
    return incident;
  }

  private leading(): Daemon {
    if (this.leader) return this.leader;
    const role = this.leadership.current();
    const leader = role.mode === "follower" ? role.leader?.node : undefined;
    throw new MedicError("NOT_LEADER", `this node (${this.me.node}) does not lead the cluster ${this.me.name}`, {
      hint: leader ? `send it to the leader, ${leader}` : "no node leads right now; try again in a few seconds",
    });
  }
}
