import type { Severity } from "../classify/types.js";
import { MEDIC_TARGET, type Incident, type JournalRecord } from "../incidents/types.js";

/** One metric update a journal record causes. */
export type MetricEffect =
  | { metric: "opened"; kind: string; severity: Severity }
  | { metric: "run"; playbook: string; outcome: "recovered" | "failed" }
  | { metric: "step"; kind: string; outcome: string; seconds: number }
  | { metric: "recovery"; kind: string; remediated: boolean; seconds: number }
  | { metric: "sent"; channel: string }
  | { metric: "failed"; channel: string; reason: string }
  | { metric: "trip"; guard: "flap_guard" | "blast_radius"; target: string }
  | { metric: "held"; by: string };

/**
 * What a journal record means for the metrics, given the incident as folded after it. Pure, so
 * every mapping is tested without a daemon. A playbook run counts once, when the record that ends
 * it (resolved: verified; escalated: failed) is written.
 */
export function recordEffects(record: JournalRecord, incident: Incident | undefined): MetricEffect[] {
  switch (record.type) {
    case "opened":
      return [
        { metric: "opened", kind: record.kind, severity: record.severity },
        ...(record.kind === "blast_radius" && record.target === MEDIC_TARGET
          ? [{ metric: "trip", guard: "blast_radius", target: MEDIC_TARGET } as const]
          : []),
      ];
    case "step_finished": {
      const step = incident?.runs.find((r) => r.runId === record.runId)?.steps[record.index];
      return [{ metric: "step", kind: step?.kind ?? "unknown", outcome: record.outcome, seconds: Math.max(0, record.durationMs) / 1000 }];
    }
    case "escalated": {
      const ended = endedRun(record, incident);
      return [
        ...(ended ? [{ metric: "run", playbook: ended, outcome: "failed" } as const] : []),
        ...(record.by === "flap_guard" && incident ? [{ metric: "trip", guard: "flap_guard", target: incident.target } as const] : []),
      ];
    }
    case "resolved": {
      if (!incident || incident.target === MEDIC_TARGET) return [];
      // A target that went away was not recovered, nor was a run it cut short: only real recoveries count.
      if (record.reason.startsWith("no longer watched")) return [];
      const ended = endedRun(record, incident);
      const effects: MetricEffect[] = ended ? [{ metric: "run", playbook: ended, outcome: "recovered" }] : [];
      effects.push({
        metric: "recovery",
        kind: incident.kind,
        remediated: ended !== undefined,
        seconds: Math.max(0, record.at - incident.openedAt) / 1000,
      });
      return effects;
    }
    case "held":
      return [{ metric: "held", by: record.by }];
    case "notification_sent":
      return [{ metric: "sent", channel: record.channel }];
    case "notification_failed":
      return [{ metric: "failed", channel: record.channel, reason: record.reason }];
    default:
      return [];
  }
}

// The playbook of the run this record ended (the fold stamps endedAt with the record's time), if any.
function endedRun(record: JournalRecord, incident: Incident | undefined): string | undefined {
  const run = incident?.runs[incident.runs.length - 1];
  return run && run.endedAt === record.at ? run.playbook : undefined;
}
