import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ActionGate } from "./gate.js";
import { dryRunRule, leaderRule, standingRule } from "./rules.js";
import type { Action } from "./types.js";

const log = pino({ level: "silent" });
const step: Action = {
  kind: "step",
  incident: "i1",
  runId: "i1-1",
  target: "api",
  index: 0,
  step: "restart",
  stepKind: "service.restart",
  description: "restart",
};

describe("ActionGate", () => {
  it("allows an action once the store is durable, and not before", async () => {
    const order: string[] = [];
    let flush = (): void => {};
    const durable = () => new Promise<void>((resolve) => (flush = () => (order.push("durable"), resolve())));
    const gate = new ActionGate([standingRule(() => undefined)], { durable, log });
    const allowed = gate.allow(step).then((v) => order.push(`allowed ${v.allow}`));
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    flush();
    await allowed;
    expect(order).toEqual(["durable", "allowed true"]);
  });

  it("the first rule that objects refuses, says why, and is counted; a dry run refuses everything", async () => {
    let lost: string | undefined = undefined;
    const gate = new ActionGate([dryRunRule, standingRule(() => lost)], { durable: async () => {}, log });
    expect(await gate.allow(step)).toEqual({ allow: false, rule: "dry_run", reason: "dry run: medic acts on nothing" });
    expect(gate.check({ kind: "notify", incident: "i1", channel: "slack", event: "trigger" }).allow).toBe(false);
    lost = "another medic took the state dir";
    const standing = new ActionGate([standingRule(() => lost)], { durable: async () => {}, log });
    expect(await standing.allow(step)).toEqual({
      allow: false,
      rule: "standing",
      reason: "medic may no longer act: another medic took the state dir",
    });
    expect(gate.refusals().get("dry_run")).toBe(2);
  });

  it("asks again once the store is durable: standing lost during the wait refuses the action", async () => {
    let lease: string | undefined = undefined;
    const durable = async () => {
      lease = "the lease ran out at epoch 3 while the record was written";
    };
    const gate = new ActionGate([leaderRule(() => lease)], { durable, log });
    expect(gate.check(step).allow).toBe(true);
    expect(await gate.allow(step)).toEqual({
      allow: false,
      rule: "leader",
      reason: "not the leader: the lease ran out at epoch 3 while the record was written",
    });
    expect(gate.refusals().get("leader")).toBe(1);
  });
});
