import type pg from "pg";
import type { ClusterConfig } from "../config/cluster.js";
import type { Config } from "../config/types.js";
import { Daemon, type DaemonOptions } from "../daemon/app.js";
import { followerRule, leaderRule, placementRule } from "../gate/rules.js";
import { describeError } from "../lib/errors.js";
import { MemoryStore } from "../store/memory.js";
import { PgStore } from "../store/postgres/pg-store.js";
import { recentWindowMs } from "../store/window.js";
import type { Target } from "../config/types.js";
import type { Confirmation } from "../daemon/ports.js";
import type { Controls } from "../safety/types.js";
import type { Incident } from "../incidents/types.js";
import { openFrom } from "../daemon/own-incidents.js";
import { carryStep } from "./carry.js";
import { HEARTBEAT_MS } from "./duties.js";
import type { Leadership, Role } from "./leadership.js";
import { nodeSource } from "./node-watch.js";
import { ObservationPublisher } from "./observations.js";

/** What a node's roles need: the daemon's parts, the store, and leadership. */
export interface RolesDeps {
  opts: Omit<DaemonOptions, "store" | "unlock" | "dryRun" | "rules" | "precondition">;
  config: () => Config;
  me: ClusterConfig;
  pool: pg.Pool;
  leadership: Leadership;
  /** The follower's view of the shared store, brought up to date when this node stops leading. */
  follower: PgStore;
  /** Told when the store refused a write at this node's epoch. */
  refused: () => void;
  /** The other nodes' pauses and guard resets, as last read from the store. */
  sharedControls: () => Controls | undefined;
  /** What the other nodes see, asked before the leader acts on a target with a quorum. */
  confirm: (incident: Incident, target: Target) => Confirmation;
  /** Whether a node is in the cluster, as the leader read it last (undefined: not read yet). */
  known: (node: string) => boolean | undefined;
  /** A node silent this long is gone (node_down's limit). */
  silentMs: number;
}

/**
 * Which daemon a node runs, one at a time: an observer while it follows (probes, its own view in
 * memory, acts on nothing), the leader's daemon on the shared store while it leads. Changes come one
 * at a time, in order (`turn`).
 */
export class Roles {
  private running: { as: "leader" | "observer"; daemon: Daemon } | undefined;
  private turn = Promise.resolve();
  private stopped = false;

  constructor(private readonly deps: RolesDeps) {}

  /** The daemon running now (either kind). */
  get daemon(): Daemon | undefined {
    return this.running?.daemon;
  }

  /** The leader's daemon, while this node leads. */
  get leader(): Daemon | undefined {
    return this.running?.as === "leader" ? this.running.daemon : undefined;
  }

  /** Queues the change a new role calls for (the node's leadership listener). */
  changed(role: Role, previous: Role): void {
    if (role.mode === "leader") this.queue(() => this.lead(role.epoch));
    else if (previous.mode === "leader") this.queue(() => this.follow(role));
  }

  /** Starts watching as a follower. */
  start(): Promise<void> {
    return this.queue(() => this.observe());
  }

