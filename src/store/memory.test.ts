import { describe, expect, it } from "vitest";
import type { IncidentEvent } from "../incidents/types.js";
import { MemoryStore } from "./memory.js";

const opened = (target: string, root?: string): IncidentEvent => ({
  type: "opened",
  target,
  kind: "server_down",
  severity: "P1",
  evidence: "refused",
  ...(root && { root }),
});
const resolved: IncidentEvent = { type: "resolved", reason: "ok" };
const HOUR = 3600_000;

describe("MemoryStore", () => {
  it("numbers records, checks an expected seq, and folds at once", async () => {
    const store = new MemoryStore();
    expect(store.append("i1", opened("web"), 1)).toMatchObject({ ok: true, record: { seq: 1 } });
    expect(store.append("i1", resolved, 2, { seq: 0 })).toMatchObject({ ok: false, reason: "conflict" });
    expect(store.append("i1", resolved, 2, { seq: 1 })).toMatchObject({ ok: true, record: { seq: 2 } });
    expect(store.live().get("i1")?.state).toBe("resolved");
    await store.flushed();
    expect(store.seq()).toBe(2);
  });

  it("with a window, lets resolved incidents leave the live view and still finds them", async () => {
    let now = 0;
    const store = new MemoryStore({ recentMs: HOUR, clock: { now: () => now } });
    store.append("a", opened("web"), 0);
    store.append("a", resolved, 1);
    now = 2 * HOUR;
    store.append("b", opened("db"), now);
    expect([...store.live().keys()]).toEqual(["b"]);
    expect((await store.find("a")).found?.state).toBe("resolved");
    expect((await store.history({ limit: 5 })).incidents.map((i) => i.id)).toEqual(["b", "a"]);
  });

  it("as a dry run's overlay: starts from a base's live view, never changes the base, and merges its history", async () => {
    const base = new MemoryStore();
    for (let n = 0; n < 6; n++) base.append(`b${n}`, opened(`t${n}`), n * 10);
    base.append("b0", resolved, 100);
    const overlay = new MemoryStore({ base });
    expect(overlay.seq()).toBe(base.seq());
    overlay.append("b1", resolved, 200);
    overlay.append("d1", opened("web", "b2"), 300);
    expect(base.live().get("b1")?.state).toBe("open");
    expect(overlay.live().get("b1")?.state).toBe("resolved");
    const all = await overlay.history({ limit: 4 });
    expect(all.incidents.map((i) => [i.id, i.state])).toEqual([
      ["d1", "suppressed"],
      ["b5", "open"],
      ["b4", "open"],
      ["b3", "open"],
    ]);
    const rest = await overlay.history({ limit: 4, cursor: all.next! });
    expect(rest.incidents.map((i) => i.id)).toEqual(["b2", "b1", "b0"]);
    expect((await overlay.history({ limit: 9, root: "b2" })).incidents.map((i) => i.id)).toEqual(["d1"]);
    expect((await overlay.find("b1")).found?.state).toBe("resolved");
  });
});
