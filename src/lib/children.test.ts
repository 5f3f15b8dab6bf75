import { afterEach, describe, expect, it } from "vitest";
import { onChildExit } from "./children.js";
import { spawnDetached } from "./exec.js";

const pids: number[] = [];
afterEach(() => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

describe("children", () => {
  it("tells of a child's exit only under its pid and start time, and forgets it once it exited", async () => {
    const child = await spawnDetached("sleep", ["60"], {});
    pids.push(child.pid);
    const ticks = child.startTicks!;
    // The same pid with another start time is another process (the pid reused): not this child.
    expect(onChildExit(child.pid, ticks + 1, () => {})).toBeUndefined();
    const heard: string[] = [];
    const unsubscribe = onChildExit(child.pid, ticks, () => heard.push("first"));
    onChildExit(child.pid, ticks, () => heard.push("second"));
    expect(unsubscribe).toBeTypeOf("function");
    unsubscribe!();
    process.kill(child.pid, "SIGKILL");
    await child.exit;
    expect(heard).toEqual(["second"]);
    // Reaped: whatever has this pid now is not medic's child.
    expect(onChildExit(child.pid, ticks, () => {})).toBeUndefined();
  });
});
