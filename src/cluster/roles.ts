import type pg from "pg";
import type { ClusterConfig } from "../config/cluster.js";
import type { Config } from "../config/types.js";
import { Daemon, type DaemonOptions } from "../daemon/app.js";
import { followerRule, leaderRule, placementRule } from "../gate/rules.js";
import { describeError } from "../lib/errors.js";
import { MemoryStore } from "../store/memory.js";
import { PgStore } from "../store/postgres/pg-store.js";
import { recentWindowMs } from "../store/window.js";
import { isOpen } from "../incidents/types.js";
import type { Leadership, Role } from "./leadership.js";
import { nodeSource } from "./node-watch.js";

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
    this.turn = this.turn.then(change, change);
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
    // Its incidents are this node's view, not the cluster's: the metrics count the leader's records.
    const { onRecord: _counted, ...opts } = this.deps.opts;
    const daemon = new Daemon({ ...opts, config: this.deps.config(), store, rules: [followerRule(leader)] });
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
    if (this.deps.leadership.standing(epoch) !== undefined || this.stopped) return;
    // One daemon probes at a time: the observer makes way (it acts on nothing, so nothing is cut).
    await this.stopRunning(false);
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
          this.deps.leadership.stepDown(`the store refused a record: ${detail}`);
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
    const daemon = new Daemon({
      ...this.deps.opts,
      config: this.deps.config(),
      store,
      rules: [
        leaderRule(standing),
        placementRule(this.deps.me.node, (name) => this.deps.config().targets.find((t) => t.name === name)?.node),
      ],
      precondition: () => ({ epoch }),
      // A target on the host of a node that went silent: its incidents wait under that node's node_down.
      hostRoot: (target, live) => {
        if (!target.node) return undefined;
        const source = nodeSource(target.node);
        for (const i of live.values()) if (i.source === source && isOpen(i)) return i;
        return undefined;
      },
    });
    this.running = { as: "leader", daemon };
    if (this.deps.leadership.standing(epoch) !== undefined || this.stopped) return;
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
