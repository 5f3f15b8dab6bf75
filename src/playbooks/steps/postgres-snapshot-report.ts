import { formatDuration } from "../../lib/duration.js";
import type { SnapshotSession, SnapshotWait } from "./postgres-snapshot-sql.js";

// The snapshot as a person reads it at 3 a.m.: who waits on whom first, then the oldest
// transactions, then every busy session, then the counts. Pure: data in, text out.

/** What postgres.snapshot saw, as kept in its JSON artifact. */
export interface Snapshot {
  /** When the database says the snapshot was taken (UTC). */
  at: string;
  /** Where, without a password, and why there. */
  database: string;
  via: string;
  server: { version: string; inRecovery: boolean; maxConnections: number; role: string; seesAll: boolean };
  /** Client sessions, idle included; `hidden` of them are other roles' that the role may not see into. */
  clients: number;
  hidden: number;
  counts: { state: Count[]; application: Count[]; client: Count[] };
  lockWaits: SnapshotWait[];
  /** The sessions named in a lock wait's blocked_by. */
  blockers: SnapshotSession[];
  /** Sessions not idle, oldest transaction first; `more` says the list was cut at its cap. */
  sessions: SnapshotSession[];
  more: boolean;
  /** Each query text was cut to this many characters. */
  queryChars: number;
}

/** A count of client sessions under one name. */
export interface Count {
  name: string;
  n: number;
}

const LONGEST = 10;
const MAX_NAME = 64;

/** The snapshot as text. */
export function formatSnapshot(s: Snapshot): string {
  const out: string[] = [];
  const role = s.server.inRecovery ? "standby" : "primary";
  out.push(`PostgreSQL activity snapshot of ${s.database} (${s.via}) at ${s.at}`);
  out.push(`server ${s.server.version.split(" ")[0]} (${role}), max_connections ${s.server.maxConnections}, ${s.clients} client sessions`);
  out.push(...visibility(s));
  out.push("", `== lock waits (${s.lockWaits.length}) ==`);
  if (s.lockWaits.length === 0) out.push("none");
  const blockers = new Map([...s.blockers, ...s.sessions].map((b) => [b.pid, b]));
  for (const w of s.lockWaits) {
    out.push(`${session(w)}, blocked by ${w.blocked_by.map((p) => `pid ${p}`).join(", ") || "?"}`);
    out.push(...query(w, "    "));
    for (const pid of w.blocked_by) {
      const b = blockers.get(pid);
      out.push(b ? `  blocker ${session(b)}` : `  blocker pid ${pid}: gone before it could be looked at`);
      if (b) out.push(...query(b, "      "));
    }
  }
  const open = s.sessions.filter((x) => x.xact_ms !== null).slice(0, LONGEST);
  out.push("", `== longest transactions (${open.length}${open.length === LONGEST ? ", the longest" : ""}) ==`);
  if (open.length === 0) out.push(s.hidden > 0 ? "none that the role can see (see visibility above)" : "none open");
  open.forEach((x, i) => out.push(`${i + 1}. ${session(x)}`, ...query(x, "    ")));
  out.push("", `== sessions not idle (${s.sessions.length}${s.more ? ", cut at this many" : ""}; oldest transaction first) ==`);
  if (s.sessions.length === 0) out.push("none");
  for (const x of s.sessions) out.push(session(x), ...query(x, "    "));
  out.push("", "== client sessions by state, application and client ==");
  for (const [by, list] of Object.entries(s.counts)) out.push(`${by}: ${list.map((c) => `${clean(c.name)} ${c.n}`).join(", ") || "none"}`);
  return `${out.join("\n")}\n`;
}

/** A role without pg_read_all_stats sees other roles' sessions as "<insufficient privilege>": say so, not pretend. */
function visibility(s: Snapshot): string[] {
  if (s.server.seesAll) return [`visibility: full (role ${clean(s.server.role)} sees every session's state and query)`];
  const role = clean(s.server.role);
  return [
    `visibility: PARTIAL: role ${role} lacks pg_monitor (pg_read_all_stats), so ${s.hidden} session(s) of other roles show as ` +
      `<insufficient privilege>, with no state, times or query; lock waits are still listed (hint: GRANT pg_monitor TO ${role})`,
  ];
}

/** `pid 123 app@orders "api" from 10.0.0.5: idle in transaction 45s, transaction 46s, query 45s` */
export function session(x: SnapshotSession): string {
  const app = x.application_name ? ` ${JSON.stringify(clean(x.application_name))}` : "";
  const from = x.client_addr ? ` from ${x.client_addr}` : x.client_port === -1 ? " (local socket)" : "";
  const head = `pid ${x.pid} ${clean(x.usename ?? "?")}@${clean(x.datname ?? "?")}${app}${from}`;
  if (x.state === null) return `${head}: <insufficient privilege>`;
  const times = [
    `${x.state}${x.state_ms === null ? "" : ` ${formatDuration(x.state_ms)}`}`,
    x.xact_ms !== null && `transaction ${formatDuration(x.xact_ms)}`,
    x.query_ms !== null && `query ${formatDuration(x.query_ms)}`,
    x.wait_event_type && `waits on ${x.wait_event_type}/${x.wait_event ?? "?"}`,
  ].filter(Boolean);
  return `${head}: ${times.join(", ")}`;
}

/** The query text on one line, cut as the SQL cut it, with password literals masked. */
function query(x: SnapshotSession, indent: string): string[] {
  // A hidden session's query is "<insufficient privilege>", which its own line already says.
  if (x.query === null || x.query === "" || x.state === null) return [];
  const cut = x.query_chars !== null && x.query_chars > x.query.length ? ` … (${x.query_chars} chars)` : "";
  return [`${indent}query: ${oneLine(x.query)}${cut}`];
}

/** Query texts keep their words but not their layout, and never a control character. */
function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\s]+/g, " ").trim();
}

/** Client-chosen names (application_name, roles, databases) on one line, capped. */
function clean(s: string): string {
  const one = oneLine(s);
  return one.length > MAX_NAME ? `${one.slice(0, MAX_NAME - 1)}…` : one;
}

/** `PASSWORD 'x'` literals (CREATE/ALTER ROLE) masked: the sink's redaction only knows configured secrets. */
export function maskPasswords(sql: string): string {
  return (
    sql
      // PASSWORD 'x', E'x', U&'x' and $tag$x$tag$ (a literal cut at the end of a query text counts too)
      .replace(/(\bpassword\s*)(?:[eu]&?)?'(?:[^'\\]|''|\\.)*(?:'|$)/gi, "$1'[secret]'")
      .replace(/(\bpassword\s*)(\$[A-Za-z_0-9]*\$)[\s\S]*?(?:\2|$)/gi, "$1'[secret]'")
      // password=x inside a connection string (dblink_connect('... password=x ...'))
      .replace(/(\bpassword\s*=\s*)(?:"[^"]*"?|[^\s']+)/gi, "$1[secret]")
  );
}
