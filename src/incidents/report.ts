import { formatDuration } from "../lib/duration.js";
import { code, fenced, inline, mdTable, utc } from "./markdown.js";
import { lastOf, openQuestions, plural } from "./questions.js";
import { evidenceSection } from "./report-evidence.js";
import type { Incident, JournalRecord, NotificationRecord, RunRecord } from "./types.js";

/**
 * A postmortem draft for one incident, in Markdown, from its journal alone: summary, impact,
 * timeline, remediation with each step's output, notifications, resolution, related incidents and
 * open questions for the people who handled it. `related`: incidents suppressed under this one
 * (their `root` is its id). Pure: `now` is when the draft is written.
 */
export function incidentReport(incident: Incident, related: Incident[], now: number): string {
  const sections = [
    `# Incident ${inline(incident.id)}: ${code(incident.kind)} on ${inline(incident.target)}`,
    `> Draft written by medic from its journal at ${utc(now)} UTC. medic knows what it saw and what it did; ` +
      "the cause, the impact on users and the follow-ups are for the people who handled it. Edit before sharing.",
    facts(incident, related, now),
    section("Summary", summary(incident, related, now)),
    section("Impact", impact(incident, related, now)),
    section("Timeline", timeline(incident)),
    section("Remediation", remediation(incident)),
    ...(incident.artifacts?.length ? [section("Evidence", evidenceSection(incident))] : []),
    section("Notifications", notifications(incident)),
    section("Resolution", resolution(incident, now)),
    ...(related.length > 0 ? [section("Related incidents", relatedTable(incident, related))] : []),
    section(
      "Open questions",
      openQuestions(incident, related, now)
        .map((q) => `- ${q}`)
        .join("\n"),
    ),
    section("Action items", mdTable(["Action", "Owner", "Due"], [["_to be decided by the responders_", "", ""]])),
  ];
  return sections.join("\n\n") + "\n";
}

const section = (title: string, body: string) => `## ${title}\n\n${body}`;
const since = (incident: Incident, at: number) => `+${formatDuration(Math.max(0, at - incident.openedAt))}`;
const lasted = (incident: Incident, now: number) => formatDuration((incident.resolvedAt ?? now) - incident.openedAt);

function facts(incident: Incident, related: Incident[], now: number): string {
  const opened = openedSeverity(incident);
  const rows: [string, string][] = [
    ["Status", incident.state === "resolved" ? "resolved" : `**${incident.state}**, not resolved at the time of writing`],
    ["Severity", opened === incident.severity ? opened : `${incident.severity} (opened as ${opened})`],
    ["Target", inline(incident.target)],
    ["Kind", code(incident.kind)],
    ["Opened", `${utc(incident.openedAt)} UTC`],
    [
      "Resolved",
      incident.resolvedAt === undefined
        ? `not yet (open for ${lasted(incident, now)})`
        : `${utc(incident.resolvedAt)} UTC, after ${lasted(incident, now)}`,
    ],
    [
      "Playbook runs",
      incident.runs.length === 0 ? "none" : `${incident.runs.length}: ${incident.runs.map((r) => code(r.playbook)).join(", ")}`,
    ],
    [
      "Acknowledged",
      incident.acknowledged ? `by ${inline(incident.acknowledged.by)} at ${since(incident, incident.acknowledged.at)}` : "no",
    ],
  ];
  const answers = incident.timeline.flatMap((r) =>
    r.type === "approved" || r.type === "rejected"
      ? [`step ${r.index + 1} ${r.type} by ${inline(r.by)} at ${since(incident, r.at)}`]
      : r.type === "approval_expired"
        ? [`step ${r.index + 1}: nobody answered in time`]
        : [],
  );
  if (answers.length > 0) rows.push(["Approvals", answers.join("; ")]);
  const pausedBy = [
    ...new Set(incident.timeline.flatMap((r) => (r.type === "held" ? (/\bpause \S+ by (\S+)/.exec(r.reason)?.[1] ?? []) : []))),
  ];
  if (pausedBy.length > 0) rows.push(["Paused by", pausedBy.map(inline).join(", ")]);
  if (incident.root) rows.push(["Suppressed under", `incident ${inline(incident.root)} (on a dependency)`]);
  if (related.length > 0) rows.push(["Dependents affected", related.map((r) => inline(r.target)).join(", ")]);
  if (incident.source) rows.push(["Raised by", inline(incident.source)]);
  if (incident.dryRun) rows.push(["Dry run", "yes: medic acted on nothing"]);
  return mdTable(
    ["", ""],
    rows.map(([k, v]) => [`**${k}**`, v]),
  );
}

