import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { readProcNow } from "./proc.js";
import { openProcStat, parseLife } from "./proc-stat-handle.js";

describe("openProcStat", () => {
  it("reads what readProcNow reads while the process lives, and nothing once it is reaped", async () => {
    const child = spawn("sleep", ["60"], { stdio: "ignore" });
    await once(child, "spawn");
    const handle = openProcStat(child.pid!);
    try {
      const now = readProcNow(child.pid!)!;
      // The same process (its start time); its state may move between the two reads (running, then asleep in sleep(1)).
      const read = handle.read();
      expect(read?.startTicks).toBe(now.startTicks);
      expect(read?.state).toMatch(/^[RSD]$/);
      child.kill("SIGKILL");
      await once(child, "exit");
      // Reaped: the descriptor belongs to the dead process, whatever has its pid now.
      expect(handle.read()).toBeUndefined();
    } finally {
      handle.close();
    }
    expect(handle.read()).toBeUndefined();
  });
});

describe("parseLife", () => {
  it("takes the state and start time after the last ')' of the command name", () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = "Z";
    fields[22 - 3] = "123456";
    const line = Buffer.from(`42 (a) b) c) ${fields.join(" ")}\n`);
    expect(parseLife(line, line.length)).toEqual({ state: "Z", startTicks: 123456 });
    expect(parseLife(Buffer.from("42 (x"), 5)).toBeUndefined();
  });
});
