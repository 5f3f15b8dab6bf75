import type { ServerResponse } from "node:http";
import type { Writable } from "node:stream";
import { constants, createGzip } from "node:zlib";
import { describeError } from "../lib/errors.js";
import { redactor } from "../lib/redact.js";
import { pickEncoding } from "./assets.js";
import { ApiError } from "./http.js";
import type { ApiContext, Route } from "./types.js";
import { incidentSummary } from "./views.js";

// GET /api/events: server-sent events of what changes in the fleet, for the console's live view.
// Nothing in the daemon calls out to it: while a stream is open, the API looks at the targets and
// the live incidents once a second and sends what differs from what it sent before. A console
// reads it with fetch() (so it can send its token), not EventSource (which cannot).

/** How often the fleet is looked at while at least one stream is open. */
export const TICK_MS = 1_000;
/** When nothing was sent for this long, a comment line: proxies and the console see the stream is alive. */
export const HEARTBEAT_MS = 15_000;
/** Streams open at once (one per console tab): each costs a look at the fleet per second. */
export const MAX_STREAMS = 16;
/** A client that leaves this much unread is dropped rather than buffered for. */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** The live event stream. */
export const eventsRoute: Route = {
  method: "GET",
  path: "/api/events",
  access: "read",
  handle: (req, ctx) => {
    if (req.closing.aborted) throw new ApiError(503, "medic's API is closing", "connect again once medic is back");
    let hub = hubs.get(ctx);
    if (!hub) {
      hub = new Hub(ctx, req.closing);
      hubs.set(ctx, hub);
    }
    if (hub.size >= MAX_STREAMS) {
      throw new ApiError(503, `${MAX_STREAMS} live event streams are open already`, "close a console tab you do not need, or try again", {
        "retry-after": "10",
      });
    }
    const gzip = pickEncoding(req.headers["accept-encoding"]) !== "identity";
    const joined = hub;
    return { status: 200, stream: (res) => joined.join(res, gzip) };
  },
};

// One hub per API (its context object): the streams it serves and what they were last sent.
const hubs = new WeakMap<ApiContext, Hub>();

interface Client {
  res: ServerResponse;
  /** What events are written to: the response, or a gzip stream into it. */
  out: Writable;
  lastWriteAt: number;
}

/** What was last sent, per target name and incident id (as JSON), and the streams that got it. */
class Hub {
  private readonly clients = new Set<Client>();
  private readonly targets = new Map<string, string>();
  private readonly incidents = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ApiContext,
    closing: AbortSignal,
  ) {
    closing.addEventListener("abort", () => [...this.clients].forEach((c) => this.leave(c, "end")), { once: true });
  }

  get size(): number {
    return this.clients.size;
  }

  join(res: ServerResponse, gzip: boolean): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      // nginx buffers a proxied response unless told not to; the stream would arrive in lumps.
      "x-accel-buffering": "no",
      // Once the stream ends, so does the connection: closing the API then waits for nothing.
      connection: "close",
      vary: "accept-encoding",
      ...(gzip && { "content-encoding": "gzip" }),
    });
    if (res.req.method === "HEAD") return void res.end();
    let out: Writable = res;
    if (gzip) {
      // Every event is flushed as it is written: compressed, but never held back.
      const zip = createGzip({ flush: constants.Z_SYNC_FLUSH });
      zip.pipe(res);
      out = zip;
    }
    const client: Client = { res, out, lastWriteAt: 0 };
    this.clients.add(client);
    res.once("close", () => this.leave(client));
    if (this.timer === undefined) {
      this.look();
      this.timer = setInterval(() => this.tick(), TICK_MS).unref();
    }
    const snapshot = `{"at":${JSON.stringify(new Date().toISOString())},"targets":[${[...this.targets.values()].join(",")}],"incidents":[${[...this.incidents.values()].join(",")}]}`;
    this.write(client, message("snapshot", snapshot));
  }

  // What changed since the last look; the hub remembers what it now sends.
  private look(): { targets: Change; incidents: Change } | undefined {
    try {
      return {
        targets: change(this.targets, this.ctx.daemon.targetsStatus(), (t) => t.name),
        incidents: change(this.incidents, [...this.ctx.daemon.liveIncidents().values()].map(incidentSummary), (i) => i.id),
      };
    } catch (err) {
      this.ctx.log.warn({ err: describeError(err) }, "live events: could not read the fleet");
      return undefined;
    }
  }

  private tick(): void {
    const seen = this.look();
    if (seen && (changed(seen.targets) || changed(seen.incidents))) {
      const data = `{"at":${JSON.stringify(new Date().toISOString())},"targets":${changeJson(seen.targets)},"incidents":${changeJson(seen.incidents)}}`;
      const text = message("change", data);
      for (const c of [...this.clients]) this.write(c, text);
      return;
    }
    const now = Date.now();
    for (const c of [...this.clients]) if (now - c.lastWriteAt >= HEARTBEAT_MS) this.write(c, ": alive\n\n");
  }

  private write(c: Client, text: string): void {
    if (!this.clients.has(c)) return;
    c.out.write(text);
    c.lastWriteAt = Date.now();
    const waiting =
      c.res.writableLength + (c.out === c.res ? 0 : c.out.writableLength + (c.out as unknown as { readableLength: number }).readableLength);
    if (waiting > MAX_BUFFERED_BYTES) {
      this.ctx.log.warn({ waitingBytes: waiting }, "live events: a client reads too slowly; its stream is dropped");
      this.leave(c, "drop");
    }
  }

  // A stream ends: the API closes ("end"), the client is too slow ("drop"), or it went away.
  private leave(c: Client, how?: "end" | "drop"): void {
    if (!this.clients.delete(c)) return;
    if (how === "end") c.out.end();
    else {
      c.res.destroy();
      if (c.out !== c.res) c.out.destroy();
    }
    if (this.clients.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
    // With nobody listening nothing is kept: the next stream starts from a fresh look.
    this.targets.clear();
    this.incidents.clear();
  }
}

/** The items whose JSON differs from what was sent (new ones included), and the keys gone since. */
interface Change {
  changed: string[];
  removed: string[];
}

function change<T>(sent: Map<string, string>, items: readonly T[], key: (item: T) => string): Change {
  const seen = new Set<string>();
  const changed: string[] = [];
  for (const item of items) {
    const k = key(item);
    seen.add(k);
    // Redacted before comparing, as it is sent: a secret never leaves, and never counts as a change.
    const json = redactor.text(JSON.stringify(item));
    if (sent.get(k) === json) continue;
    sent.set(k, json);
    changed.push(json);
  }
  const removed = [...sent.keys()].filter((k) => !seen.has(k));
  for (const k of removed) sent.delete(k);
  return { changed, removed };
}

const changed = (c: Change) => c.changed.length > 0 || c.removed.length > 0;
const changeJson = (c: Change) => `{"changed":[${c.changed.join(",")}],"removed":${JSON.stringify(c.removed)}}`;

// One server-sent event; JSON holds no line break, so the data is one line.
function message(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}
