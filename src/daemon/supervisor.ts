import type { Incident } from "../incidents/types.js";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/log.js";
import type { SafetyRuntime } from "../safety/runtime.js";
import type { Pause } from "../safety/types.js";
import type { Detector } from "./detector.js";
import type { RecordStream } from "./records.js";
import type { Remediator } from "./remediator.js";
import { reviewIncidents } from "./review.js";
import type { Watchers } from "./watchers.js";

/** What the supervisor needs from the daemon. */
export interface SupervisorDeps {
  clock: Clock;
  log: Logger;
  safety: SafetyRuntime;
  watchers: Watchers;
  live: () => ReadonlyMap<string, Incident>;
  records: RecordStream;
  detector: Detector;
  remediator: Remediator;
  dryRun: boolean;
  /** Says something about medic itself on the channels that take announcements. */
  announce(text: string): void;
  /** Work due every tick besides the review (the state dir's health). */
  tick?(now: number): void;
}

/**
 * Every tick: re-reads the operator's controls (announcing pauses that ended and flap-guard
 * resets), asks the pure review what to do, and does it.
 */
export class Supervisor {
  constructor(private readonly deps: SupervisorDeps) {}

  tick(): void {
    const { clock, safety, watchers, log } = this.deps;
    const now = clock.now();
    this.deps.tick?.(now);
    const changes = safety.refresh(now);
    for (const pause of changes.ended) this.announcePauseEnd(pause, now);
    const reset = new Set(changes.reset);
    for (const target of reset) log.warn({ target }, "flap guard reset by an operator");
    const actions = reviewIncidents({
      targets: [...watchers.all()].map((w) => ({
        name: w.name,
        failing: w.verdict.state !== "healthy",
        open: watchers.openIncidents(w.name),
      })),
      reset,
      incident: (id) => this.deps.live().get(id),
      blast: this.deps.remediator.blastIncident(),
      dryRun: this.deps.dryRun,
      now,
    });
    for (const action of actions) {
      if (action.type === "act") this.deps.remediator.act(action.incident);
      else if (action.type === "release") this.deps.detector.release(action.root);
      else {
        this.deps.records.append(action.incident, { type: "resolved", reason: "nothing is held back by the blast radius any more" });
        log.info({ incident: action.incident }, "blast radius: no longer holding back");
      }
    }
  }

  private announcePauseEnd(pause: Pause, now: number): void {
    const { watchers } = this.deps;
    const scope = pause.target === "*" ? "all targets" : pause.target;
    const how = now >= pause.until ? "expired" : "was lifted";
    const open = pause.target === "*" ? watchers.allOpen() : watchers.openIncidents(pause.target);
    const text =
      `medic: the pause on ${scope} ${how} (${pause.id}, by ${pause.by}: ${pause.reason}). ` +
      (open.length === 0
        ? "Nothing is broken there now."
        : `${open.length === 1 ? "1 open incident is" : `${open.length} open incidents are`} handled normally from now on.`);
    this.deps.log.warn({ pause: pause.id, target: pause.target, open: open.length }, "pause ended");
    this.deps.announce(text);
  }
}
