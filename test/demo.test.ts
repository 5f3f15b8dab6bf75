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

  it("cluster: three medics on a throwaway PostgreSQL; the leader killed mid-fix, a follower finishes it, one page", async () => {
    const r = await medic(["demo", "cluster"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const leader = /(node-\d) leads \(epoch 1\)/.exec(r.stdout)?.[1];
    expect(leader).toBeDefined();
    expect(r.stdout).toContain(`kill -9 ${leader}, the leader, in the middle of the playbook`);
    const next = /(node-\d) took over at epoch 2 /.exec(r.stdout)?.[1];
    expect(next).toBeDefined();
    expect(next).not.toBe(leader);
    // The follower finished what the leader started: the start of the service is recorded once, by it.
    expect(r.stdout.match(/step 2: ok/g)).toHaveLength(1);
    expect(r.stdout).toMatch(new RegExp(`\\[${next} e2\\]  step 2: ok`));
    expect(r.stdout).toMatch(/resolved: verified/);
    expect(r.stdout).toMatch(/the on-call got one page and its resolve \(2 messages\)/);
    expect(await demoProcesses()).toEqual([]);
  }, 90_000);
});
