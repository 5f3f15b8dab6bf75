import { describe, expect, it } from "vitest";
import { sseParser, type SseEvent } from "./sse.js";

describe("sseParser", () => {
  it("takes events in whatever pieces they arrive, joins data lines, counts comments as signs of life", () => {
    const events: SseEvent[] = [];
    let alive = 0;
    const feed = sseParser(
      (e) => events.push(e),
      () => alive++,
    );
    const stream = 'event: snapshot\ndata: {"a":1}\n\n: alive\n\nevent: change\r\ndata: one\r\ndata: two\r\n\r\ndata: plain\n\n';
    for (const piece of stream.match(/[\s\S]{1,3}/g)!) feed(piece);
    expect(events).toEqual([
      { event: "snapshot", data: '{"a":1}' },
      { event: "change", data: "one\ntwo" },
      { event: "message", data: "plain" },
    ]);
    expect(alive).toBe(1);
  });

  it("holds back an event until its blank line", () => {
    const events: SseEvent[] = [];
    const feed = sseParser((e) => events.push(e));
    feed("event: change\ndata: x\n");
    expect(events).toEqual([]);
    feed("\n");
    expect(events).toEqual([{ event: "change", data: "x" }]);
  });
});
