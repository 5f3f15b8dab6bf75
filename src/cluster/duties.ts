import type pg from "pg";
import type { ClusterConfig } from "../config/cluster.js";
import type { Config, Target } from "../config/types.js";
import type { Daemon } from "../daemon/app.js";
import { vantageSource } from "../daemon/own-incidents.js";
import type { Confirmation } from "../daemon/ports.js";
import { isOpen, type Incident } from "../incidents/types.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";
import { ControlsFile } from "../safety/controls.js";
import type { Controls } from "../safety/types.js";
import { finishCommand, waitingCommands } from "./commands.js";
import { publishControls, readOthersControls } from "./controls.js";
import type { Role } from "./leadership.js";
import { listNodes } from "./nodes.js";
import { nodeSource, reviewNodes } from "./node-watch.js";
import { readObservations, type ObservationRow } from "./observations.js";
import { blindLeader, confirmFailure } from "./quorum.js";

/** A node beats this often (medic_nodes.heartbeat_at); one silent for three beats (or a lease) is down. */
export const HEARTBEAT_MS = 2_000;
/** What the leader reads of the others, and a follower's view of the store, is this old at most. */
export const FOLLOW_MS = 1_000;

/** A node silent this long (three beats, or a lease) is down. */
export const silentLimitMs = (me: ClusterConfig): number => Math.max(3 * HEARTBEAT_MS, me.leaseTtlMs);

/** What the duties need of their node. */
export interface DutiesDeps {
  pool: pg.Pool;
  me: ClusterConfig;
  config: () => Config;
  log: Logger;
  /** The leader's daemon, while this node leads. */
  leader: () => Daemon | undefined;
  role: () => Role;
}

/**
 * What a node does for the cluster besides running its daemon, each on its own timer (node.ts):
 * as leader, watching the other nodes' heartbeats (node_down), reading what they see (quorum,
 * vantage_disagreement) and carrying out the commands sent to them; as any node, sharing the
 * operator's pauses and guard resets.
 */
export class ClusterDuties {
  /** The other nodes' pauses and guard resets, as read last. */
  othersControls: Controls | undefined;
  /** This node's controls file, and whether what it holds now is in the store. */
  private controls: ControlsFile | undefined;
  private published = false;
  /** What the followers see of each target, as the leader read it last. */
  private observed: ObservationRow[] = [];
  /** True while the leader applies followers' commands (one pass at a time). */
  private applying = false;
  /** The cluster's nodes, as the leader read them last. */
  private nodes: ReadonlySet<string> | undefined;

  constructor(private readonly deps: DutiesDeps) {}

  // The leader watches the other nodes' heartbeats: one node_down incident for a node gone silent
  // (the targets on its host wait under it), resolved when it beats again.
  async watchNodes(): Promise<void> {
    const leader = this.deps.leader();
    const role = this.deps.role();
    if (!leader || role.mode !== "leader") return;
    try {
      const nodes = await listNodes(this.deps.pool, this.deps.me.name);
      this.nodes = new Set(nodes.map((n) => n.node));
      const open = new Set<string>();
      for (const i of leader.liveIncidents().values())
        if (i.kind === "node_down" && isOpen(i) && i.source?.startsWith(nodeSource(""))) open.add(i.source.slice(nodeSource("").length));
      const review = reviewNodes(nodes, {
        me: this.deps.me.node,
        silentMs: silentLimitMs(this.deps.me),
        leadingMs: Date.now() - role.since,
        open,
      });
      if (this.deps.leader() !== leader) return;
      for (const d of review.down) {
        const evidence = `node ${d.node} of cluster ${this.deps.me.name} has sent no heartbeat for ${Math.round(d.silentMs / 1000)} s: its host or its medic is gone`;
        const onHost = new Set(
          this.deps
            .config()
            .targets.filter((t) => t.node === d.node)
            .map((t) => t.name),
        );
        leader.raiseOwn("node_down", evidence, nodeSource(d.node), (i) => onHost.has(i.target));
      }
      for (const b of review.back) leader.resolveOwn(nodeSource(b.node), b.why);
    } catch (err) {
      this.deps.log.warn({ err: describeError(err) }, "could not look at the other nodes' heartbeats");
    }
  }

