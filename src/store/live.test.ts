import { describe, expect, it } from "vitest";
import type { JournalRecord } from "../incidents/types.js";
import { LiveSet } from "./live.js";

const HOUR = 3600_000;
const open = (id: string, at: number): JournalRecord => ({
  type: "opened",
  target: id,
  kind: "k",
  severity: "P2",
  evidence: "e",
  at,
  incident: id,
});
const done = (id: string, at: number): JournalRecord => ({ type: "resolved", reason: "ok", at, incident: id });

describe("LiveSet", () => {
  it("lets resolved incidents leave once past the window, oldest resolved first, never open ones", () => {
    const live = new LiveSet({ recentMs: HOUR });
    for (const r of [open("a", 0), open("b", 1), open("c", 2), done("b", 10), done("a", 20)]) live.apply(r);
    const left: string[] = [];
    const leave = (i: { id: string }) => (left.push(i.id), true);
    expect(live.sweep(HOUR + 9, leave)).toBe(0);
    expect(live.sweep(HOUR + 10, leave)).toBe(1);
    expect(live.sweep(10 * HOUR, leave)).toBe(1);
    expect(left).toEqual(["b", "a"]);
    expect([...live.incidents.keys()]).toEqual(["c"]);
  });

  it("keeps one owed something past the window, and lets it go once it is not", () => {
    let owed = true;
    const live = new LiveSet({ recentMs: HOUR, owed: () => owed });
    live.apply(open("a", 0));
    live.apply(done("a", 1));
    expect(live.sweep(5 * HOUR, () => true)).toBe(0);
    owed = false;
    expect(live.sweep(5 * HOUR, () => true)).toBe(1);
  });

  it("beyond the cap, lets the oldest resolved go however recent", () => {
    const live = new LiveSet({ recentMs: HOUR, maxResolved: 2 });
    for (const id of ["a", "b", "c", "d"]) {
      live.apply(open(id, 0));
      live.apply(done(id, 1));
    }
    const left: string[] = [];
    live.sweep(2, (i) => (left.push(i.id), true));
    expect(left).toEqual(["a", "b"]);
    expect(live.resolvedCount()).toBe(2);
  });

  it("stops when the incident cannot leave (its index line was refused), and tries again next time", () => {
    const live = new LiveSet({ recentMs: 0 });
    live.apply(open("a", 0));
    live.apply(done("a", 0));
    expect(live.sweep(1, () => false)).toBe(0);
    expect(live.incidents.has("a")).toBe(true);
    expect(live.sweep(1, () => true)).toBe(1);
  });
});
