import { describe, expect, it } from "vitest";
import { judgeHolder, parseOwner, type LockOwner } from "./lock-owner.js";
import type { ProcInfo } from "./proc.js";

const self: LockOwner = {
  host: "ops-1",
  bootId: "boot-a",
  pidNs: "pid:[4026531836]",
  pid: 7,
  startTicks: 500,
  startedAt: "2025-01-01T00:00:00.000Z",
  token: "t1",
};
const holder: LockOwner = { ...self, pid: 4242, startTicks: 1000, token: "t2" };
const proc = (over: Partial<ProcInfo> = {}): ProcInfo => ({
  pid: 4242,
  state: "S",
  rssBytes: 1,
  ppid: 1,
  pgid: 4242,
  startTicks: 1000,
  ...over,
});

describe("judgeHolder", () => {
  it.each<[string, LockOwner, ProcInfo | undefined, ReturnType<typeof judgeHolder>]>([
    ["a live holder this medic can see", holder, proc(), { kind: "alive" }],
    ["a holder whose pid is gone", holder, undefined, { kind: "dead", why: "pid 4242 is gone" }],
    ["a holder that is a zombie", holder, proc({ state: "Z" }), { kind: "dead", why: "pid 4242 is gone" }],
    [
      "an earlier lock of this very process",
      { ...self, token: "old" },
      proc({ pid: 7, startTicks: 500 }),
      { kind: "dead", why: "an earlier lock of this very process" },
    ],
    // Two containers on one volume: both pid 7, but different pid namespaces. Never "this very process".
    [
      "pid 7 in another container",
      { ...self, pidNs: "pid:[4026532999]", token: "other" },
      proc({ pid: 7, startTicks: 500 }),
      { kind: "unseen", sameBoot: true },
    ],
    ["another host", { ...holder, host: "ops-2", bootId: "boot-b" }, proc(), { kind: "unseen", sameBoot: false }],
    ["this host before a reboot", { ...holder, bootId: "boot-old" }, undefined, { kind: "unseen", sameBoot: false }],
    ["a kernel without boot ids", { ...holder, bootId: "" }, proc(), { kind: "unseen", sameBoot: false }],
    ["no pid namespace readable", { ...holder, pidNs: "" }, proc(), { kind: "unseen", sameBoot: true }],
  ])("%s", (_, owner, found, verdict) => {
    const me = owner.bootId === "" ? { ...self, bootId: "" } : owner.pidNs === "" ? { ...self, pidNs: "" } : self;
    expect(judgeHolder(owner, me, found)).toEqual(verdict);
  });

  it("a pid reused by another process is dead, and says when the new one started", () => {
    expect(judgeHolder(holder, self, proc({ startTicks: 2000 }))).toEqual({
      kind: "dead",
      why: expect.stringMatching(/^pid 4242 is now another process, started /),
    });
  });
});

describe("parseOwner", () => {
  it("reads a record and refuses what is not one", () => {
    expect(parseOwner(JSON.stringify(holder))).toEqual(holder);
    expect(parseOwner("4242\n")).toBeUndefined();
    expect(parseOwner('{"host":"x"')).toBeUndefined();
    expect(parseOwner(JSON.stringify({ ...holder, pid: "4242" }))).toBeUndefined();
  });
});
