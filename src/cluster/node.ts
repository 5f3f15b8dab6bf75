import { mkdir } from "node:fs/promises";
import type pg from "pg";
import type { Config } from "../config/types.js";
import type { ClusterConfig } from "../config/cluster.js";
import { Daemon, type DaemonOptions } from "../daemon/app.js";
import type { CommandPort, DaemonHealth, ReadPort, TargetStatus } from "../daemon/ports.js";
import { leaderRule } from "../gate/rules.js";
import type { Incident } from "../incidents/types.js";
import { repeat, systemClock } from "../lib/clock.js";
import { describeError, MedicError } from "../lib/errors.js";
import { migrate } from "../store/postgres/migrations.js";
import { PgStore } from "../store/postgres/pg-store.js";
import { createPool, storeClient } from "../store/postgres/pool.js";
import type { HistoryQuery } from "../store/types.js";
import { recentWindowMs } from "../store/window.js";
import { Leadership, type Role } from "./leadership.js";
import { heartbeat, type NodeDetail } from "./nodes.js";
import { readClusterStatus, type ClusterStatus } from "./status.js";

/** How a node is built: a daemon's options without the store, which the node opens itself. */
export type ClusterNodeOptions = Omit<DaemonOptions, "store" | "unlock" | "dryRun" | "rules" | "precondition">;

/** A follower folds what the leader wrote this often; its read API is this far behind at most. */
const FOLLOW_MS = 1_000;
/** A node says it is alive this often (medic_nodes.heartbeat_at). */
const HEARTBEAT_MS = 2_000;

/**
 * One node of a cluster on a PostgreSQL store. It takes part in leader election; while it leads, it
 * runs a whole daemon on the shared store, fenced by its epoch, and stops it the moment it no longer
 * leads (in-flight work cut off, as by a crash: the next leader resumes it). While it follows, it
 * serves the read API from the shared store and stands ready.
 */
