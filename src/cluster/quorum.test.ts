import { describe, expect, it } from "vitest";
import type { ObservationRow } from "./observations.js";
import { blindLeader, confirmFailure } from "./quorum.js";

const row = (node: string, failing: boolean, silentMs = 500): ObservationRow => ({ node, target: "api", failing, evidence: "", silentMs });
const ask = (rows: ObservationRow[], quorum: number, waitedMs = 20_000) =>
  confirmFailure(rows, { me: "n1", target: "api", quorum, waitedMs, graceMs: 10_000, freshMs: 6_000 });

describe("confirmFailure", () => {
  it("acts once enough nodes, the leader with them, see it failing", () => {
    expect(ask([row("n2", true), row("n3", false)], 2)).toEqual({ act: true, detail: "confirmed by 2 of 2 needed (n1, n2)" });
    expect(ask([], 1)).toEqual({ act: true, detail: "confirmed by 1 of 1 needed (n1)" });
  });

  it("waits while the others may not have probed it yet", () => {
    expect(ask([row("n2", false)], 2, 9_999)).toEqual({
      act: false,
      hold: "waiting for 2 nodes to see api failing: 1 of 2 needed (n1) so far",
    });
  });

  it("after the wait, others seeing it healthy is a disagreement of vantage points: never a restart", () => {
    expect(ask([row("n2", false), row("n3", false)], 2)).toEqual({
      act: false,
      disagree: "n1 sees api failing, but n2, n3 see it healthy: the network path is at fault, not api",
    });
  });

  it("a silent node counts for nothing; with nobody else to ask, a human decides", () => {
    expect(ask([row("n2", true, 60_000), row("n3", false, 60_000)], 2)).toEqual({
      act: false,
      escalate: "only 1 of 2 needed (n1) see api failing; the other nodes say nothing of it, so medic does not act alone",
    });
  });

  it("a node that reaches none of its targets is blind, not a witness: its word counts neither way", () => {
    const blind = [row("n2", true), { ...row("n2", true), target: "db" }, row("n3", false)];
    expect(ask(blind, 2)).toEqual({
      act: false,
      disagree: "n1 sees api failing, but n3 sees it healthy: the network path is at fault, not api",
    });
  });

  it("a leader that reaches none of its targets holds back while another node reaches some; when nobody does, it is an outage", () => {
    const down = [{ up: false }, { up: false }];
    const others = [row("n2", false), { ...row("n2", true), target: "db" }];
    expect(blindLeader(down, others, { me: "n1", freshMs: 6_000 })).toBe(
      "n1 reaches none of its 2 targets while n2 reaches some: its own network is suspect, so it heals nothing it cannot see",
    );
    const everyoneDown = [row("n2", true), { ...row("n2", true), target: "db" }];
    expect(blindLeader(down, everyoneDown, { me: "n1", freshMs: 6_000 })).toBeUndefined();
    expect(blindLeader([{ up: false }, { up: true }], others, { me: "n1", freshMs: 6_000 })).toBeUndefined();
    expect(blindLeader([{ up: false }], others, { me: "n1", freshMs: 6_000 })).toBeUndefined();
  });
});