  /** Stops whatever runs (a leader's in-flight work finishes or is cut off as on any stop). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.turn;
    await this.stopRunning(false);
  }

  private queue(change: () => Promise<void>): Promise<void> {
    // A change that throws is a bug: logged, and the next change still runs.
    this.turn = this.turn
      .then(change, change)
      .catch((err) => this.deps.opts.log.error({ err: describeError(err) }, "internal error changing this node's role"));
    return this.turn;
  }

  // Watches without acting: probes, its own view in memory, pages about medic itself only.
  private async observe(): Promise<void> {
    if (this.stopped || this.running) return;
    const leader = () => {
      const role = this.deps.leadership.current();
      return role.mode === "follower" && role.leader?.node ? `the leader (${role.leader.node})` : "the leader, once there is one,";
    };
    const store = new MemoryStore({ recentMs: recentWindowMs(this.deps.config().safety), owed: () => false });
    // Its incidents are this node's view, not the cluster's: the metrics count the leader's records;
    // what it sees of each target goes to the store for the leader's quorum.
    const { onRecord: _counted, onRound, ...opts } = this.deps.opts;
    const publisher = new ObservationPublisher(this.deps.pool, { cluster: this.deps.me.name, node: this.deps.me.node });
    const daemon = new Daemon({
      ...opts,
      config: this.deps.config(),
      store,
      rules: [followerRule(leader)],
      sharedControls: this.deps.sharedControls,
      onRound: (target, observation, finding) => {
        onRound?.(target, observation, finding);
        publisher.round(target.name, finding !== undefined, finding?.evidence ?? "healthy");
      },
    });
    this.running = { as: "observer", daemon };
    await daemon.start();
  }

  private async stopRunning(cut: boolean): Promise<void> {
    const running = this.running;
    this.running = undefined;
    await running?.daemon.stop({ cut });
  }

  // Leads at `epoch`: a daemon on the shared store, opened after the epoch moved (so it folds every
  // record the previous leader got in), resumes what was left in flight.
  private async lead(epoch: number): Promise<void> {
    const { log } = this.deps.opts;
    // Only a change of mode ends a term (and queues follow()): a lease that lapses for a moment and
    // is renewed is no reason to give up, and the leader rule refuses actions while it is lapsed.
    const leads = (): boolean => {
      const role = this.deps.leadership.current();
      return role.mode === "leader" && role.epoch === epoch;
    };
    if (!leads() || this.stopped) return;
    // One daemon probes at a time: the observer makes way at once (it acts on nothing: nothing to finish).
    await this.stopRunning(true);
    let store: PgStore;
    try {
      store = await PgStore.open({
        pool: this.deps.pool,
        cluster: this.deps.me.name,
        node: this.deps.me.node,
        recentMs: recentWindowMs(this.deps.config().safety),
        log,
        epoch,
        onRefused: (detail) => {
          this.deps.refused();
          // A store of an earlier term, closing late, says nothing about this one.
          if (leads()) this.deps.leadership.stepDown(`the store refused a record: ${detail}`);
        },
      });
    } catch (err) {
      log.error({ err: describeError(err), epoch }, "could not open the store as leader; stepping down");
      this.deps.leadership.stepDown("could not open the store");
      await this.observe();
      return;
    }
    // No action without a store that takes the record announcing it: nothing could be fenced.
    const standing = (): string | undefined => {
      const problem = store.problem();
      return this.deps.leadership.standing(epoch) ?? (problem && `the store cannot write: ${problem}`);
    };
    const nodeOf = (name: string) => this.deps.config().targets.find((t) => t.name === name)?.node;
    // A host step of another node's target is handed to that node; it waits until node_down has had time to open.
    const carry = { pool: this.deps.pool, cluster: this.deps.me.name, epoch, log, silentMs: this.deps.silentMs + HEARTBEAT_MS };
    const daemon = new Daemon({
      ...this.deps.opts,
      config: this.deps.config(),
      store,
      rules: [leaderRule(standing), placementRule(this.deps.me.node, nodeOf, this.deps.known)],
      precondition: () => ({ epoch }),
      carry: (task, local, signal) => {
        const node = nodeOf(task.incident.target);
        return local && node !== undefined && node !== this.deps.me.node ? carryStep(carry, node, task, signal) : undefined;
      },
      confirm: (incident, target) => this.deps.confirm(incident, target),
      sharedControls: this.deps.sharedControls,
      // A target on the host of a node that went silent: its incidents wait under that node's node_down.
      hostRoot: (target, live) => (target.node ? openFrom(live, nodeSource(target.node)) : undefined),
    });
    this.running = { as: "leader", daemon };
    if (!leads() || this.stopped) return;
    await daemon.start();
    log.info({ epoch, open: [...store.live().values()].filter((i) => i.state !== "resolved").length }, "leading: daemon started");
  }

  private async follow(role: Role): Promise<void> {
    if (this.running?.as !== "leader") return;
    this.deps.opts.log.warn({ mode: role.mode }, "no longer the leader: cutting off what the daemon was doing");
    await this.stopRunning(true);
    await this.deps.follower.refresh();
    await this.observe();
  }
}
