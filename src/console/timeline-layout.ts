import { formatDuration, ms } from "./format.js";
import type { IncidentDetail, TimelineRecord } from "./types.js";

// The incident page's picture, laid out without the DOM: lanes of marks on a time axis from the
// incident's opening to its resolution (or now), each mark a bar (something that lasted) or a point.

/** How a mark reads: done well, gone wrong, a warning, information, nothing happened, still going. */
export type Tone = "ok" | "bad" | "warn" | "info" | "muted" | "running";

/** A bar or a point; `from` and `to` are fractions of the axis (0 = opened, 1 = its end). */
export interface Mark {
  from: number;
  to?: number;
  label: string;
  tone: Tone;
  /** The whole story, for the tooltip. */
  title: string;
  /** Its line within the lane, so labels do not overlap. */
  row: number;
  /** The label goes left of the mark: to its right it would run off the picture. */
  flip: boolean;
}

/** A row of the picture: opened..resolved, guards, approval, steps, verification, notifications. */
export interface Lane {
  name: string;
  marks: Mark[];
  rows: number;
}

/** The laid-out picture. */
export interface TimelineLayout {
  startMs: number;
  endMs: number;
  lanes: Lane[];
  ticks: { at: number; label: string }[];
  /** Where now is, when the incident is still open. */
  now?: number;
}

/** Roughly how much of the axis one character of a label takes (the view draws about 800 px of axis at 6.5 px a character). */
export const CHAR_FRACTION = 6.5 / 800;

const NICE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * 1000);

type Draft = Omit<Mark, "row" | "from" | "to" | "flip"> & { fromMs: number; toMs?: number };

