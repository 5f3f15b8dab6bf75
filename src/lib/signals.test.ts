import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { linkSignal, withDeadline } from "./signals.js";

describe("linkSignal", () => {
  it("aborts when the parent does, with the parent's reason", () => {
    const parent = new AbortController();
    const linked = linkSignal(parent.signal, 60_000);
    parent.abort(new Error("stopping"));
    expect(linked.signal.aborted).toBe(true);
    expect((linked.signal.reason as Error).message).toBe("stopping");
    linked.dispose();
  });

  it("aborts at once when the parent already has", () => {
    const parent = new AbortController();
    parent.abort("gone");
    expect(linkSignal(parent.signal, 60_000).signal.reason).toBe("gone");
  });

  it("aborts with a TimeoutError of its own when its time is up, leaving the parent alone", async () => {
    const parent = new AbortController();
    const linked = linkSignal(parent.signal, 1);
    await new Promise((resolve) => linked.signal.addEventListener("abort", resolve, { once: true }));
    expect((linked.signal.reason as DOMException).name).toBe("TimeoutError");
    expect(parent.signal.aborted).toBe(false);
    linked.dispose();
  });

  it("once disposed, a later abort of the parent no longer reaches it", () => {
    const parent = new AbortController();
    const linked = linkSignal(parent.signal, 60_000);
    linked.dispose();
    parent.abort();
    expect(linked.signal.aborted).toBe(false);
  });
});

describe("withDeadline against one long-lived signal", () => {
  it("leaves no listener on it, however the operations end", async () => {
    const daemon = new AbortController();
    for (let i = 0; i < 1000; i++) {
      await withDeadline(daemon.signal, 60_000, async () => i);
      await withDeadline(daemon.signal, 60_000, async () => {
        throw new Error("step failed");
      }).catch(() => {});
    }
    expect(getEventListeners(daemon.signal, "abort")).toHaveLength(0);
  });
});