function summary(incident: Incident, related: Incident[], now: number): string {
  const where = incident.root
    ? `, suppressed under incident ${inline(incident.root)} on a dependency`
    : incident.source
      ? `, raised by ${inline(incident.source)}`
      : "";
  const opened = openedSeverity(incident);
  const severity = opened === incident.severity ? opened : `${opened}, raised to ${incident.severity}`;
  const parts = [
    `${inline(incident.target)} had a ${code(incident.kind)} incident (${severity}), opened at ${utc(incident.openedAt)} UTC${where}. ` +
      `What medic saw first: ${sentence(inline(openingEvidence(incident)))}`,
  ];
  const run = incident.runs[incident.runs.length - 1];
  if (run)
    parts.push(`medic ran ${plural(incident.runs.length, "playbook run")} (last: ${code(run.playbook)}); ${runOutcome(incident, run)}.`);
  else parts.push(`No playbook ran${noRunWhy(incident)}.`);
  const last = lastOf(incident, "escalated");
  if (incident.state === "resolved") parts.push(`It was resolved ${lasted(incident, now)} after it opened, ${resolvedHow(incident)}.`);
  else if (incident.state === "escalated" && last)
    parts.push(`It was escalated (${inline(last.reason)}) and is still open ${lasted(incident, now)} after it opened.`);
  else parts.push(`It is ${incident.state}, open for ${lasted(incident, now)} at the time of writing.`);
  if (incident.acknowledged)
    parts.push(
      `${inline(incident.acknowledged.by)} acknowledged it ${formatDuration(incident.acknowledged.at - incident.openedAt)} after it opened.`,
    );
  if (related.length > 0)
    parts.push(
      `${plural(related.length, "dependent incident")} ${related.length === 1 ? "was" : "were"} suppressed under it: ${related.map((r) => inline(r.target)).join(", ")}.`,
    );
  return parts.join(" ");
}

function impact(incident: Incident, related: Incident[], now: number): string {
  const delivered = incident.notifications.filter((n) => n.status === "sent");
  const failed = incident.notifications.filter((n) => n.status === "failed");
  const lines = [
    incident.resolvedAt === undefined
      ? `**Duration**: still open ${lasted(incident, now)} after it was detected at ${utc(incident.openedAt)} UTC.`
      : `**Duration**: ${lasted(incident, now)}, from detection (${utc(incident.openedAt)} UTC) to resolution (${utc(incident.resolvedAt)} UTC). The failure began before detection: the first failing probe rounds are not in the journal.`,
    `**Targets**: ${inline(incident.target)}${related.length > 0 ? `, and its dependents ${related.map((r) => `${inline(r.target)} (${code(r.kind)}, ${r.state})`).join(", ")}` : ""}.`,
    `**People told**: ${delivered.length === 0 ? "nobody" : delivered.map((n) => `${code(n.channel)} (${n.event})`).join(", ")}` +
      `${failed.length > 0 ? `; NOT delivered: ${failed.map((n) => `${code(n.channel)} (${n.event})`).join(", ")}` : ""}.`,
    "**Users**: _medic cannot see this. Who noticed, what failed for them, and for how long?_",
  ];
  return lines.map((l) => `- ${l}`).join("\n");
}

function timeline(incident: Incident): string {
  const day = utc(incident.openedAt).slice(0, 10);
  const oneDay = incident.timeline.every((r) => utc(r.at).startsWith(day));
  const rows = incident.timeline.map((r) => [
    oneDay ? utc(r.at).slice(11) : utc(r.at),
    since(incident, r.at),
    phase(r),
    event(r, incident),
  ]);
  return (
    `All times UTC${oneDay ? `, on ${day}` : ""}; offsets from when the incident opened.\n\n` +
    mdTable(["Time (UTC)", "Offset", "Phase", "What happened"], rows)
  );
}

function phase(r: JournalRecord): string {
  switch (r.type) {
    case "opened":
      return "Detection";
    case "observed":
      return "Evidence";
    case "playbook_started":
    case "step_started":
    case "step_finished":
      return "Remediation";
    case "verifying":
      return "Verification";
    case "escalated":
      return r.reason.startsWith("verification") ? "Verification" : "Escalation";
    case "held":
    case "suppressed":
      return "Safety";
    case "acknowledged":
      return "Acknowledged";
    case "approval_requested":
    case "approved":
    case "rejected":
    case "approval_expired":
      return "Approval";
    case "would_run":
      return "Dry run";
    case "notification_queued":
    case "notification_sent":
    case "notification_failed":
    case "notification_superseded":
      return "Notification";
    case "resolved":
    case "source_resolved":
      return "Resolution";
    case "note":
      return "Note";
  }
}

