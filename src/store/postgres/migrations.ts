import type pg from "pg";
import { MedicError } from "../../lib/errors.js";
import type { Logger } from "../../lib/log.js";

// Versioned migrations, applied at start. No migration library: the schema is a few tables, and
// what we need most is the refusal (an old node must not write to a schema it does not know),
// which the libraries we looked at leave to the caller anyway.

/** One step of the schema; versions only grow, and a released step is never edited. */
interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "cluster tables",
    // Ids are compared byte-wise (COLLATE "C") to match the history order JavaScript computes.
    sql: `
      CREATE TABLE medic_leader (cluster text PRIMARY KEY, node text, epoch bigint NOT NULL DEFAULT 0,
        lease_until timestamptz NOT NULL DEFAULT '-infinity', backend_pid int, since timestamptz);
      CREATE TABLE medic_nodes (cluster text NOT NULL, node text NOT NULL, started_at timestamptz NOT NULL,
        heartbeat_at timestamptz NOT NULL, version text NOT NULL, detail jsonb NOT NULL DEFAULT '{}',
        PRIMARY KEY (cluster, node));
      CREATE TABLE medic_cluster_log (id bigserial PRIMARY KEY, cluster text NOT NULL,
        at timestamptz NOT NULL DEFAULT now(), node text NOT NULL, epoch bigint NOT NULL, event text NOT NULL,
        detail text NOT NULL DEFAULT '');
      CREATE TABLE medic_records (cluster text NOT NULL, seq bigint NOT NULL, incident text NOT NULL,
        at bigint NOT NULL, epoch bigint NOT NULL, node text NOT NULL, record jsonb NOT NULL,
        PRIMARY KEY (cluster, seq));
      CREATE TABLE medic_incidents (cluster text NOT NULL, id text NOT NULL, target text NOT NULL,
        state text NOT NULL, opened_at bigint NOT NULL, resolved_at bigint, root text, last_seq bigint NOT NULL,
        fold jsonb NOT NULL, PRIMARY KEY (cluster, id));
      CREATE INDEX medic_incidents_history ON medic_incidents (cluster, opened_at DESC, id COLLATE "C" DESC);
      CREATE INDEX medic_incidents_target ON medic_incidents (cluster, target, opened_at DESC, id COLLATE "C" DESC);
      CREATE INDEX medic_incidents_root ON medic_incidents (cluster, root) WHERE root IS NOT NULL;
      CREATE INDEX medic_incidents_unresolved ON medic_incidents (cluster, opened_at DESC) WHERE state <> 'resolved';
      CREATE INDEX medic_incidents_resolved ON medic_incidents (cluster, resolved_at DESC) WHERE state = 'resolved';
    `,
  },
  {
    version: 2,
    name: "commands from followers",
    sql: `
      CREATE TABLE medic_commands (id bigserial PRIMARY KEY, cluster text NOT NULL, at timestamptz NOT NULL DEFAULT now(),
        node text NOT NULL, kind text NOT NULL, incident text NOT NULL, body jsonb NOT NULL DEFAULT '{}',
        done_at timestamptz, outcome text);
      CREATE INDEX medic_commands_waiting ON medic_commands (cluster, id) WHERE done_at IS NULL;
    `,
  },
  {
    version: 3,
    name: "what followers see",
    sql: `
      CREATE TABLE medic_observations (cluster text NOT NULL, node text NOT NULL, target text NOT NULL,
        failing boolean NOT NULL, evidence text NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (cluster, node, target));
    `,
  },
  {
    version: 4,
    name: "every node's pauses and guard resets",
    sql: `
      CREATE TABLE medic_controls (cluster text NOT NULL, node text NOT NULL, doc jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (cluster, node));
    `,
  },
  {
    version: 5,
    name: "host steps the leader asks a node to carry out",
    sql: `
      CREATE TABLE medic_tasks (cluster text NOT NULL, id text NOT NULL, node text NOT NULL, epoch bigint NOT NULL,
        incident text NOT NULL, target text NOT NULL, playbook text NOT NULL, step_index int NOT NULL,
        description text NOT NULL, plan jsonb NOT NULL, state text NOT NULL DEFAULT 'pending',
        created_at timestamptz NOT NULL DEFAULT now(), claimed_at timestamptz, finished_at timestamptz,
        outcome text, detail text, duration_ms int, PRIMARY KEY (cluster, id));
      CREATE INDEX medic_tasks_pending ON medic_tasks (cluster, node) WHERE state = 'pending';
    `,
  },
];

/** The newest schema this node knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Brings the database's schema to SCHEMA_VERSION, each step in its own transaction, under a session
 * advisory lock on a dedicated connection: nodes that start together migrate once, the others wait
 * and find nothing left to do. Refuses (STORE_SCHEMA_NEWER) a database a newer medic has migrated.
 */
export async function migrate(pool: pg.Pool, log: Logger): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock(hashtext('medic'), 0)");
    await client.query(
      "CREATE TABLE IF NOT EXISTS medic_schema (version int PRIMARY KEY, name text, applied_at timestamptz DEFAULT now())",
    );
    const { rows } = await client.query<{ v: number | null }>("SELECT max(version) AS v FROM medic_schema");
    const current = rows[0]?.v ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new MedicError(
        "STORE_SCHEMA_NEWER",
        `the PostgreSQL store's schema is at version ${current}, newer than this medic knows (version ${SCHEMA_VERSION})`,
        { hint: "upgrade medic on this node to the version the other nodes run; it will not write to a schema it does not know" },
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await client.query("BEGIN");
      try {
        await client.query(m.sql);
        await client.query("INSERT INTO medic_schema (version, name) VALUES ($1, $2)", [m.version, m.name]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw err;
      }
      log.info({ version: m.version, name: m.name }, "migrated the PostgreSQL store's schema");
    }
  } finally {
    // Destroyed, not returned to the pool: the session lock goes with the session, whatever happened.
    client.release(true);
  }
}
