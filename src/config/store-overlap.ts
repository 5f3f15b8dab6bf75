import { isIPv6 } from "node:net";
import type { ConfigIssue } from "./issues.js";
import { issueAt, type DataPath, type YamlSource } from "./locate.js";

// The database that holds medic's store must not be one that medic heals: a restart of that server
// takes the store with it, and a medic that cannot reach its store cannot fence, so it cannot act
// (issue 16). These warnings find a target whose probe, or a playbook step whose connection, reaches
// the store's server. Only what the config names is compared: a docker or process service that
// happens to run that server cannot be told apart here, and is not looked at.

/** A PostgreSQL server as a connection names it, with libpq's defaults applied. */
interface PgServer {
  /** Lower case, brackets dropped; every loopback name and a Unix socket directory become "loopback". */
  host: string;
  /** As written, for messages. */
  shownHost: string;
  port: number;
  /** Unknown when neither a database nor a user is given (then libpq takes the OS user's name). */
  database?: string;
}

/** A playbook as cross-checks see it: its file, and the names of the configured targets it may act on. */
export interface PlaybookReach {
  source: YamlSource;
  data: unknown;
  matched: string[];
}

/** Warnings for each target and postgres.* step that reaches the PostgreSQL server holding medic's store. */
export function checkStoreOverlap(source: YamlSource, root: Record<string, unknown>, playbooks: readonly PlaybookReach[]): ConfigIssue[] {
  const storeUrl = record(record(root.store).postgres).url;
  const store = typeof storeUrl === "string" ? serverOfUrl(storeUrl) : undefined;
  if (!store) return [];
  const issues: ConfigIssue[] = [];
  list(root.targets).forEach((raw, i) => {
    const t = record(raw);
    if (typeof t.name !== "string") return;
    const [kind, params] = Object.entries(record(t.probe))[0] ?? [];
    const probe = kind === "postgres" ? serverOfConnection(params) : kind === "tcp" ? serverOfTcp(params) : undefined;
    if (!probe || !sameServer(probe.server, store)) return;
    issues.push(
      issueAt(
        source,
        ["targets", i, "probe", kind!, ...probe.at],
        `target "${t.name}" probes ${storeServer(store, probe.server, kind === "postgres")}`,
        {
          level: "warning",
          hint: `${CONSEQUENCE}; keep medic's store on a server medic does not heal, or remove the service of "${t.name}" and the playbooks that act on it`,
        },
      ),
    );
  });
  for (const pb of playbooks) {
    if (pb.matched.length === 0) continue; // it never runs; "matches no target" says so
    const name = typeof record(pb.data).name === "string" ? (record(pb.data).name as string) : "(unnamed)";
    list(record(pb.data).steps).forEach((raw, j) => {
      for (const [kind, params] of Object.entries(record(raw))) {
        if (!kind.startsWith("postgres.")) continue;
        const step = serverOfConnection(record(params).connection);
        if (!step || !sameServer(step.server, store)) continue;
        const on = pb.matched.length > 5 ? `${pb.matched.slice(0, 5).join(", ")} and ${pb.matched.length - 5} more` : pb.matched.join(", ");
        issues.push(
          issueAt(
            pb.source,
            ["steps", j, kind, "connection", ...step.at],
            `playbook "${name}" step ${kind} connects to ${storeServer(store, step.server, true)}`,
            {
              level: "warning",
              hint: `it acts for ${on}; ${CONSEQUENCE}; keep medic's store on a server medic does not heal, or point this step at another server`,
            },
          ),
        );
      }
    });
  }
  return issues;
}

const CONSEQUENCE = "a restart of that server takes medic's store with it, and then no medic can act";

// "the PostgreSQL server that holds medic's store (db:5432), and the store's own database "medic"":
// the store's host:port and database names only, never its URL (which holds a password).
function storeServer(store: PgServer, other: PgServer, hasDatabase: boolean): string {
  const at = `the PostgreSQL server that holds medic's store (${hostPort(store.shownHost, store.port)})`;
  if (!hasDatabase || !store.database || !other.database) return at;
  return other.database === store.database
    ? `${at}, and the store's own database "${store.database}"`
    : `${at}; its database "${other.database}" is beside the store's "${store.database}"`;
}

/** The same server: the same port on the same host, every loopback name (and a local socket) counting as one host. */
function sameServer(a: PgServer, b: PgServer): boolean {
  return a.port === b.port && a.host === b.host;
}

// node-postgres reads a URL as pg-connection-string does: `?host=` and `?port=` win over the
// authority, an empty host is localhost, a missing port 5432, and the database defaults to the user.
// A URL that cannot be read (or a template filled in later) is left alone: the schema reports the rest.
function serverOfUrl(url: string): PgServer | undefined {
  if (!/^postgres(ql)?:\/\//.test(url) || url.includes("{{")) return undefined;
  let u: URL;
  let emptyHost = false;
  try {
    u = new URL(url);
  } catch {
    try {
      u = new URL(url.replace("@/", "@empty.invalid/"));
      emptyHost = true;
    } catch {
      return undefined;
    }
  }
  const host = u.searchParams.get("host") || (emptyHost ? "" : decode(u.hostname.replace(/^\[(.+)\]$/, "$1")));
  const port = Number(u.searchParams.get("port") || u.port || 5432);
  const database = decode(u.pathname.slice(1)) || u.searchParams.get("user") || decode(u.username) || undefined;
  return server(host, port, database);
}

// A postgres probe's or step's connection: a URL, or host/port/user/database fields (host 127.0.0.1 and port 5432 by default).
function serverOfConnection(raw: unknown): { server: PgServer; at: DataPath } | undefined {
  const c = record(raw);
  if (typeof c.url === "string") {
    const s = serverOfUrl(c.url);
    return s && { server: s, at: ["url"] };
  }
  if (raw === undefined || (c.host !== undefined && typeof c.host !== "string") || (c.port !== undefined && typeof c.port !== "number"))
    return undefined;
  const database = typeof c.database === "string" ? c.database : typeof c.user === "string" ? c.user : undefined;
  return {
    server: server(typeof c.host === "string" ? c.host : "127.0.0.1", c.port ?? 5432, database),
    at: c.host !== undefined ? ["host"] : c.port !== undefined ? ["port"] : [],
  };
}

function serverOfTcp(raw: unknown): { server: PgServer; at: DataPath } | undefined {
  const t = record(raw);
  if (typeof t.port !== "number" || (t.host !== undefined && typeof t.host !== "string")) return undefined;
  return { server: server(typeof t.host === "string" ? t.host : "127.0.0.1", t.port), at: ["port"] };
}

// A Unix socket directory is a server on this host: the one listening on that port, as 127.0.0.1 would reach.
function server(host: string, port: number, database?: string): PgServer {
  const name = host
    .toLowerCase()
    .replace(/^\[(.+)\]$/, "$1")
    .replace(/\.$/, "");
  const loopback = name === "" || name === "localhost" || name === "127.0.0.1" || name === "::1" || name.startsWith("/");
  return { host: loopback ? "loopback" : name, shownHost: host || "localhost", port, ...(database ? { database } : {}) };
}

function hostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const record = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
