import { describe, expect, it } from "vitest";
import { may, type Control } from "./roles.js";

const ALL: Control[] = ["ack", "pause", "resume", "guard", "approve"];

describe("may", () => {
  it.each([
    ["nobody known (no token, or an API without identities)", undefined, []],
    ["a viewer", { name: "v", role: "viewer" as const }, []],
    ["an operator", { name: "o", role: "operator" as const }, ["ack", "pause", "resume", "guard"]],
    ["an approver", { name: "a", role: "approver" as const }, ALL],
  ])("%s", (_who, who, allowed) => {
    expect(ALL.filter((c) => may(who, c))).toEqual(allowed);
  });
});
