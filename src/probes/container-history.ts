import type { ContainerEvent } from "./docker-events.js";

// A die event answers the round that follows it only this soon; later, inspect says what is true now.
const DEATH_FRESH_MS = 1000;
// What SIGKILL leaves as the exit code: the kernel's OOM killer, or docker kill.
const SIGKILL = 9;
const SIGKILL_EXIT = 128 + SIGKILL;

/** A death the engine reported, and what came before it since the container last started. */
export interface Death {
  event: ContainerEvent & { exitCode: number };
  receivedAt: number;
  oom: boolean;
}

/**
 * The container's events since it last started, so the round a `die` calls can answer from the event
 * and skip an inspect that waits ~100 ms for the engine to finish cleaning up. The event decides only
 * when it is unambiguous: an `oom` came first, or the engine itself sent SIGKILL just before (docker
 * kill, or docker stop past its timeout), or the exit code is not SIGKILL's. A bare exit 137 may be
 * an OOM kill whose `oom` event is still on its way, so that round inspects, and OOMKilled tells.
 */
export class ContainerHistory {
  private oom = false;
  /** When the engine last sent SIGKILL (a kill event), on this clock. */
  private sigkillAt: number | undefined;
  private death: Death | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  add(event: ContainerEvent): void {
    switch (event.action) {
      case "start":
      case "restart":
        [this.oom, this.sigkillAt, this.death] = [false, undefined, undefined];
        return;
      case "oom":
        this.oom = true;
        return;
      case "kill":
        if (event.signal === SIGKILL) this.sigkillAt = this.now();
        return;
      case "die": {
        if (event.exitCode === undefined) return;
        const killedByEngine = this.sigkillAt !== undefined && this.now() - this.sigkillAt <= DEATH_FRESH_MS;
        if (this.oom || killedByEngine || event.exitCode !== SIGKILL_EXIT) {
          this.death = { event: { ...event, exitCode: event.exitCode }, receivedAt: this.now(), oom: this.oom };
        }
        [this.oom, this.sigkillAt] = [false, undefined];
        return;
      }
    }
  }

  /** The fresh, unambiguous death not yet reported, once. */
  takeDeath(): Death | undefined {
    const death = this.death;
    this.death = undefined;
    return death && this.now() - death.receivedAt <= DEATH_FRESH_MS ? death : undefined;
  }
}
