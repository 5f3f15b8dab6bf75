import { Gauge, type Registry } from "prom-client";

/** What a cluster node tells the metrics at scrape time. */
export interface ClusterGauges {
  /** 1 while this node leads. */
  leader: 0 | 1;
  /** The epoch this node leads at, or the latest it saw (0: none yet). */
  epoch: number;
  /** Elections this node won since it started. */
  elected: number;
  /** Times this node stopped leading. */
  steppedDown: number;
  /** Writes the store refused because this node's epoch was over (it stepped down after each). */
  fencedWrites: number;
  /** Stalled leaders this node fenced off (ended their session once their lease ran out). */
  fencedLeaders: number;
  /** How far behind the shared store this node's view is, in seconds (0 while it leads). */
  observationLagSeconds: number;
}

/**
 * The cluster's gauges, read from the node at scrape time. Counts since the node started are
 * gauges, not counters: a node's counts restart with it, and Prometheus's rate() of a gauge that
 * only grows until a restart reads the same.
 */
export function registerClusterGauges(registry: Registry, read: () => ClusterGauges | undefined): void {
  const gauge = (name: string, help: string, value: (g: ClusterGauges) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const g = read();
        if (g) this.set(value(g));
      },
    });
  gauge("medic_cluster_leader", "1 while this node leads its cluster, else 0 (absent on a single node).", (g) => g.leader);
  gauge("medic_cluster_epoch", "The leadership epoch this node leads at, or the latest it saw.", (g) => g.epoch);
  gauge("medic_cluster_elections_won", "Elections this node won since it started (failovers to it, and its first lead).", (g) => g.elected);
  gauge("medic_cluster_stepped_down", "Times this node stopped leading since it started.", (g) => g.steppedDown);
  gauge("medic_cluster_fenced_writes", "Writes the store refused since this node started: its epoch was over.", (g) => g.fencedWrites);
  gauge(
    "medic_cluster_fenced_leaders",
    "Stalled leaders this node ended the session of, once their lease ran out.",
    (g) => g.fencedLeaders,
  );
  gauge(
    "medic_cluster_observation_lag_seconds",
    "How far behind the shared store this node's view of incidents is (0 while it leads).",
    (g) => g.observationLagSeconds,
  );
}
