import type { ContainerEvent } from "./docker-events.js";

// A die event answers the round that follows it only this soon; later, inspect says what is true now.
const DEATH_FRESH_MS = 1000;
// What SIGKILL leaves as the exit code: the kernel's OOM killer, or docker kill.
const SIGKILL_EXIT = 137;

/** A death the engine reported, and what came before it since the container last started. */
export interface Death {
  event: ContainerEvent & { exitCode: number };
  receivedAt: number;
  oom: boolean;
}

/**
 * The container's events since it last started, so the round a `die` calls can answer from the event
 * and skip an inspect that waits ~100 ms for the engine to finish cleaning up. The event decides only
 * when it is unambiguous: an `oom` came first, or the engine itself sent a signal (docker kill or
 * stop), or the exit code is not SIGKILL's. A bare exit 137 may be an OOM kill whose `oom` event is
 * still on its way, so that round inspects, and OOMKilled tells.
 */
export class ContainerHistory {
  private oom = false;
  private signalled = false;
  private death: Death | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  add(event: ContainerEvent): void {
    switch (event.action) {
      case "start":
      case "restart":
        [this.oom, this.signalled, this.death] = [false, false, undefined];
        return;
      case "oom":
        this.oom = true;
        return;
      case "kill":
        this.signalled = true;
        return;
      case "die":
        if (event.exitCode === undefined) return;
        if (this.oom || this.signalled || event.exitCode !== SIGKILL_EXIT) {
          this.death = { event: { ...event, exitCode: event.exitCode }, receivedAt: this.now(), oom: this.oom };
        }
        [this.oom, this.signalled] = [false, false];
        return;
    }
  }

  /** The fresh, unambiguous death not yet reported, once. */
  takeDeath(): Death | undefined {
    const death = this.death;
    this.death = undefined;
    return death && this.now() - death.receivedAt <= DEATH_FRESH_MS ? death : undefined;
  }
}
