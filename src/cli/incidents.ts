import { STATE_FILTERS } from "../api/views.js";
import { describeRecord } from "../incidents/describe.js";
import { describeSkipped } from "../incidents/journal-read.js";
import { incidentReport } from "../incidents/report.js";
import type { Incident, IncidentState } from "../incidents/types.js";
import { formatDuration, parseDuration } from "../lib/duration.js";
import { describeError } from "../lib/errors.js";
import { createLogger } from "../lib/log.js";
import { openReadOnly } from "../store/file/read-only.js";
import { PgStore } from "../store/postgres/pg-store.js";
import { createPool } from "../store/postgres/pool.js";
import type { HistoryQuery, IncidentStore } from "../store/types.js";
import { MIN_RECENT_MS } from "../store/window.js";
import { historySource, type GlobalOptions } from "./config.js";
import { cell, EXIT, print, printError, table } from "./output.js";

/** What `medic incidents` lists by default: the newest this many. */
export const DEFAULT_LIMIT = 100;
/** Pages of this many when everything is asked for: printed as they come, never all held at once. */
const ALL_PAGE = 500;

/** What `medic incidents` takes. */
export interface ListOptions extends GlobalOptions {
  json?: boolean;
  state?: string;
  /** Only incidents open at some time in this long before now: `24h`, `7d`. */
  since?: string;
  limit?: string;
  all?: boolean;
}

