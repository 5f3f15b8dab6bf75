import type pg from "pg";
import type { Logger } from "../lib/log.js";
import { describeError } from "../lib/errors.js";
import { mergeControls, parseControls } from "../safety/controls.js";
import type { Controls } from "../safety/types.js";

// Pauses and guard resets are written where the operator is: `medic pause` or the API of any
// node writes that node's state dir. Each node publishes its controls to the store, and every node
// honours every node's: a pause made on one host holds whichever node leads.

/** Publishes this node's controls (when they changed). */
export async function publishControls(db: pg.Pool, cluster: string, node: string, doc: Controls): Promise<void> {
  await db.query(
    `INSERT INTO medic_controls (cluster, node, doc) VALUES ($1, $2, $3)
       ON CONFLICT (cluster, node) DO UPDATE SET doc = $3, updated_at = now()`,
    [cluster, node, JSON.stringify(doc)],
  );
}

/** The other nodes' controls as one; a row that is not valid controls is left out, and said so. */
export async function readOthersControls(db: pg.Pool, cluster: string, me: string, log: Logger): Promise<Controls> {
  const { rows } = await db.query<{ node: string; doc: unknown }>(
    "SELECT node, doc FROM medic_controls WHERE cluster = $1 AND node <> $2",
    [cluster, me],
  );
  const docs: Controls[] = [];
  for (const r of rows) {
    try {
      docs.push(parseControls(r.doc, `the controls node ${r.node} published`));
    } catch (err) {
      log.warn({ node: r.node, err: describeError(err) }, "left out a node's controls that are not valid");
    }
  }
  return mergeControls(docs);
}
