import { describe, expect, it } from "vitest";
import type { Config } from "../config/types.js";
import { checkPause, checkTarget as checkKnown, isRefusal, knownTargets, nothingToResume } from "./operator.js";
import type { Pause } from "./types.js";

const names = { for: '"for"', reason: '"reason"', forExample: '"for": "30m"', reasonExample: '"reason": "x"' };
const checkTarget = (config: Config, name: string) => checkKnown(knownTargets(config), name);
const config = (discovery = false) =>
  ({
    targets: [{ name: "api" }, { name: "db" }],
    ...(discovery && { discovery: { docker: { label: "medic.enable" } } }),
  }) as unknown as Config;

describe("checkPause", () => {
  it("a pause from now for the length asked, the reason trimmed", () => {
    expect(checkPause({ target: "api", for: "30m", reason: "  deploying  ", by: "alice" }, names, 1_000)).toMatchObject({
      target: "api",
      from: 1_000,
      until: 1_801_000,
      reason: "deploying",
      by: "alice",
      id: expect.stringMatching(/^[0-9a-f]{8}$/),
    });
  });
  it.each([
    [undefined, "x", '"for" must be a duration above 0 and at most 7d (it is missing)'],
    ["8d", "x", '(got "8d")'],
    ["0s", "x", '(got "0s")'],
    ["10m", "", '"reason" must be one line of 1-500 characters'],
    ["10m", "a\rb", "one line"],
  ])("refuses for=%s reason=%j, in the caller's words", (forText, reason, message) => {
    const r = checkPause({ target: "api", for: forText, reason, by: "a" }, names, 0);
    expect(isRefusal(r) && r.message).toContain(message);
  });
});

describe("checkTarget and nothingToResume", () => {
  it("knows configured targets; with discovery accepts a well-formed unknown name with a note, never a reserved one", () => {
    expect(checkTarget(config(), "api")).toEqual({});
    expect(checkTarget(config(), "web")).toEqual({ message: 'unknown target "web"', hint: "one of api, db" });
    expect(checkTarget(config(true), "web-7")).toEqual({
      note: '"web-7" is not in the config; it applies if discovery finds a target by that name',
    });
    expect(isRefusal(checkTarget(config(true), "__proto__"))).toBe(true);
  });
  it("points at a pause on all targets that still holds the target", () => {
    const all = { id: "a11", target: "*" } as Pause;
    expect(nothingToResume({ target: "api" }, [all], (id) => `resume ${id}`, "list them")).toEqual({
      message: "no active pause on api",
      hint: "api is held by a pause on all targets (a11): resume a11",
    });
    expect(nothingToResume({ id: "x" }, [], (id) => id, "list them")).toEqual({ message: "no active pause with id x", hint: "list them" });
  });
});
