import { describe, expect, it } from "vitest";
import type { NodeRow } from "./nodes.js";
import { reviewNodes } from "./node-watch.js";

const row = (node: string, silentMs: number): NodeRow => ({ node, startedAt: 0, heartbeatAt: 0, silentMs, version: "1", detail: {} });

describe("reviewNodes", () => {
  const nodes = [row("a", 500), row("b", 12_000), row("c", 30_000), row("d", 1_000)];

  it("a node silent past the limit gets one node_down; one whose heartbeat is back is resolved; the leader never judges itself", () => {
    const review = reviewNodes([...nodes, row("me", 60_000)], { me: "me", silentMs: 10_000, leadingMs: 60_000, open: new Set(["c", "d"]) });
    expect(review.down).toEqual([{ node: "b", silentMs: 12_000 }]);
    expect(review.back).toEqual([{ node: "d", why: "node d's heartbeat is back" }]);
  });

  it("a leader that just took over judges nobody silent yet: after an outage of the store every heartbeat is old", () => {
    expect(reviewNodes(nodes, { me: "me", silentMs: 10_000, leadingMs: 9_999, open: new Set() }).down).toEqual([]);
    expect(reviewNodes(nodes, { me: "me", silentMs: 10_000, leadingMs: 10_000, open: new Set() }).down.map((d) => d.node)).toEqual([
      "b",
      "c",
    ]);
  });

  it("a node removed from the cluster resolves its node_down", () => {
    const review = reviewNodes(nodes, { me: "me", silentMs: 10_000, leadingMs: 60_000, open: new Set(["gone"]) });
    expect(review.back).toEqual([{ node: "gone", why: "node gone is no longer in the cluster" }]);
  });
});
