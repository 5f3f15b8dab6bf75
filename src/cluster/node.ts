import { mkdir } from "node:fs/promises";
import type pg from "pg";
import type { Config } from "../config/types.js";
import type { ClusterConfig } from "../config/cluster.js";
import { Daemon, type DaemonOptions } from "../daemon/app.js";
import type { CommandPort, DaemonHealth, ReadPort, TargetStatus } from "../daemon/ports.js";
import type { Target } from "../config/types.js";
import type { Confirmation } from "../daemon/ports.js";
import { vantageSource } from "../daemon/own-incidents.js";
import { isOpen, type Incident } from "../incidents/types.js";
import type { ClusterGauges } from "../metrics/cluster.js";
import { repeat, systemClock } from "../lib/clock.js";
import { describeError, MedicError } from "../lib/errors.js";
import { migrate } from "../store/postgres/migrations.js";
import { PgStore } from "../store/postgres/pg-store.js";
import { createPool, storeClient } from "../store/postgres/pool.js";
import type { HistoryQuery } from "../store/types.js";
import { recentWindowMs } from "../store/window.js";
import { Leadership, type Role } from "./leadership.js";
import { finishCommand, queueAck, waitingCommands } from "./commands.js";
import { publishControls, readOthersControls } from "./controls.js";
import { readControls } from "../safety/controls.js";
import type { Controls } from "../safety/types.js";
import { heartbeat, listNodes, type NodeDetail } from "./nodes.js";
import { nodeSource, reviewNodes } from "./node-watch.js";
import { readObservations, type ObservationRow } from "./observations.js";
import { blindLeader, confirmFailure } from "./quorum.js";
import { readClusterStatus, type ClusterStatus } from "./status.js";
import { Roles } from "./roles.js";
import { StoreAlarm } from "./store-alarm.js";

/** How a node is built: a daemon's options without the store, which the node opens itself. */
export type ClusterNodeOptions = Omit<DaemonOptions, "store" | "unlock" | "dryRun" | "rules" | "precondition">;

