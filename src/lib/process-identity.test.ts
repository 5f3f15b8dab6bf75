import { describe, expect, it } from "vitest";
import { judgePid, judgeUnrecorded, type Found, type ProcessIdentity } from "./process-identity.js";

const BOOT = "5f1c0a5e-boot-this";
const now = { bootId: BOOT, startedAt: (ticks: number) => Date.UTC(2025, 0, 1) + ticks * 10 };
const record: ProcessIdentity = {
  pid: 4242,
  bootId: BOOT,
  startTicks: 1000,
  startedAt: "2025-01-01T00:00:10.000Z",
  program: "/usr/bin/node",
  ownGroup: true,
};
const found = (over: Partial<Found["info"]> = {}, argv = ["/usr/bin/node", "server.js", "--token", "s3cret"]): Found => ({
  info: { pid: 4242, state: "S", rssBytes: 1, ppid: 1, pgid: 4242, startTicks: 1000, ...over },
  argv,
});

describe("judgePid", () => {
  it("recognises the process medic recorded, and its own group only while it still leads it", () => {
    expect(judgePid(4242, "/run/api.pid", record, found(), now)).toEqual({ kind: "recorded", startTicks: 1000, ownGroup: true });
    expect(judgePid(4242, "/run/api.pid", record, found({ pgid: 77 }), now)).toEqual({
      kind: "recorded",
      startTicks: 1000,
      ownGroup: false,
    });
    expect(judgePid(4242, "/run/api.pid", { ...record, ownGroup: false }, found(), now)).toMatchObject({ ownGroup: false });
  });

  it("is the same process when it rewrote its command line or exec'd another program (the start time is the identity)", () => {
    expect(judgePid(4242, "/run/api.pid", record, found({}, ["nginx: master process"]), now)).toMatchObject({ kind: "recorded" });
  });

  it("a reused pid: another start time, or a record from before the last boot, is not medic's process", () => {
    const reused = judgePid(
      4242,
      "/run/api.pid",
      record,
      found({ startTicks: 90_000 }, ["/usr/bin/sleep", "60", "--password=hunter2"]),
      now,
    );
    expect(reused).toEqual({
      kind: "reused",
      reason:
        'pid 4242 in /run/api.pid is not the process medic started: medic started "/usr/bin/node" as pid 4242 at 2025-01-01T00:00:10.000Z; ' +
        'pid 4242 is now "/usr/bin/sleep", started at 2025-01-01T00:15:00.000Z',
    });
    // Only the program is named: another process's arguments (and medic's) stay out of timelines.
    expect(JSON.stringify(reused)).not.toMatch(/hunter2|s3cret/);
    const rebooted = judgePid(4242, "/run/api.pid", { ...record, bootId: "an-earlier-boot" }, found(), now);
    expect(rebooted).toMatchObject({
      kind: "reused",
      reason: expect.stringContaining("at 2025-01-01T00:00:10.000Z, before the machine last booted;"),
    });
    // A kernel that gives no boot id proves nothing.
    expect(judgePid(4242, "/run/api.pid", { ...record, bootId: "" }, found(), { ...now, bootId: "" })).toMatchObject({ kind: "reused" });
  });

  it("a pid file naming another pid than medic's record was written by someone else", () => {
    expect(judgePid(7, "/run/api.pid", record, found({ pid: 7, pgid: 7 }), now)).toEqual({
      kind: "reused",
      reason:
        'pid 7 in /run/api.pid is not the process medic started: medic\'s record (/run/api.pid.identity) is for pid 4242, "/usr/bin/node" started at 2025-01-01T00:00:10.000Z',
    });
  });

  it("no record: unrecorded, with what runs there; no process or a zombie: gone", () => {
    expect(judgePid(4242, "/run/api.pid", undefined, found(), now)).toEqual({
      kind: "unrecorded",
      startTicks: 1000,
      argv: ["/usr/bin/node", "server.js", "--token", "s3cret"],
    });
    expect(judgePid(4242, "/run/api.pid", record, undefined, now)).toEqual({ kind: "gone" });
    expect(judgePid(4242, "/run/api.pid", record, found({ state: "Z" }), now)).toEqual({ kind: "gone" });
  });
});

describe("judgeUnrecorded", () => {
  it("adopts only a process whose command line is exactly start", () => {
    expect(judgeUnrecorded(9, "/run/api.pid", ["node", "server.js", ""], ["node", "server.js", ""])).toBeUndefined();
    expect(judgeUnrecorded(9, "/run/api.pid", ["node", "server.js"], ["node", "server.js", ""])).toBe(
      'pid 9 in /run/api.pid was not started by medic (no record in /run/api.pid.identity) and runs "node" with other arguments than start',
    );
    expect(judgeUnrecorded(9, "/run/api.pid", ["sleep", "60"], ["node", "server.js"])).toBe(
      'pid 9 in /run/api.pid was not started by medic (no record in /run/api.pid.identity) and runs "sleep", not "node"',
    );
  });
});