function event(r: JournalRecord, incident: Incident): string {
  const step = (runId: string, index: number) => {
    const s = incident.runs.find((x) => x.runId === runId)?.steps[index];
    return s ? `step ${index + 1} ${stepName(s)}` : `step ${index + 1}`;
  };
  switch (r.type) {
    case "opened":
      return `${code(r.kind)} ${r.severity} opened${r.root ? ` suppressed under incident ${inline(r.root)}` : ""}${r.dryRun ? " (dry run)" : ""}. Evidence: ${inline(r.evidence)}`;
    case "observed":
      return `seen again (${r.occurrences} failing rounds): ${inline(r.evidence)}`;
    case "playbook_started":
      return `playbook ${code(r.playbook)} started: ${plural(r.steps.length, "step")}${r.guards ? `; guards: ${inline(r.guards)}` : ""}`;
    case "step_started":
      return `${step(r.runId, r.index)} started`;
    case "step_finished":
      return `${step(r.runId, r.index)} **${r.outcome}** in ${formatDuration(r.durationMs)}: ${inline(firstLine(r.detail))}`;
    case "verifying":
      return `verifying recovery, within ${formatDuration(r.withinMs)}`;
    case "escalated":
      return `escalated${r.severity ? ` to ${r.severity}` : ""}${r.by === "flap_guard" ? " by the flap guard" : ""}: ${inline(r.reason)}`;
    case "held":
      return `held by ${r.by.replace("_", " ")}${r.until !== undefined ? ` until ${since(incident, r.until)}` : ""}: ${inline(r.reason)}`;
    case "suppressed":
      return `suppressed under incident ${inline(r.root)}: ${inline(r.reason)}`;
    case "acknowledged":
      return `by ${inline(r.by)}${r.note ? `: ${inline(r.note)}` : ""}`;
    case "approval_requested":
      return `${step(r.runId, r.index)} awaits approval (${inline(r.why)}): ${inline(r.plan.join("; "))}`;
    case "approved":
      return `${step(r.runId, r.index)} approved by ${inline(r.by)}${r.note ? `: ${inline(r.note)}` : ""}`;
    case "rejected":
      return `${step(r.runId, r.index)} rejected by ${inline(r.by)}: ${inline(r.reason)}`;
    case "approval_expired":
      return `${step(r.runId, r.index)}: nobody approved it in time; nothing ran`;
    case "would_run":
      return `would run: ${inline(r.plan.join("; "))} (${inline(r.guards)})`;
    case "notification_queued":
      return `${code(r.notification.channel)} ${r.notification.event} queued: ${inline(r.notification.reason)}`;
    case "notification_sent":
      return `delivered to ${code(r.channel)}${eventOf(incident, r.id)}`;
    case "notification_failed":
      return `**NOT delivered** to ${code(r.channel)}${eventOf(incident, r.id)} (${r.reason}): ${inline(r.detail)}`;
    case "notification_superseded":
      return `not sent to ${code(r.channel)}${eventOf(incident, r.id)}: a later notification said it all`;
    case "resolved":
      return inline(r.reason);
    case "source_resolved":
      return inline(r.detail);
    case "note":
      return inline(r.message);
  }
}

function remediation(incident: Incident): string {
  if (incident.runs.length === 0) return `No playbook ran${noRunWhy(incident)}.`;
  return incident.runs
    .map((run, i) => {
      const started = incident.timeline.find((r) => r.type === "playbook_started" && r.runId === run.runId);
      const head =
        `### Run ${i + 1}: playbook ${code(run.playbook)}, started at ${since(incident, run.startedAt)}` +
        `${started?.type === "playbook_started" && started.guards ? `\n\nSafety guards: ${inline(started.guards)}` : ""}`;
      const steps = run.steps.map((s, j) => {
        const took = s.durationMs !== undefined ? ` in ${formatDuration(s.durationMs)}` : "";
        const output = s.detail ? `\n\n${fenced(s.detail)}` : "";
        return `#### Step ${j + 1}: ${stepName(s)}: ${s.status}${took}\n\n${inline(s.description)}${output}`;
      });
      return [head, ...steps, verification(incident, run)].join("\n\n");
    })
    .join("\n\n");
}

function verification(incident: Incident, run: RunRecord): string {
  if (!run.verify) return "Verification: not reached.";
  const after = incident.timeline.find((r) => r.at >= run.verify!.startedAt && (r.type === "resolved" || r.type === "escalated"));
  const verdict = !after
    ? "still under way (or cut off)"
    : after.type === "resolved"
      ? `passed at ${since(incident, after.at)}: ${inline(after.reason.replace(/^verified: /, ""))}`
      : `failed at ${since(incident, after.at)}: ${inline(after.type === "escalated" ? after.reason : "")}`;
  return `Verification (healthy within ${formatDuration(run.verify.withinMs)}, from ${since(incident, run.verify.startedAt)}): ${verdict}`;
}