/** A follower folds what the leader wrote this often; its read API is this far behind at most. */
const FOLLOW_MS = 1_000;
/** A node says it is alive this often (medic_nodes.heartbeat_at). */
const HEARTBEAT_MS = 2_000;
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
  /** The other nodes' pauses and guard resets, as read last (every second), and what this node published. */
  private othersControls: Controls | undefined;
  private publishedControls = "";
  /** What the followers see of each target, as the leader read it last (every second). */
  private observed: ObservationRow[] = [];
  /** True while the leader applies followers' commands (one pass at a time). */
  private applying = false;
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
    this.roles = new Roles({
      opts,
      config: () => this.config,
      me: this.me,
      pool,
      leadership: this.leadership,
      follower,
      refused: () => this.refusedWrites++,
      confirm: (incident, target) => this.confirm(incident, target),
      sharedControls: () => this.othersControls,
    });
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
    this.stops.push(repeat(systemClock, FOLLOW_MS, () => void this.applyCommands(), { unref: true }));
    this.stops.push(repeat(systemClock, HEARTBEAT_MS, () => void this.watchNodes(), { unref: true }));
    this.stops.push(repeat(systemClock, FOLLOW_MS, () => void this.watchVantage(), { unref: true }));
    this.stops.push(repeat(systemClock, FOLLOW_MS, () => void this.shareControls(), { unref: true }));
    await this.roles.start();
    this.leadership.start();
    log.info({ cluster: this.me.name, node: this.me.node, leaseTtlMs: this.me.leaseTtlMs }, "medic started as a cluster node");
  }

  /** Leaves the election (a follower takes over at once: the lock goes with the session) and stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const stop of this.stops.splice(0)) stop();
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

  // The leader watches the other nodes' heartbeats: one node_down incident for a node gone silent
  // (the targets on its host wait under it), resolved when it beats again.
  private async watchNodes(): Promise<void> {
    const leader = this.leader;
    const role = this.leadership.current();
    if (!leader || role.mode !== "leader") return;
    try {
      const nodes = await listNodes(this.pool, this.me.name);
      const open = new Set<string>();
      for (const i of leader.liveIncidents().values())
        if (i.kind === "node_down" && isOpen(i) && i.source?.startsWith(nodeSource(""))) open.add(i.source.slice(nodeSource("").length));
      const silentMs = Math.max(3 * HEARTBEAT_MS, this.me.leaseTtlMs);
      const review = reviewNodes(nodes, { me: this.me.node, silentMs, leadingMs: Date.now() - role.since, open });
      if (this.leader !== leader) return;
      for (const d of review.down) {
        const evidence = `node ${d.node} of cluster ${this.me.name} has sent no heartbeat for ${Math.round(d.silentMs / 1000)} s: its host or its medic is gone`;
        const onHost = new Set(this.config.targets.filter((t) => t.node === d.node).map((t) => t.name));
        leader.raiseOwn("node_down", evidence, nodeSource(d.node), (i) => onHost.has(i.target));
      }
      for (const b of review.back) leader.resolveOwn(nodeSource(b.node), b.why);
    } catch (err) {
      this.opts.log.warn({ err: describeError(err) }, "could not look at the other nodes' heartbeats");
    }
  }

  /** Whether enough nodes see the target failing for the leader to act (a target with no quorum: no question). */
  private confirm(incident: Incident, target: Target): Confirmation {
    // A leader that reaches none of its targets while another node reaches some: its own network is
    // at fault, and it heals nothing it cannot see (when every node sees everything down, it is real).
    const blind = blindLeader(this.leader?.targetsStatus() ?? [], this.observed, this.quorumOf(target));
    if (blind) return { act: false, hold: blind };
    const quorum = target.quorum ?? 1;
    if (quorum <= 1) return { act: true, detail: "" };
    return confirmFailure(this.observed, {
      ...this.quorumOf(target),
      waitedMs: Date.now() - incident.openedAt,
      // Long enough for every node to probe it past its threshold and publish, and the leader to read that.
      graceMs: target.intervalMs * (target.failureThreshold + 1) + 3 * FOLLOW_MS,
    });
  }

  // The leader reads what followers see, and ends a vantage_disagreement once the nodes agree: the
  // leader reaches the target again (the path healed), or enough nodes see it failing (it is the
  // target after all: its own incident, released, is acted on).
  private async watchVantage(): Promise<void> {
    const leader = this.leader;
    if (!leader) return;
    try {
      this.observed = await readObservations(this.pool, this.me.name);
    } catch (err) {
      this.opts.log.debug({ err: describeError(err) }, "could not read what the followers see");
      return;
    }
    const status = new Map(leader.targetsStatus().map((t) => [t.name, t]));
    for (const i of leader.liveIncidents().values()) {
      if (i.kind !== "vantage_disagreement" || !isOpen(i) || !i.source?.startsWith(vantageSource(""))) continue;
      const name = i.source.slice(vantageSource("").length);
      const target = this.config.targets.find((t) => t.name === name);
      if (!target || status.get(name)?.up === true) {
        leader.resolveOwn(i.source, target ? `${this.me.node} reaches ${name} again: the nodes agree` : `${name} is no longer watched`);
        continue;
      }
      const now = confirmFailure(this.observed, { ...this.quorumOf(target), waitedMs: Infinity, graceMs: 0 });
      if (now.act) leader.resolveOwn(i.source, `${now.detail}: it is ${name} itself, not the path, and it is acted on`);
    }
  }

  private quorumOf(target: Target) {
    return { me: this.me.node, target: target.name, quorum: target.quorum ?? 1, freshMs: Math.max(3 * HEARTBEAT_MS, this.me.leaseTtlMs) };
  }

  // Every node publishes the pauses and guard resets written here, and reads everyone else's: a
  // pause made on any host holds whichever node leads.
  private async shareControls(): Promise<void> {
    const { log } = this.opts;
    try {
      const mine = readControls(this.config.stateDir);
      const text = JSON.stringify(mine);
      if (text !== this.publishedControls) {
        await publishControls(this.pool, this.me.name, this.me.node, mine);
        this.publishedControls = text;
      }
      this.othersControls = await readOthersControls(this.pool, this.me.name, this.me.node, log);
    } catch (err) {
      log.debug({ err: describeError(err) }, "could not share the operator controls through the store");
    }
  }

  // The leader carries out what followers were asked, in order; each once it is in the journal.
  private async applyCommands(): Promise<void> {
    const leader = this.leader;
    if (!leader || this.applying) return;
    this.applying = true;
    try {
      for (const c of await waitingCommands(this.pool, this.me.name)) {
        if (this.leader !== leader) return;
        const acked = await leader.acknowledge(c.incident, c.by, c.note);
        await leader.flushed();
        // Done only once the leader's record of it is in the store: a term that ended meanwhile leaves it to the next.
        if (this.leader !== leader || leader.storeProblem() !== undefined) return;
        await finishCommand(this.pool, this.me.name, c.id, acked ? "acknowledged" : "no such open incident");
        this.opts.log.info(
          { incident: c.incident, by: c.by, from: c.node, applied: Boolean(acked) },
          "applied an acknowledge sent to a follower",
        );
      }
    } catch (err) {
      this.opts.log.warn({ err: describeError(err) }, "could not apply the commands sent to followers");
    } finally {
      this.applying = false;
    }
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
