import { formatDuration } from "../lib/duration.js";
import { code, inline } from "./markdown.js";
import type { Incident, JournalRecord } from "./types.js";

/**
 * The questions a postmortem should answer about an incident, raised by what its journal shows
 * (a failed step, a tripped guard, an undelivered page, a recovery nobody explained), as Markdown
 * lines. The cause and the prevention are always asked: medic sees symptoms, not causes.
 */
export function openQuestions(incident: Incident, related: Incident[], now: number): string[] {
  const target = inline(incident.target);
  const q: string[] = [];
  const escalations = incident.timeline.filter((r): r is Extract<JournalRecord, { type: "escalated" }> => r.type === "escalated");

  const flap = escalations.find((r) => r.by === "flap_guard");
  if (flap) q.push(`Why did the flap guard trip (${inline(flap.reason)})? The fix did not hold: what keeps breaking ${target}?`);
  for (const run of incident.runs) {
    for (const [i, s] of run.steps.entries()) {
      const which = `step ${i + 1} (${inline(s.name)}, ${code(s.kind)}) of playbook ${code(run.playbook)}`;
      if (s.status === "failed")
        q.push(`The playbook failed at ${which}: is the playbook right for this failure, or did something around it change?`);
      if (s.status === "abandoned")
        q.push(`${cap(which)} was cut off mid-way (medic stopped or crashed): did it act? Check ${target} by hand.`);
      if (s.status === "skipped") q.push(`${cap(which)} changed nothing (${inline(s.detail ?? "skipped")}): was that the right call?`);
    }
  }
  const verify = escalations.find((r) => r.reason.startsWith("verification"));
  if (verify)
    q.push(
      `The steps ran but ${target} did not recover (${inline(verify.reason)}): was ${code(incident.kind)} the right diagnosis, and a restart the right remedy?`,
    );
  const unhandled = escalations.find((r) => r.reason.startsWith("no playbook"));
  if (unhandled)
    q.push(`No playbook handles ${code(incident.kind)} on ${target}: should one, or is a person the right first responder here?`);

  const resolved = lastOf(incident, "resolved");
  if (resolved && incident.runs.length === 0 && !incident.root && !incident.source && resolved.reason.startsWith("healthy")) {
    q.push(
      `${target} recovered by itself ${formatDuration(resolved.at - incident.openedAt)} after the incident opened, without a playbook: ` +
        "was the alert noisy (probe interval, timeout, failure threshold), or did someone fix it by hand?",
    );
  }
  const opened = incident.timeline[0];
  if (opened?.type === "opened" && opened.severity !== incident.severity) {
    q.push(
      `The severity was raised from ${opened.severity} to ${incident.severity} when remediation failed: was ${opened.severity} right to start with?`,
    );
  }

  for (const n of incident.notifications.filter((x) => x.status === "failed")) {
    q.push(
      `The ${n.event} notification to ${code(n.channel)} was not delivered (${inline(n.detail ?? "")}): is the channel configured right, and who should have heard and did not?`,
    );
  }
  const pending = incident.notifications.filter((x) => x.status === "queued");
  if (pending.length > 0)
    q.push(
      `${cap(plural(pending.length, "notification"))} (${[...new Set(pending.map((n) => code(n.channel)))].join(", ")}) had no confirmed delivery at the time of writing: did they arrive?`,
    );
  if (incident.state === "escalated" && !incident.acknowledged && (incident.severity === "P1" || incident.severity === "P2")) {
    q.push("Nobody acknowledged it through medic: did the page reach the on-call, and who took it?");
  }

  const holds = new Map(incident.timeline.flatMap((r) => (r.type === "held" ? [[r.by, r.reason] as const] : [])));
  const maintenance = holds.get("maintenance");
  if (maintenance)
    q.push(`It broke during maintenance (${inline(maintenance)}): did the maintenance cause it, and should the window have covered it?`);
  const blast = holds.get("blast_radius");
  if (blast) q.push(`Playbooks were held back because many targets broke at once (${inline(blast)}): what did they have in common?`);
  if (incident.root)
    q.push(
      `It was suppressed under incident ${inline(incident.root)} on a dependency: does that incident explain all of it, and is the \`dependsOn\` of ${target} right?`,
    );
  if (related.length > 0) {
    q.push(
      `${cap(plural(related.length, "target"))} that depend on ${target} broke with it (${related.map((r) => inline(r.target)).join(", ")}): ` +
        "did they recover by themselves, and could they degrade more gracefully while it is down?",
    );
  }
  if (incident.source)
    q.push(`It was raised from outside (${inline(incident.source)}): did medic's own probes see it too, or is something unwatched?`);
  if (incident.dryRun) q.push("This was a dry run: would the playbook medic planned have been the right one?");
  if (incident.state !== "resolved")
    q.push(`It is still ${incident.state} ${formatDuration(now - incident.openedAt)} after it opened: who owns it now?`);

  q.push(`What was the root cause? medic saw the symptom (${code(incident.kind)}: ${inline(incident.evidence)}), not why it happened.`);
  q.push("What would have prevented it, or caught it earlier?");
  return q;
}

/** The latest record of a type in an incident's timeline. */
export function lastOf<T extends JournalRecord["type"]>(incident: Incident, type: T): Extract<JournalRecord, { type: T }> | undefined {
  for (let i = incident.timeline.length - 1; i >= 0; i--) {
    const r = incident.timeline[i]!;
    if (r.type === type) return r as Extract<JournalRecord, { type: T }>;
  }
  return undefined;
}

/** "1 step", "3 steps". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function cap(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
