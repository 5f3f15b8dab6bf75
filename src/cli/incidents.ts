import { describeRecord } from "../incidents/describe.js";
import { readJournal } from "../incidents/journal.js";
import { incidentReport } from "../incidents/report.js";
import type { Incident } from "../incidents/types.js";
import { formatDuration } from "../lib/duration.js";
import { historyDir, type GlobalOptions } from "./config.js";
import { cell, EXIT, print, printError, table } from "./output.js";

/** `medic incidents [--json]`: history from the journal, newest first. */
export async function incidentsCommand(opts: GlobalOptions & { json?: boolean; state?: string }): Promise<number> {
  const incidents = await history(opts);
  if (!incidents) return EXIT.badConfig;
  const list = [...incidents.values()].sort((a, b) => b.openedAt - a.openedAt);
  if (opts.json) {
    print(JSON.stringify(opts.state ? list.filter((i) => i.state === opts.state) : list, null, 2) + "\n");
    return EXIT.ok;
  }
  const rows = list
    .filter((i) => !opts.state || i.state === opts.state)
    .map((i) => [
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
    ]);
  print(table(["ID", "TARGET", "KIND", "SEV", "STATE", "OPENED", "LASTED", "RUNS", "NOTIFIED", "EVIDENCE"], rows));
  return EXIT.ok;
}

/** How `medic incidents show` prints an incident. */
export type ShowFormat = "text" | "json" | "markdown";

/** `medic incidents show ID [--format text|json|markdown]`: one incident's timeline, or its postmortem draft. */
export async function showIncidentCommand(id: string, opts: GlobalOptions & { format?: ShowFormat }): Promise<number> {
  const incidents = await history(opts);
  if (!incidents) return EXIT.badConfig;
  const incident = incidents.get(id) ?? [...incidents.values()].find((i) => i.id.startsWith(id));
  if (!incident) {
    printError(`no incident ${id} in the journal (hint: medic incidents lists them)\n`);
    return EXIT.unhealthy;
  }
  if (opts.format === "json") {
    print(JSON.stringify(incident, null, 2) + "\n");
    return EXIT.ok;
  }
  if (opts.format === "markdown") {
    const related = [...incidents.values()].filter((i) => i.root === incident.id).sort((a, b) => a.openedAt - b.openedAt);
    print(incidentReport(incident, related, Date.now()));
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
}

async function history(opts: GlobalOptions): Promise<Map<string, Incident> | undefined> {
  const stateDir = await historyDir(opts);
  return stateDir === undefined ? undefined : readJournal(stateDir, (warning) => printError(`warning: ${warning}\n`));
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