export class ClusterNode implements ReadPort, CommandPort {
  private readonly leadership: Leadership;
  private daemon: Daemon | undefined;
  private config: Config;
  private readonly me: ClusterConfig;
  /** Leadership changes, one at a time and in order. */
  private turn = Promise.resolve();
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
    this.leadership = new Leadership({
      cluster: name,
      node,
      ttlMs: leaseTtlMs,
      log: opts.log,
      connect: () => this.connectSession(),
      onChange: (role, previous) => this.changed(role, previous),
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
    this.stops.push(repeat(systemClock, FOLLOW_MS, () => void this.follower.refresh(), { unref: true }));
    const beat = () =>
      void heartbeat(this.pool, this.me, this.detail()).catch((err) =>
        log.warn({ err: describeError(err) }, "could not record this node's heartbeat"),
      );
    beat();
    this.stops.push(repeat(systemClock, HEARTBEAT_MS, beat, { unref: true }));
    this.leadership.start();
    log.info({ cluster: this.me.name, node: this.me.node, leaseTtlMs: this.me.leaseTtlMs }, "medic started as a cluster node");
  }

  /** Leaves the election (a follower takes over at once: the lock goes with the session) and stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const stop of this.stops.splice(0)) stop();
    await this.daemon?.stop();
    await this.leadership.stop();
    await this.turn;
    await this.follower.close();
    await this.pool.end().catch(() => {});
    this.opts.log.info({}, "medic stopped");
  }

  /** Applies a reloaded config now, and to every daemon this node runs as leader from now on. */
  reload(next: Config): void {
    this.config = next;
    this.daemon?.reload(next);
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
    if (role.mode === "leader") this.turn = this.turn.then(() => this.lead(role.epoch));
    else if (previous.mode === "leader") this.turn = this.turn.then(() => this.follow(role));
  }

  // Leads at `epoch`: a daemon on the shared store, opened after the epoch moved (so it folds every
  // record the previous leader got in), resumes what was left in flight.
  private async lead(epoch: number): Promise<void> {
    const { log } = this.opts;
    if (this.leadership.standing(epoch) !== undefined || this.stopped) return;
    let store: PgStore;
    try {
      store = await PgStore.open({
        pool: this.pool,
        cluster: this.me.name,
        node: this.me.node,
        recentMs: recentWindowMs(this.config.safety),
        log,
        epoch,
        onRefused: (detail) => this.leadership.stepDown(`the store refused a record: ${detail}`),
      });
    } catch (err) {
      log.error({ err: describeError(err), epoch }, "could not open the store as leader; stepping down");
      this.leadership.stepDown("could not open the store");
      return;
    }
    // No action without a store that takes the record announcing it: nothing could be fenced.
    const standing = (): string | undefined => {
      const problem = store.problem();
      return this.leadership.standing(epoch) ?? (problem && `the store cannot write: ${problem}`);
    };
    const daemon = new Daemon({
      ...this.opts,
      config: this.config,
      store,
      rules: [leaderRule(standing)],
      precondition: () => ({ epoch }),
    });
    if (this.leadership.standing(epoch) !== undefined || this.stopped) {
      await daemon.stop({ cut: true });
      return;
    }
    this.daemon = daemon;
    await daemon.start();
    log.info({ epoch, open: [...store.live().values()].filter((i) => i.state !== "resolved").length }, "leading: daemon started");
  }

  private async follow(role: Role): Promise<void> {
    const daemon = this.daemon;
    this.daemon = undefined;
    if (!daemon) return;
    this.opts.log.warn({ mode: role.mode }, "no longer the leader: cutting off what the daemon was doing");
    await daemon.stop({ cut: true });
    await this.follower.refresh();
  }

  // Read port: the leader's daemon, or the shared store as a follower sees it.
  targetsStatus(now?: number): TargetStatus[] {
    return this.daemon?.targetsStatus(now) ?? [];
  }

  health(now?: number): DaemonHealth {
    const role = this.leadership.current();
    const problem = this.daemon ? this.daemon.storeProblem() : this.follower.problem();
    const cluster = {
      name: "cluster",
      ok: role.mode === "leader" || role.mode === "follower",
      detail:
        role.mode === "leader"
          ? `leads ${this.me.name} at epoch ${role.epoch}`
          : role.mode === "follower"
            ? `follows ${role.leader?.node ?? "nobody yet"} in ${this.me.name}`
            : `cannot reach the store: ${role.mode === "connecting" ? (role.why ?? "connecting") : role.mode}`,
    };
    const store = { name: "store", ok: problem === undefined, detail: problem ?? "PostgreSQL store reachable" };
    const own = this.daemon?.health(now);
    const checks = [cluster, store, ...(own?.checks ?? [])];
    return { ok: checks.every((c) => c.ok), checks };
  }

  liveIncidents(): ReadonlyMap<string, Incident> {
    return this.daemon?.liveIncidents() ?? this.follower.live();
  }

  findIncident: ReadPort["findIncident"] = (id) => this.daemon?.findIncident(id) ?? this.follower.find(id);
  history = (query: HistoryQuery) => this.daemon?.history(query) ?? this.follower.history(query);
  channels: ReadPort["channels"] = () => this.daemon?.channels() ?? {};

  // Command port: the leader decides; a follower says where to go.
  acknowledge: CommandPort["acknowledge"] = (id, by, note) => this.leading().acknowledge(id, by, note);
  raiseExternal: CommandPort["raiseExternal"] = (alert) => this.leading().raiseExternal(alert);
  resolveExternal: CommandPort["resolveExternal"] = (source) => this.leading().resolveExternal(source);

  /** Resolves when the leader's daemon has nothing left to send (tests). */
  idle(): Promise<void> {
    return this.daemon?.idle() ?? Promise.resolve();
  }

  private leading(): Daemon {
    if (this.daemon) return this.daemon;
    const role = this.leadership.current();
    const leader = role.mode === "follower" ? role.leader?.node : undefined;
    throw new MedicError("NOT_LEADER", `this node (${this.me.node}) does not lead the cluster ${this.me.name}`, {
      hint: leader ? `send it to the leader, ${leader}` : "no node leads right now; try again in a few seconds",
    });
  }
}
