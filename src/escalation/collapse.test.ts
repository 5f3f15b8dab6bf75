import { describe, expect, it } from "vitest";
import { supersedes } from "./collapse.js";
import type { Notification, NotificationEvent } from "./types.js";

const BROKEN = "could not notify pagerduty (HTTP 401)";

function n(event: NotificationEvent, over: Partial<Notification> = {}): Notification {
  return {
    id: `${event}-1`,
    channel: "slack",
    event,
    incident: "i1",
    target: "web",
    kind: "server_down",
    severity: "P1",
    state: "open",
    reason: "opened",
    evidence: "refused",
    openedAt: 0,
    at: 0,
    attempts: 0,
    steps: [],
    ...over,
  };
}

describe("supersedes", () => {
  it.each([
    ["an acknowledge by the resolve of its alert", n("resolve"), n("acknowledge"), true, true],
    ["a trigger by a later trigger of its alert", n("trigger", { reason: "escalated: x" }), n("trigger"), true, true],
    ["a trigger by the resolve, on a message stream", n("resolve"), n("trigger"), false, true],
    ["a page by the resolve: never", n("resolve"), n("trigger"), true, false],
    ["a trigger by an acknowledge: never", n("acknowledge"), n("trigger"), true, false],
    ["a resolve by a trigger: never (it opens the alert again)", n("trigger"), n("resolve"), false, false],
    ["another incident's: never", n("resolve", { incident: "i2" }), n("trigger"), false, false],
    ["another channel's: never", n("resolve", { channel: "console" }), n("trigger"), false, false],
    ["another alert's (a new dedup key): never", n("resolve"), n("acknowledge", { key: "i1:2" }), true, false],
    ["news that a channel is broken: never", n("resolve"), n("trigger", { reason: BROKEN }), false, false],
    ["anything by news that a channel is broken: never", n("trigger", { reason: BROKEN }), n("trigger"), false, false],
  ])("%s", (_what, later, earlier, pages, expected) => {
    expect(supersedes(later, earlier, pages)).toBe(expected);
  });
});