/** `medic incidents [--json] [--state S] [--since 24h] [--limit N | --all]`: history, newest first. */
export async function incidentsCommand(opts: ListOptions): Promise<number> {
  const query = listQuery(opts);
  if (!query) return EXIT.badConfig;
  const store = await openHistory(opts);
  if (!store) return EXIT.badConfig;
  try {
    const rows = opts.json ? jsonRows() : tableRows();
    let cursor: string | undefined;
    do {
      const page = await store.history({ ...query, ...(cursor && { cursor }) });
      rows.add(page.incidents);
      cursor = opts.all ? page.next : undefined;
      if (!opts.all && page.next) printError(`note: the ${query.limit} newest are shown; --limit N or --all for more\n`);
    } while (cursor);
    rows.end();
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** The incident by id or unique prefix; undefined, said on stderr, when there is none or more than one. */
export async function findOrSay(store: IncidentStore, id: string): Promise<Incident | undefined> {
  const { found, ...rest } = await store.find(id);
  if (found) return found;
  const ambiguous = "ambiguous" in rest ? rest.ambiguous : undefined;
  printError(
    ambiguous
      ? `${ambiguous} incidents start with ${id} (hint: give more of the id)\n`
      : `no incident ${id} in the journal (hint: medic incidents lists them)\n`,
  );
  return undefined;
}

/** How `medic incidents show` prints an incident. */
export type ShowFormat = "text" | "json" | "markdown";

/** `medic incidents show ID [--format text|json|markdown]`: one incident's timeline, or its postmortem draft. */
export async function showIncidentCommand(id: string, opts: GlobalOptions & { format?: ShowFormat }): Promise<number> {
  const store = await openHistory(opts);
  if (!store) return EXIT.badConfig;
  try {
    const incident = await findOrSay(store, id);
    if (!incident) return EXIT.unhealthy;
    if (opts.format === "json") {
      print(JSON.stringify(incident, null, 2) + "\n");
      return EXIT.ok;
    }
    if (opts.format === "markdown") {
      const related = await everything(store, { root: incident.id, limit: ALL_PAGE });
      print(
        incidentReport(
          incident,
          related.sort((a, b) => a.openedAt - b.openedAt),
          Date.now(),
        ),
      );
      return EXIT.ok;
    }
    const lines = [
      `incident ${incident.id}: ${incident.kind} ${incident.severity} on ${incident.target}, ${incident.state}`,
      `opened ${new Date(incident.openedAt).toISOString()}, lasted ${formatDuration(lasted(incident))}`,
      "",
      ...incident.timeline.map((r) => `+${formatDuration(r.at - incident.openedAt).padStart(7)}  ${describeRecord(r, incident)}`),
    ];
    if (incident.notifications.length > 0) {
      lines.push("", "notifications:");
      for (const n of incident.notifications) lines.push(`  ${n.channel} ${n.event}: ${n.status}${n.detail ? ` (${n.detail})` : ""}`);
    }
    print(lines.join("\n") + "\n");
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

// The query the options ask for; undefined after saying what is wrong with them.
function listQuery(opts: ListOptions): HistoryQuery | undefined {
  if (opts.state !== undefined && !STATE_FILTERS.includes(opts.state))
    return usage(`unknown state "${opts.state}" (hint: one of ${STATE_FILTERS.join(", ")})`);
  const sinceMs = opts.since === undefined ? undefined : parseDuration(opts.since);
  if (opts.since !== undefined && !(sinceMs !== undefined && sinceMs > 0))
    return usage(`--since must be a duration like 24h or 7d (got "${opts.since}")`);
  const limit = opts.limit === undefined ? DEFAULT_LIMIT : Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1) return usage(`--limit must be a whole number of at least 1 (got "${opts.limit}")`);
  if (opts.all && opts.limit !== undefined) return usage("--all lists everything: leave --limit out");
  return {
    limit: opts.all ? ALL_PAGE : limit,
    ...(opts.state && { state: opts.state as IncidentState | "unresolved" }),
    ...(sinceMs !== undefined && { since: Date.now() - sinceMs }),
  };
}

function usage(message: string): undefined {
  printError(`${message}\n`);
  return undefined;
}

// The history, read-only: the state dir's journal (a warning for lines that are not records), or a
// cluster's PostgreSQL store (closed when the command is done: `close`).
/** The history this config's medic keeps (the state dir's journal, or the cluster's store), read-only. */
export async function openHistory(opts: GlobalOptions): Promise<(IncidentStore & { close(): Promise<void> }) | undefined> {
  const source = await historySource(opts);
  if (!source) return undefined;
  if ("store" in source) return clusterHistory(source.store);
  const store = openReadOnly(source.stateDir);
  if (store.skipped.skipped > 0) printError(`warning: ${describeSkipped(store.skipped.journal, store.skipped)}\n`);
  return store;
}

async function clusterHistory(s: { cluster: string; url: string | undefined; statementTimeoutMs: number }) {
  if (s.url === undefined) {
    printError(
      "this medic keeps its history in PostgreSQL, and store.postgres.url did not resolve (hint: set the variable it names, as for medic run)\n",
    );
    return undefined;
  }
  const log = createLogger({ level: "silent" });
  const pool = createPool({ url: s.url, statementTimeoutMs: s.statementTimeoutMs, applicationName: "medic incidents", log, max: 2 });
  try {
    const store = await PgStore.open({ pool, cluster: s.cluster, node: "cli", recentMs: MIN_RECENT_MS, log });
    return Object.assign(store, { close: async () => void (await pool.end().catch(() => {})) });
  } catch (err) {
    await pool.end().catch(() => {});
    printError(`cannot read the cluster's history from PostgreSQL: ${describeError(err)}\n`);
    return undefined;
  }
}

async function everything(store: IncidentStore, query: HistoryQuery): Promise<Incident[]> {
  const all: Incident[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.history({ ...query, ...(cursor && { cursor }) });
    all.push(...page.incidents);
    cursor = page.next;
  } while (cursor);
  return all;
}

/** Prints pages of incidents as they come: a JSON array, or a table whose columns only widen. */
interface Rows {
  add(incidents: Incident[]): void;
  end(): void;
}

function jsonRows(): Rows {
  let first = true;
  return {
    add(incidents) {
      for (const i of incidents) {
        print(`${first ? "[\n" : ",\n"}${indent(JSON.stringify(i, null, 2))}`);
        first = false;
      }
    },
    end: () => print(first ? "[]\n" : "\n]\n"),
  };
}

function tableRows(): Rows {
  const header = ["ID", "TARGET", "KIND", "SEV", "STATE", "OPENED", "LASTED", "RUNS", "NOTIFIED", "EVIDENCE"];
  let widths = header.map((h) => h.length);
  let printed = false;
  return {
    add(incidents) {
      const rows = incidents.map(row);
      widths = widths.map((w, i) => Math.max(w, ...rows.map((r) => r[i]!.length)));
      const text = table(header, [widths.map((w) => "".padEnd(w)), ...rows]).split("\n");
      // The table's first two lines are the header and the row of blanks that holds the widths.
      print((printed ? text.slice(2) : [text[0], ...text.slice(2)]).join("\n"));
      printed = true;
    },
    end: () => {
      if (!printed) print(table(header, []));
    },
  };
}

function row(i: Incident): string[] {
  return [
    i.id,
    i.target,
    i.kind,
    i.severity,
    i.state,
    new Date(i.openedAt).toISOString(),
    formatDuration(lasted(i)),
    String(i.runs.length),
    notified(i),
    cell(i.evidence, 60),
  ];
}

function indent(text: string): string {
  return text.replace(/^/gm, "  ");
}

// "2 sent", "1 queued", "1 FAILED": what humans were told, and what never reached them.
function notified(i: Incident): string {
  const count = (status: string) => i.notifications.filter((n) => n.status === status).length;
  const parts = [
    ["sent", count("sent")],
    ["queued", count("queued")],
    ["superseded", count("superseded")],
    ["FAILED", count("failed")],
  ] as const;
  return (
    parts
      .filter(([, n]) => n > 0)
      .map(([what, n]) => `${n} ${what}`)
      .join(", ") || "-"
  );
}

function lasted(i: Incident): number {
  return (i.resolvedAt ?? Date.now()) - i.openedAt;
}
