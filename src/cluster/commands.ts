import type pg from "pg";

// Commands a person sends to a follower (through its API) for the leader to carry out: the leader
// alone writes the journal. A command is done once the leader has applied it; one a leader applied
// but died before marking is applied again by the next (an acknowledge twice says the same thing).

/** A command waiting for the leader. */
export interface Command {
  id: number;
  node: string;
  kind: "ack";
  incident: string;
  by: string;
  note?: string;
}

/** Queues an acknowledge for the leader; resolves once it is in the store. */
export async function queueAck(
  db: pg.Pool,
  cluster: string,
  node: string,
  ack: { incident: string; by: string; note?: string },
): Promise<void> {
  const body = { by: ack.by, ...(ack.note !== undefined && { note: ack.note }) };
  await db.query("INSERT INTO medic_commands (cluster, node, kind, incident, body) VALUES ($1, $2, 'ack', $3, $4)", [
    cluster,
    node,
    ack.incident,
    JSON.stringify(body),
  ]);
}

/** The commands waiting, oldest first. */
export async function waitingCommands(db: pg.Pool, cluster: string, limit = 100): Promise<Command[]> {
  const { rows } = await db.query<{ id: string; node: string; kind: "ack"; incident: string; body: { by?: string; note?: string } }>(
    "SELECT id, node, kind, incident, body FROM medic_commands WHERE cluster = $1 AND done_at IS NULL ORDER BY id LIMIT $2",
    [cluster, limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    node: r.node,
    kind: r.kind,
    incident: r.incident,
    by: typeof r.body.by === "string" ? r.body.by : "api",
    ...(typeof r.body.note === "string" && { note: r.body.note }),
  }));
}

/** Marks a command done, with what came of it. */
export async function finishCommand(db: pg.Pool, cluster: string, id: number, outcome: string): Promise<void> {
  await db.query("UPDATE medic_commands SET done_at = now(), outcome = $3 WHERE cluster = $1 AND id = $2", [cluster, id, outcome]);
}