/** The picture of an incident at `now`. */
export function layoutTimeline(d: IncidentDetail, now: number): TimelineLayout {
  const records = d.timeline;
  const startMs = ms(d.openedAt);
  const lastAt = Math.max(startMs, ...records.map((r) => ms(r.at)).filter(Number.isFinite));
  const resolved = d.state === "resolved";
  const endMs = Math.max(resolved ? ms(d.resolvedAt) || lastAt : Math.max(now, lastAt), startMs + 1_000);
  const after = (i: number, types: string[]) => records.slice(i + 1).find((r) => types.includes(r.type));
  const endOf = (i: number, types: string[]) => {
    const next = after(i, types);
    return next ? ms(next.at) : resolved ? endMs : now;
  };

  const incident: Draft[] = [
    {
      fromMs: startMs,
      toMs: endMs,
      label: `${d.kind} ${d.severity}${resolved ? "" : `, ${d.state.replace(/_/g, " ")}`}`,
      tone: resolved ? "ok" : d.state === "escalated" ? "bad" : "warn",
      title: `opened ${d.openedAt}: ${d.evidence}`,
    },
  ];
  const guards: Draft[] = [];
  const approval: Draft[] = [];
  const steps: Draft[] = [];
  const verify: Draft[] = [];
  const notify: Draft[] = [];
  const point = (lane: Draft[], r: TimelineRecord, label: string, tone: Tone) =>
    lane.push({ fromMs: ms(r.at), label, tone, title: r.text });

  records.forEach((r, i) => {
    const at = ms(r.at);
    switch (r.type) {
      case "acknowledged":
        point(incident, r, `ack by ${String(r.by)}`, "info");
        break;
      case "escalated":
        if (r.by === "flap_guard") point(guards, r, "flap guard", "bad");
        point(incident, r, "escalated", "bad");
        break;
      case "resolved":
        point(incident, r, "resolved", "ok");
        break;
      case "held":
        guards.push({
          fromMs: at,
          toMs: endOf(i, ["playbook_started", "held", "suppressed", "resolved", "escalated"]),
          label: `held: ${String(r.by).replace(/_/g, " ")}`,
          tone: "warn",
          title: r.text,
        });
        break;
      case "suppressed":
        guards.push({ fromMs: at, toMs: endOf(i, ["playbook_started", "resolved"]), label: "suppressed", tone: "muted", title: r.text });
        break;
      case "would_run":
        point(guards, r, "dry run: would run", "info");
        break;
      case "playbook_started":
        if (typeof r.guards === "string" && r.guards) point(guards, r, `allowed: ${r.guards}`, "muted");
        break;
      case "approval_requested":
        approval.push({
          fromMs: at,
          toMs: endOf(i, ["approved", "rejected", "approval_expired", "resolved"]),
          label: "awaiting approval",
          tone: "warn",
          title: r.text,
        });
        break;
      case "approved":
        point(approval, r, `approved${r.by ? ` by ${String(r.by)}` : ""}`, "ok");
        break;
      case "rejected":
        point(approval, r, `rejected${r.by ? ` by ${String(r.by)}` : ""}`, "bad");
        break;
      case "approval_expired":
        point(approval, r, "approval expired", "bad");
        break;
      case "step_started": {
        const finished = records.slice(i + 1).find((x) => x.type === "step_finished" && x.runId === r.runId && x.index === r.index);
        const step = d.runs.find((run) => run.runId === r.runId)?.steps[Number(r.index)];
        const name = step?.name ?? `step ${Number(r.index) + 1}`;
        const outcome = finished ? String(finished.outcome) : "running";
        const took = finished ? Number(finished.durationMs) : now - at;
        steps.push({
          fromMs: at,
          toMs: finished ? ms(finished.at) : resolved ? endMs : now,
          label: `${name} ${outcome === "ok" ? "" : `${outcome} `}(${formatDuration(took)})`,
          tone: outcome === "ok" ? "ok" : outcome === "running" ? "running" : outcome === "skipped" ? "muted" : "bad",
          title: finished ? finished.text : r.text,
        });
        break;
      }
      case "verifying": {
        const end = after(i, ["resolved", "escalated", "playbook_started"]);
        verify.push({
          fromMs: at,
          toMs: end ? ms(end.at) : resolved ? endMs : now,
          label: `verify${end?.type === "resolved" ? ": healthy" : end ? ": failed" : ""}`,
          tone: end?.type === "resolved" ? "ok" : end ? "bad" : "running",
          title: `${r.text}${end ? `; then ${end.text}` : ""}`,
        });
        break;
      }
      case "notification_queued": {
        const n = d.notifications.find((x) => x.channel === r.channel && x.event === r.event && Math.abs(ms(x.queuedAt) - at) < 1);
        const done =
          n && records.slice(i + 1).find((x) => (x.type === "notification_sent" || x.type === "notification_failed") && x.id === n.id);
        const status = n?.status ?? "queued";
        notify.push({
          fromMs: at,
          toMs: done ? ms(done.at) : status === "queued" ? (resolved ? endMs : now) : at,
          label: `${String(r.channel)} ${String(r.event)}${status === "sent" ? "" : `: ${status === "failed" ? "NOT delivered" : status}`}`,
          tone: status === "sent" ? "ok" : status === "failed" ? "bad" : status === "superseded" ? "muted" : "running",
          title: `${r.text}${n ? ` (${n.status}${n.detail ? `: ${n.detail}` : ""})` : ""}`,
        });
        break;
      }
    }
  });

  const span = endMs - startMs;
  const frac = (t: number) => Math.min(1, Math.max(0, (t - startMs) / span));
  // Each mark takes the first line of its lane where neither it nor its label overlaps another.
  const lane = (name: string, drafts: Draft[]): Lane => {
    const taken: [number, number][][] = [];
    const marks = drafts.map(({ fromMs, toMs, ...rest }) => {
      const from = frac(fromMs);
      const to = toMs === undefined ? undefined : frac(toMs);
      const text = rest.label.length * CHAR_FRACTION + 0.015;
      const flip = from + text > 1 && from - text >= 0;
      const span: [number, number] = flip ? [from - text, to ?? from] : [from, Math.max(to ?? from, from + text)];
      let row = taken.findIndex((line) => line.every(([a, b]) => span[1] <= a || span[0] >= b));
      if (row < 0) row = taken.push([]) - 1;
      taken[row]!.push(span);
      return { ...rest, from, ...(to !== undefined && { to }), row, flip };
    });
    return { name, marks, rows: Math.max(1, taken.length) };
  };
  const lanes = [
    lane("incident", incident),
    lane("guards", guards),
    lane("approval", approval),
    lane("steps", steps),
    lane("verification", verify),
    lane("notifications", notify),
  ].filter((l, i) => i === 0 || l.marks.length > 0);

  const step = NICE_STEPS.find((s) => span / s <= 6) ?? NICE_STEPS[NICE_STEPS.length - 1]!;
  const ticks = [];
  for (let t = 0; t <= span; t += step) ticks.push({ at: t / span, label: `+${tickLabel(t)}` });
  return { startMs, endMs, lanes, ticks, ...(!resolved && { now: frac(now) }) };
}

// 0s, 15s, 1m, 1m 30s, 2h: the axis' steps are whole seconds.
function tickLabel(t: number): string {
  const s = Math.round(t / 1000);
  const parts = [
    [Math.floor(s / 86400), "d"],
    [Math.floor((s % 86400) / 3600), "h"],
    [Math.floor((s % 3600) / 60), "m"],
    [s % 60, "s"],
  ].filter(([n]) => n !== 0);
  return parts.length === 0 ? "0s" : parts.map(([n, u]) => `${n}${u}`).join(" ");
}
