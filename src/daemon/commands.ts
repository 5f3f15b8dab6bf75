import { isActive, isOpen, type Incident } from "../incidents/types.js";
import { MedicError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";
import type { Checked } from "../targets.js";
import type { Detector } from "./detector.js";
import type { CommandPort, ExternalAlert } from "./ports.js";
import type { RecordStream } from "./records.js";
import type { Watcher } from "./watcher.js";
import type { Watchers } from "./watchers.js";

/** The command port: what people (through the API) and outside alerts may ask of the daemon. */
export class Commands implements CommandPort {
  constructor(
    private readonly deps: {
      log: Logger;
      records: RecordStream;
      live: () => ReadonlyMap<string, Incident>;
      watchers: Watchers;
      detector: Detector;
      check(w: Watcher, signal: AbortSignal): Promise<Checked>;
      stop: AbortSignal;
    },
  ) {}

  /** Timed escalation stops, channels that track alerts hear an acknowledge. */
  acknowledge(id: string, by: string, note?: string): Incident | undefined {
    const incident = this.deps.live().get(id);
    if (!incident || !isOpen(incident)) return undefined;
    this.deps.records.append(id, { type: "acknowledged", by, ...(note && { note }) });
    this.deps.log.info({ incident: id, by }, "incident acknowledged");
    return this.deps.live().get(id);
  }

  /**
   * Something outside medic (an Alertmanager alert, `source` names it) says a target is broken: an
   * incident opens, or the open one from the same source or of the same kind is joined, and it is
   * remediated like one a probe found.
   */
  raiseExternal(alert: ExternalAlert): { incident: string; created: boolean } {
    const { watchers } = this.deps;
    const w = watchers.get(alert.target);
    if (!w) {
      const names = [...watchers.all()].slice(0, 20).map((x) => x.name);
      throw new MedicError("unknown_target", `no target named ${JSON.stringify(alert.target)} is watched`, {
        hint: `one of ${names.join(", ")}`,
      });
    }
    const open = watchers.openIncidents(alert.target);
    const joined = open.find((i) => i.source === alert.source) ?? open.find((i) => i.kind === alert.kind);
    if (joined) return { incident: joined.id, created: false };
    const { target, kind, severity, evidence, source } = alert;
    const id = this.deps.detector.open(w, { target, kind, severity, evidence }, source)!;
    return { incident: id, created: true };
  }

  /**
   * The outside source stopped firing: the incident resolves once a fresh probe of the target is
   * healthy; if the probe still fails, or a playbook is on it, it stays open and says why.
   */
  async resolveExternal(source: string): Promise<{ incident?: string; resolved: boolean; detail: string }> {
    const { watchers, records } = this.deps;
    const incident = watchers.allOpen().find((i) => i.source === source);
    if (!incident) return { resolved: false, detail: "no open incident came from it" };
    if (isActive(incident))
      return { incident: incident.id, resolved: false, detail: "a playbook is working on it; its verification resolves it" };
    const w = watchers.get(incident.target)!;
    const { finding } = await this.deps.check(w, this.deps.stop);
    const now = this.deps.live().get(incident.id);
    if (!now || !isOpen(now)) return { incident: incident.id, resolved: true, detail: "already resolved" };
    if (finding) {
      const detail = `the alert resolved, but a fresh probe still sees ${finding.kind}: ${finding.evidence}; it resolves once the probe is healthy`;
      records.append(incident.id, { type: "source_resolved", detail });
      return { incident: incident.id, resolved: false, detail: `the probe still sees ${finding.kind}` };
    }
    records.append(incident.id, { type: "resolved", reason: "the alert resolved and a fresh probe of the target is healthy" });
    return { incident: incident.id, resolved: true, detail: "verified healthy" };
  }
}
