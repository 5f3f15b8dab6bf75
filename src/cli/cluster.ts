import { readClusterStatus, type ClusterStatus } from "../cluster/status.js";
import { describeError } from "../lib/errors.js";
import { createLogger } from "../lib/log.js";
import { createPool } from "../store/postgres/pool.js";
import { loadOrReport, NOT_NOTIFYING, type GlobalOptions } from "./config.js";
import { cell, EXIT, print, printError, table } from "./output.js";

/** A node whose heartbeat is older than this is shown as silent. */
const SILENT_MS = 10_000;

/**
 * `medic cluster status`: the leader, its epoch and lease, and every node with its last heartbeat,
 * read from the store (no running medic needed). Exit 1 when nobody leads or the store is unreachable.
 */
export async function clusterStatusCommand(opts: GlobalOptions & { json?: boolean }): Promise<number> {
  const config = await loadOrReport(opts, NOT_NOTIFYING);
  if (!config) return EXIT.badConfig;
  if (!config.store?.postgres || !config.cluster) {
    printError(`${config.file}: this medic keeps its journal in ${config.stateDir}, not in a cluster (hint: add store.postgres)\n`);
    return EXIT.badConfig;
  }
  const log = createLogger({ level: "silent" });
  const pool = createPool({
    url: config.store.postgres.url,
    statementTimeoutMs: config.store.postgres.statementTimeoutMs,
    applicationName: "medic cluster status",
    log,
    max: 1,
  });
  let status: ClusterStatus;
  try {
    status = await readClusterStatus(pool, config.cluster.name);
  } catch (err) {
    printError(`cannot read the cluster from the store: ${describeError(err)}\n`);
    return EXIT.unhealthy;
  } finally {
    await pool.end().catch(() => {});
  }
  if (opts.json) print(JSON.stringify(status, null, 2) + "\n");
  else print(render(status));
  return status.leader && status.leader.leaseLeftMs > 0 ? EXIT.ok : EXIT.unhealthy;
}

function render(s: ClusterStatus): string {
  const l = s.leader;
  const head = l?.node
    ? `cluster ${s.cluster}: ${l.node} leads at epoch ${l.epoch}, lease ${l.leaseLeftMs > 0 ? `ends in ${ms(l.leaseLeftMs)}` : `ran out ${ms(-l.leaseLeftMs)} ago`}\n`
    : `cluster ${s.cluster}: nobody has led yet\n`;
  const rows = s.nodes.map((n) => [
    cell(n.node, 40),
    n.node === l?.node && l.leaseLeftMs > 0 ? "leader" : String(n.detail.mode ?? "?"),
    n.silentMs > SILENT_MS ? `${ms(n.silentMs)} ago (silent)` : `${ms(n.silentMs)} ago`,
    String(n.detail.elected ?? 0),
    n.version,
    cell(n.detail.problem ?? "", 60),
  ]);
  const nodes = rows.length ? table(["NODE", "ROLE", "HEARTBEAT", "ELECTED", "VERSION", "PROBLEM"], rows) : "no node has joined\n";
  const changes = s.changes
    .slice(0, 5)
    .map((c) => `  ${new Date(c.at).toISOString()}  epoch ${c.epoch}  ${c.node} ${c.event}: ${c.detail}\n`)
    .join("");
  return head + "\n" + nodes + (changes ? `\nlatest leadership changes:\n${changes}` : "");
}

function ms(value: number): string {
  return value < 10_000 ? `${(value / 1000).toFixed(1)}s` : `${Math.round(value / 1000)}s`;
}
