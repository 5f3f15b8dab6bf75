import { describe, expect, it } from "vitest";
import { applyEvent, type Fleet } from "./model.js";
import type { Target } from "./types.js";

const t = (name: string, up: boolean): Target => ({ name, labels: {}, probe: "tcp", up, open: [] });

describe("applyEvent", () => {
  it("a snapshot replaces all; a change replaces only what changed (others keep their objects) and drops what is gone", () => {
    const fleet: Fleet = { targets: new Map(), incidents: new Map() };
    applyEvent(fleet, {
      event: "snapshot",
      data: JSON.stringify({ at: "x", targets: [t("a", true), t("b", true), t("c", true)], incidents: [] }),
    });
    const a = fleet.targets.get("a");
    const changed = applyEvent(fleet, {
      event: "change",
      data: JSON.stringify({ at: "y", targets: { changed: [t("b", false)], removed: ["c"] }, incidents: { changed: [], removed: [] } }),
    });
    expect(changed).toBe(true);
    expect([...fleet.targets.keys()]).toEqual(["a", "b"]);
    expect(fleet.targets.get("a")).toBe(a);
    expect(fleet.targets.get("b")!.up).toBe(false);
    expect(fleet.at).toBe("y");
    expect(applyEvent(fleet, { event: "something-else", data: "{}" })).toBe(false);
  });
});
