import { readdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { readCmdline } from "../src/lib/proc.js";
import { cleanup, medic } from "./harness.js";

afterEach(cleanup);

async function demoProcesses(): Promise<number[]> {
  const found: number[] = [];
  for (const pid of readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number)) {
    const argv = await readCmdline(pid);
    if (argv?.some((a) => a.includes("medic-demo-"))) found.push(pid);
  }
  return found;
}

describe("medic demo", () => {
  it("runs the whole loop, recovers the first break, escalates the second, leaves no process behind", async () => {
    const r = await medic(["demo"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/opened: server_down P1/);
    expect(r.stdout).toMatch(/resolved: verified/);
    expect(r.stdout).toMatch(/opened: db_disconnect P1/);
    expect(r.stdout).toMatch(/escalated: verification: not recovered/);
    expect(r.stdout).toMatch(/notify console: trigger \(escalated: verification/);
    expect(r.stdout).toMatch(/delivered to console: resolve/);
    expect(r.stdout).toMatch(/detected in [\d.]+m?s, healthy again \(verified\) [\d.]+m?s after the kill/);
    expect(await demoProcesses()).toEqual([]);
  }, 90_000);
});