  /** Whether `node` is in the cluster, as the leader read it last (undefined: not read yet). */
  known(node: string): boolean | undefined {
    return this.nodes?.has(node);
  }

  /** Whether enough nodes see the target failing for the leader to act (a target with no quorum: no question). */
  confirm(incident: Incident, target: Target): Confirmation {
    // A leader that reaches none of its targets while another node reaches some: its own network is
    // at fault, and it heals nothing it cannot see (when every node sees everything down, it is real).
    const blind = blindLeader(this.deps.leader()?.targetsStatus() ?? [], this.observed, this.quorumOf(target));
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
  async watchVantage(): Promise<void> {
    const leader = this.deps.leader();
    if (!leader) return;
    try {
      this.observed = await readObservations(this.deps.pool, this.deps.me.name);
    } catch (err) {
      this.deps.log.debug({ err: describeError(err) }, "could not read what the followers see");
      return;
    }
    const status = new Map(leader.targetsStatus().map((t) => [t.name, t]));
    for (const i of leader.liveIncidents().values()) {
      if (i.kind !== "vantage_disagreement" || !isOpen(i) || !i.source?.startsWith(vantageSource(""))) continue;
      const name = i.source.slice(vantageSource("").length);
      const target = this.deps.config().targets.find((t) => t.name === name);
      if (!target || status.get(name)?.up === true) {
        leader.resolveOwn(
          i.source,
          target ? `${this.deps.me.node} reaches ${name} again: the nodes agree` : `${name} is no longer watched`,
        );
        continue;
      }
      const now = confirmFailure(this.observed, { ...this.quorumOf(target), waitedMs: Infinity, graceMs: 0 });
      if (now.act) leader.resolveOwn(i.source, `${now.detail}: it is ${name} itself, not the path, and it is acted on`);
    }
  }

  private quorumOf(target: Target) {
    return {
      me: this.deps.me.node,
      target: target.name,
      quorum: target.quorum ?? 1,
      freshMs: silentLimitMs(this.deps.me),
    };
  }

  // Every node publishes the pauses and guard resets written here, and reads everyone else's: a
  // pause made on any host holds whichever node leads.
  async shareControls(): Promise<void> {
    const { log } = this.deps;
    try {
      // The file is read again only when it changed on disk (a stat a second), as the safety guards do.
      const file = (this.controls ??= new ControlsFile(this.deps.config().stateDir));
      const { changed, error } = file.refresh();
      if (error) log.debug({ error }, "cannot read this node's operator controls; sharing the last good ones");
      if (changed || !this.published) {
        this.published = false;
        await publishControls(this.deps.pool, this.deps.me.name, this.deps.me.node, file.current());
        this.published = true;
      }
      this.othersControls = await readOthersControls(this.deps.pool, this.deps.me.name, this.deps.me.node, log);
    } catch (err) {
      log.debug({ err: describeError(err) }, "could not share the operator controls through the store");
    }
  }

  // The leader carries out what followers were asked, in order; each once it is in the journal.
  async applyCommands(): Promise<void> {
    const leader = this.deps.leader();
    if (!leader || this.applying) return;
    this.applying = true;
    try {
      for (const c of await waitingCommands(this.deps.pool, this.deps.me.name)) {
        if (this.deps.leader() !== leader) return;
        const acked = await leader.acknowledge(c.incident, c.by, c.note);
        await leader.flushed();
        // Done only once the leader's record of it is in the store: a term that ended meanwhile leaves it to the next.
        if (this.deps.leader() !== leader || leader.storeProblem() !== undefined) return;
        await finishCommand(this.deps.pool, this.deps.me.name, c.id, acked ? "acknowledged" : "no such open incident");
        this.deps.log.info(
          { incident: c.incident, by: c.by, from: c.node, applied: Boolean(acked) },
          "applied an acknowledge sent to a follower",
        );
      }
    } catch (err) {
      this.deps.log.warn({ err: describeError(err) }, "could not apply the commands sent to followers");
    } finally {
      this.applying = false;
    }
  }
}
