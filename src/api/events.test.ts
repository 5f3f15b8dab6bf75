import { randomBytes } from "node:crypto";
import http, { type IncomingMessage } from "node:http";
import { connect } from "node:net";
import { createGunzip } from "node:zlib";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BEARER, closeApis, standInConfig, standInDaemon, startApi, TOKEN } from "../../test/fixtures/api-stand-in.js";
import type { TargetStatus } from "../daemon/ports.js";
import { HEARTBEAT_MS, MAX_STREAMS, TICK_MS } from "./events.js";

afterEach(async () => {
  vi.useRealTimers();
  await closeApis();
});

/** An open GET /api/events: its response, every event so far, and a wait for the next one that passes a test. */
function openStream(url: string, headers: Record<string, string> = {}) {
  const events: { event: string; data: any }[] = [];
  let text = "";
  let comments = 0;
  let ended = false;
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    const req = http.get(`${url}/api/events`, { headers, agent: false }, (res) => {
      const body = res.headers["content-encoding"] === "gzip" ? res.pipe(createGunzip()) : res;
      body.setEncoding("utf8");
      body.on("data", (chunk: string) => {
        text += chunk;
        let end: number;
        while ((end = text.indexOf("\n\n")) >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          if (block.startsWith(":")) comments++;
          const m = /^event: (\w+)\ndata: (.*)$/s.exec(block);
          if (m) events.push({ event: m[1]!, data: JSON.parse(m[2]!) });
        }
      });
      body.on("end", () => (ended = true));
      body.on("error", () => (ended = true));
      resolve(res);
    });
    req.on("error", reject);
  });
  const until = async <T>(what: string, fn: () => T | undefined, ms = 5_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = fn();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms; events: ${JSON.stringify(events).slice(0, 500)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { response, events, until, comments: () => comments, ended: () => ended };
}

const target = (name: string, up: boolean, extra: Partial<TargetStatus> = {}): TargetStatus => ({
  name,
  labels: {},
  probe: "tcp",
  up,
  open: [],
  recent: [1, 2, null],
  ...extra,
});

describe("GET /api/events", () => {
  it("starts with a snapshot of every target and live incident, then sends only what changed, gzip-compressed when asked", async () => {
    const targets = [target("a", true), target("b", true), target("c", true)];
    const daemon = standInDaemon(targets);
    daemon.store.append("abcd1234", { type: "opened", target: "b", kind: "server_down", severity: "P1", evidence: "refused" }, Date.now());
    const { url } = await startApi(await standInConfig(), daemon);
    const s = openStream(url, { "accept-encoding": "gzip" });
    const res = await s.response;
    expect(res.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(res.headers["content-encoding"]).toBe("gzip");
    expect(res.headers["cache-control"]).toBe("no-store");
    const first = await s.until("snapshot", () => s.events[0]);
    expect(first.event).toBe("snapshot");
    expect(first.data.targets.map((t: TargetStatus) => t.name)).toEqual(["a", "b", "c"]);
    expect(first.data.targets[0].recent).toEqual([1, 2, null]);
    expect(first.data.incidents).toMatchObject([{ id: "abcd1234", target: "b", state: "open", severity: "P1" }]);

    targets[1] = target("b", false, { open: ["abcd1234"], finding: { kind: "server_down", evidence: "refused" } });
    targets.pop();
    daemon.store.append("abcd1234", { type: "acknowledged", by: "alice" }, Date.now());
    const change = await s.until("a change", () => s.events.find((e) => e.event === "change"));
    expect(change.data.targets.changed.map((t: TargetStatus) => t.name)).toEqual(["b"]);
    expect(change.data.targets.removed).toEqual(["c"]);
    expect(change.data.incidents.changed).toMatchObject([{ id: "abcd1234", acknowledged: { by: "alice" } }]);
    // Nothing changes after that: no more events.
    await new Promise((r) => setTimeout(r, TICK_MS * 2.5));
    expect(s.events.map((e) => e.event)).toEqual(["snapshot", "change"]);
  });

  it("without Accept-Encoding it sends plain text; secrets in what it sends are redacted", async () => {
    const { url } = await startApi(
      await standInConfig({ token: true }),
      standInDaemon([target("a", false, { finding: { kind: "server_down", evidence: `HTTP 500 for ?key=${TOKEN}` } })]),
    );
    const s = openStream(url, BEARER);
    expect((await s.response).headers["content-encoding"]).toBeUndefined();
    const snapshot = await s.until("snapshot", () => s.events[0]);
    expect(snapshot.data.targets[0].finding.evidence).toBe("HTTP 500 for ?key=[secret]");
  });

  it("answers HEAD with the stream's headers and ends at once", async () => {
    const { url } = await startApi(await standInConfig(), standInDaemon([target("a", true)]));
    const res = await fetch(`${url}/api/events`, { method: "HEAD" });
    expect([res.status, res.headers.get("content-type"), await res.text()]).toEqual([200, "text/event-stream; charset=utf-8", ""]);
  });

  it("needs the token when reads do, and ends every stream when the API closes (the close waits for none)", async () => {
    const { url, api } = await startApi(await standInConfig({ token: true }), standInDaemon([target("a", true)]));
    expect((await fetch(`${url}/api/events`)).status).toBe(401);
    const streams = [openStream(url, BEARER), openStream(url, BEARER)];
    for (const s of streams) await s.until("snapshot", () => s.events[0]);
    const started = Date.now();
    await api.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    for (const s of streams) await s.until("the end of the stream", () => s.ended(), 1_000);
  });

  it(`takes at most ${MAX_STREAMS} streams at once (503 with Retry-After past that); a closed stream frees its place`, async () => {
    const { url } = await startApi(await standInConfig(), standInDaemon([target("a", true)]));
    const open = Array.from({ length: MAX_STREAMS }, () => openStream(url));
    for (const s of open) await s.until("snapshot", () => s.events[0]);
    const refused = await fetch(`${url}/api/events`);
    expect([refused.status, refused.headers.get("retry-after")]).toEqual([503, "10"]);
    expect(((await refused.json()) as { error: string }).error).toBe(`${MAX_STREAMS} live event streams are open already`);
    (await open[0]!.response).destroy();
    const again = openStream(url);
    await again.until("a snapshot once a place is free", () => again.events[0]);
  });

  it("sends a comment line when nothing was sent for a while, so proxies and the console see it is alive", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    const { url } = await startApi(await standInConfig(), standInDaemon([target("a", true)]));
    const s = openStream(url);
    await s.until("snapshot", () => s.events[0]);
    vi.advanceTimersByTime(HEARTBEAT_MS - TICK_MS);
    await new Promise((r) => setTimeout(r, 100));
    expect(s.comments()).toBe(0);
    vi.advanceTimersByTime(TICK_MS);
    await s.until("a comment line", () => s.comments() === 1);
  });

  it("drops a client that does not read rather than buffering for it without end", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    const targets = [target("a", false)];
    const warnings: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
    // Each look at the fleet finds 300 KB of new evidence that does not compress.
    const daemon = standInDaemon([], {
      targetsStatus: () => targets.map((t) => ({ ...t, finding: { kind: "x", evidence: randomBytes(225_000).toString("base64") } })),
    });
    const { url } = await startApi(await standInConfig(), daemon, log);
    const socket = connect(Number(new URL(url).port), "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    socket.write("GET /api/events HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
    socket.pause();
    const closed = new Promise((r) => socket.once("close", r));
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 200 && warnings.length === 0; i++) {
      vi.advanceTimersByTime(TICK_MS);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(warnings).toContain("live events: a client reads too slowly; its stream is dropped");
    socket.resume();
    await closed;
  });
});
