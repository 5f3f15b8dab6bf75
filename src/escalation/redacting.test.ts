import { describe, expect, it } from "vitest";
import { redacting } from "./redacting.js";
import type { Notifier } from "./types.js";

describe("redacting", () => {
  it("keeps what the policy and the outbox read from a notifier: its name, its events, and whether it pages", () => {
    const send: Notifier["send"] = async () => ({ ok: true });
    const pager = redacting({ name: "pagerduty", accepts: new Set(["trigger", "acknowledge", "resolve"]), pages: true, send });
    expect([pager.name, [...pager.accepts], pager.pages]).toEqual(["pagerduty", ["trigger", "acknowledge", "resolve"], true]);
    // A message stream stays one: Slack's triggers may be superseded by their resolve, a page's never.
    expect(redacting({ name: "slack", accepts: new Set(["trigger", "resolve"]), send }).pages).toBeUndefined();
  });
});