function notifications(incident: Incident): string {
  if (incident.notifications.length === 0) return "None queued.";
  const rows = incident.notifications.map((n) => [
    code(n.channel),
    n.event,
    since(incident, n.queuedAt),
    delivery(incident, n),
    inline(n.notification.reason),
  ]);
  return mdTable(["Channel", "Event", "Queued", "Delivery", "Why"], rows);
}

function delivery(incident: Incident, n: NotificationRecord): string {
  if (n.status === "failed") return `**NOT delivered**: ${inline(n.detail ?? "")}`;
  if (n.status === "queued") return "not confirmed at the time of writing";
  if (n.status === "superseded") return "not sent: a later notification said it all";
  const sent = incident.timeline.find((r) => r.type === "notification_sent" && r.id === n.id);
  return sent ? `delivered at ${since(incident, sent.at)}` : "delivered";
}

function resolution(incident: Incident, now: number): string {
  const resolved = lastOf(incident, "resolved");
  if (incident.state === "resolved" && resolved)
    return `Resolved at ${utc(resolved.at)} UTC (${since(incident, resolved.at)}), ${resolvedHow(incident)}.`;
  const escalated = lastOf(incident, "escalated");
  return (
    `Not resolved at the time of writing (${utc(now)} UTC): the incident is ${incident.state}` +
    `${escalated ? `, escalated at ${since(incident, escalated.at)}: ${inline(escalated.reason)}` : ""}.`
  );
}

function relatedTable(incident: Incident, related: Incident[]): string {
  const rows = related.map((r) => [
    inline(r.id),
    inline(r.target),
    code(r.kind),
    since(incident, r.openedAt),
    r.state,
    inline(lastOf(r, "resolved")?.reason ?? r.evidence),
  ]);
  return (
    `Incidents on targets that depend on ${inline(incident.target)}, suppressed under this one:\n\n` +
    mdTable(["Incident", "Target", "Kind", "Opened", "State", "Outcome or evidence"], rows)
  );
}

/** Why no playbook ran, as a clause: ": no playbook handles ..." or "". */
function noRunWhy(incident: Incident): string {
  const escalated = lastOf(incident, "escalated");
  if (escalated) return `: ${inline(escalated.reason)}`;
  if (incident.root) return ": it was suppressed under its dependency's incident";
  if (incident.dryRun) return ": it was a dry run";
  const held = lastOf(incident, "held");
  if (held) return `: it was held by ${held.by.replace("_", " ")} (${inline(held.reason)})`;
  return "";
}

function runOutcome(incident: Incident, run: RunRecord): string {
  // A failed capture did not stop the run (capture never blocks the fix): what ended it is elsewhere.
  const failed = run.steps.findIndex((s) => (s.status === "failed" && !s.capture) || s.status === "abandoned");
  if (failed >= 0)
    return `step ${failed + 1} (${inline(run.steps[failed]!.name)}) ${run.steps[failed]!.status === "failed" ? "failed" : "was cut off"}`;
  const resolved = lastOf(incident, "resolved");
  if (resolved && resolved.at >= run.startedAt && resolved.reason.startsWith("verified"))
    return "its steps succeeded and recovery was verified";
  const escalated = lastOf(incident, "escalated");
  if (escalated && escalated.at >= run.startedAt) return `its steps ran, then: ${inline(escalated.reason)}`;
  return "its steps ran";
}

/** How it was resolved, as a clause: "by playbook `x`, recovery verified by probing (healthy for 2 rounds)". */
function resolvedHow(incident: Incident): string {
  const resolved = lastOf(incident, "resolved");
  if (!resolved) return "";
  const run = incident.runs[incident.runs.length - 1];
  if (run && resolved.reason.startsWith("verified: ")) {
    return `by playbook ${code(run.playbook)}, recovery verified by probing (${inline(resolved.reason.slice("verified: ".length))})`;
  }
  return `${incident.runs.length === 0 ? "without a playbook" : "after its playbook"} (${inline(resolved.reason)})`;
}

// A step's name, and its kind when the name is not just the kind.
function stepName(step: { name: string; kind: string }): string {
  return step.name === step.kind ? code(step.kind) : `${inline(step.name)} (${code(step.kind)})`;
}

function openedSeverity(incident: Incident): string {
  const first = incident.timeline[0];
  return first?.type === "opened" ? first.severity : incident.severity;
}

// Ends a run of inline text as a sentence.
function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function openingEvidence(incident: Incident): string {
  const first = incident.timeline[0];
  return first?.type === "opened" ? first.evidence : incident.evidence;
}

function eventOf(incident: Incident, id: string): string {
  const n = incident.notifications.find((x) => x.id === id);
  return n ? ` (${n.event})` : "";
}

function firstLine(text: string): string {
  const line = text.trim().split(/\r?\n/)[0] ?? "";
  const more = line.length > 160 || text.trim().includes("\n");
  return more ? `${line.slice(0, 160)}… (full output under Remediation)` : line;
}
