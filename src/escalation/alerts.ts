import type { Incident } from "../incidents/types.js";

// An incident's alerts on each channel, as its journaled notifications say. PagerDuty keeps one
// alert per dedup_key, and an acknowledged alert does not ring again when it gets another trigger
// with the same key; there is no "un-acknowledge". So when medic acknowledged a page itself (a
// playbook was working) and then gives up, the page that must ring goes to a new key: the
// incident id first, then `<id>:2`, `<id>:3`. Everything here is derived from the journal, so a
// restarted medic picks the same keys and owes the same resolves.

/** One alert of an incident on one channel. */
export interface AlertState {
  key: string;
  /** When its first trigger was queued. */
  triggeredAt: number;
  /** Acknowledged and not triggered anew since (medic's acknowledge while a playbook works, or a person's). */
  acknowledged: boolean;
  resolved: boolean;
}

/** Per channel: the incident's alerts, and which escalations were answered there. */
export class AlertLedger {
  private readonly byChannel = new Map<string, { alerts: Map<string, AlertState>; current?: string; answered: Set<number> }>();

  constructor(private readonly incident: Incident) {
    for (const record of incident.notifications) {
      const n = record.notification;
      const key = n.key ?? incident.id;
      const channel = this.channel(n.channel);
      const alert = channel.alerts.get(key);
      if (n.event === "trigger") {
        if (!alert) channel.alerts.set(key, { key, triggeredAt: record.queuedAt, acknowledged: false, resolved: false });
        // A trigger after a resolve opens a new alert under the same key, which rings again.
        else if (alert.resolved) Object.assign(alert, { resolved: false, acknowledged: false });
        channel.current = key;
        if (n.escalation !== undefined) channel.answered.add(n.escalation);
      } else if (alert && n.event === "acknowledge") alert.acknowledged = true;
      else if (alert && n.event === "resolve") alert.resolved = true;
    }
  }

  /** Whether the channel was ever triggered for this incident. */
  triggered(channel: string): boolean {
    return this.byChannel.get(channel)?.current !== undefined;
  }

  /** The alert the channel's latest trigger went to. */
  current(channel: string): AlertState | undefined {
    const c = this.byChannel.get(channel);
    return c?.current === undefined ? undefined : c.alerts.get(c.current);
  }

  /** Alerts triggered on the channel and not resolved. */
  open(channel: string): AlertState[] {
    return [...(this.byChannel.get(channel)?.alerts.values() ?? [])].filter((a) => !a.resolved);
  }

  /** Channels with an alert not resolved. */
  channelsWithOpen(): string[] {
    return [...this.byChannel.keys()].filter((c) => this.open(c).length > 0);
  }

  /** Whether a trigger on the channel already answers escalation number `n`. */
  answered(channel: string, n: number): boolean {
    return this.byChannel.get(channel)?.answered.has(n) ?? false;
  }

  /** A key the channel has not used for this incident: `<id>` first, then `<id>:2`, `<id>:3`. */
  nextKey(channel: string): string {
    const used = this.byChannel.get(channel)?.alerts.size ?? 0;
    return used === 0 ? this.incident.id : `${this.incident.id}:${used + 1}`;
  }

  private channel(name: string) {
    let c = this.byChannel.get(name);
    if (!c) this.byChannel.set(name, (c = { alerts: new Map(), answered: new Set() }));
    return c;
  }
}
