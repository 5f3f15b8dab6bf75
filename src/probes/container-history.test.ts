import { describe, expect, it } from "vitest";
import { ContainerHistory } from "./container-history.js";
import type { ContainerEvent } from "./docker-events.js";

const event = (action: string, extra: Partial<ContainerEvent> = {}): ContainerEvent => ({
  action,
  id: "c0ffee",
  name: "web",
  labels: {},
  at: 1_700_000_000_000,
  ...extra,
});

function history() {
  let t = 0;
  const h = new ContainerHistory(() => t);
  return { h, advance: (ms: number) => (t += ms) };
}

describe("ContainerHistory: which deaths answer a round without an inspect", () => {
  it("a crash (exit 1) answers the next round once, with its exit code", () => {
    const { h } = history();
    h.add(event("start"));
    h.add(event("die", { exitCode: 1 }));
    expect(h.takeDeath()).toMatchObject({ event: { exitCode: 1, name: "web" }, oom: false });
    expect(h.takeDeath()).toBeUndefined();
  });

  it("exit 137 after the engine sent a signal (docker kill or stop) answers; a bare exit 137 may be an OOM kill and does not", () => {
    const { h } = history();
    h.add(event("kill", { signal: 9 }));
    h.add(event("die", { exitCode: 137 }));
    expect(h.takeDeath()).toMatchObject({ event: { exitCode: 137 }, oom: false });
    h.add(event("start"));
    h.add(event("die", { exitCode: 137 }));
    expect(h.takeDeath()).toBeUndefined();
  });

  it("only a SIGKILL the engine sent within 1 s explains an exit 137: not a SIGHUP, not a SIGKILL long before", () => {
    const { h, advance } = history();
    h.add(event("kill", { signal: 1 }));
    h.add(event("die", { exitCode: 137 }));
    expect(h.takeDeath()).toBeUndefined();
    h.add(event("start"));
    h.add(event("kill", { signal: 9 }));
    advance(1001);
    h.add(event("die", { exitCode: 137 }));
    expect(h.takeDeath()).toBeUndefined();
  });

  it("an oom event before the die marks the death OOM-killed; a start forgets what came before", () => {
    const { h } = history();
    h.add(event("oom"));
    h.add(event("die", { exitCode: 137 }));
    expect(h.takeDeath()).toMatchObject({ oom: true });
    h.add(event("oom"));
    h.add(event("kill", { signal: 9 }));
    h.add(event("restart"));
    h.add(event("die", { exitCode: 137 }));
    expect(h.takeDeath()).toBeUndefined();
  });

  it("a death more than 1 s old, or one without an exit code, leaves the round to inspect", () => {
    const { h, advance } = history();
    h.add(event("die", { exitCode: 2 }));
    advance(1001);
    expect(h.takeDeath()).toBeUndefined();
    h.add(event("die"));
    expect(h.takeDeath()).toBeUndefined();
  });

  it("a start after the die (the engine's restart policy, a replayed stream) drops the death", () => {
    const { h } = history();
    h.add(event("die", { exitCode: 1 }));
    h.add(event("start"));
    expect(h.takeDeath()).toBeUndefined();
  });
});
