import dc from "node:diagnostics_channel";
import type { IncomingMessage } from "node:http";
import https from "node:https";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { event as sendEvent } from "@pagerduty/pdjs";
import { z } from "zod";
import { duration } from "../config/fields.js";
import { describeError, errorCode } from "../lib/errors.js";
import { formatDuration } from "../lib/duration.js";
import { readCa, type CaUse } from "./ca.js";
import type { ChannelKind } from "./channel.js";
import { buildPagerDutyEvent, eventBytes, PAGERDUTY_LIMITS, readPagerDutyReply } from "./pagerduty-event.js";
import type { Notification, NotificationEvent, SendResult } from "./types.js";

// Events API v2 through @pagerduty/pdjs: https://developer.pagerduty.com/api-reference/368ae3d938c9e-send-an-event-to-pager-duty
// pdjs 2.2.4 traps, each handled here and proven in test/notify-pagerduty.test.ts:
// - it always speaks https to `server` (host[:port]), through node-fetch: a CA goes in an https.Agent;
// - its requestTimeout aborts nothing and holds the event loop for 30 s: requestTimeout 0 disables it,
//   our own timer and AbortSignal bound the call;
// - it retries 429 three more times at a fixed retryTimeout, whatever `retryCount` says: see watchReplies;
// - a body that is not JSON (a proxy's HTML 502) makes it reject and hides the status: watchReplies again;
// - node-fetch follows redirects, turning the POST into a GET: redirect "error".

const HOST_PORT =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::(?:[1-9]\d{0,4}))?$/;
const EVENTS: ReadonlySet<NotificationEvent> = new Set(["trigger", "acknowledge", "resolve"]);
const MAX_REPLY_BYTES = 64 * 1024;

const schema = z.strictObject({
  routingKey: z
    .string()
    .length(
      32,
      "must be exactly 32 characters: the integration key of an Events API v2 integration (hint: write it as ${PAGERDUTY_ROUTING_KEY})",
    )
    .meta({
      description: "Integration (routing) key of an Events API v2 integration; a secret: write ${PAGERDUTY_ROUTING_KEY} or ${file:/path}",
      writeOnly: true,
    }),
  server: z
    .string()
    .regex(HOST_PORT, "must be a host[:port], like events.eu.pagerduty.com (hint: no https://, no path; medic always speaks https)")
    .default("events.pagerduty.com")
    .meta({ description: "Events API host[:port]: events.pagerduty.com, or events.eu.pagerduty.com for the EU service region" }),
  ca: z
    .string()
    .min(1)
    .optional()
    .meta({ description: "PEM file of the CA that signed the server's certificate, relative to this file (private receivers only)" }),
  source: z.string().min(1).max(255).optional().meta({ description: "payload.source of triggers (default: this host's name)" }),
  timeout: duration()
    .refine((ms) => ms > 0 && ms <= 300_000, "must be longer than 0 and at most 5m")
    .prefault("10s")
    .meta({ description: "How long one send may take before it counts as failed and is retried" }),
  acknowledgeOnRemediation: z
    .boolean()
    .default(true)
    .meta({ description: "Acknowledge the PagerDuty alert while a playbook works on the incident" }),
  webhookSecret: z
    .string()
    .min(16, "must be the signing secret PagerDuty shows for the webhook subscription (hint: write it as ${PAGERDUTY_WEBHOOK_SECRET})")
    .optional()
    .meta({
      description:
        "Signing secret of a PagerDuty v3 webhook subscription that posts to medic's POST /api/pagerduty/webhook: " +
        "a person's acknowledgement in PagerDuty then acknowledges the incident in medic (the climb stops); a secret",
      writeOnly: true,
    }),
});

/** Validated `notify.pagerduty` params. */
export type PagerDutyParams = z.output<typeof schema>;

// What a bad `ca` file is called in its error.
const CA: CaUse = { code: "PAGERDUTY_CA", key: "notify.pagerduty.ca", signed: "the receiver's certificate" };

/**
 * `pagerduty`: pages through the Events API v2; dedup_key = the incident id (or `<id>:2`... after a
 * failed fix, see alerts.ts), so a resent trigger never pages twice.
 */
export const pagerdutyChannel: ChannelKind<typeof schema> = {
  schema,
  create(params, ctx) {
    // Found now, loaded at the first page: a missing package stops medic at start, not at 3 a.m.
    import.meta.resolve("@pagerduty/pdjs");
    const ca = params.ca === undefined ? undefined : readCa(resolve(ctx.baseDir, params.ca), CA);
    const source = params.source ?? hostname();
    return {
      name: ctx.name,
      accepts: EVENTS,
      pages: true,
      send: (n, signal) => sendToPagerDuty(n, signal, { ...params, ca, source }),
    };
  },
  secrets: (params) => [params.routingKey, ...(params.webhookSecret ? [params.webhookSecret] : [])],
};

// pdjs types every event as a trigger; acknowledge and resolve carry no payload.
type PdjsEvent = Parameters<typeof sendEvent>[0]["data"];
type Options = Omit<PagerDutyParams, "ca" | "source"> & { ca: Buffer | undefined; source: string };

async function sendToPagerDuty(n: Notification, signal: AbortSignal, opts: Options): Promise<SendResult> {
  let result: SendResult;
  try {
    const data = buildPagerDutyEvent(n, { routingKey: opts.routingKey, source: opts.source });
    result =
      eventBytes(data) > PAGERDUTY_LIMITS.eventBytes
        ? {
            ok: false,
            retry: false,
            reason: "bad_request",
            detail: `the ${n.event} event is larger than PagerDuty's ${PAGERDUTY_LIMITS.eventBytes} bytes`,
          }
        : await exchange(data as PdjsEvent, signal, opts);
  } catch (err) {
    // A bug (a malformed notification from an old journal, say): reported, never thrown at the outbox.
    result = {
      ok: false,
      retry: false,
      reason: "bad_request",
      detail: `cannot build the ${String(n?.event)} event: ${describeError(err)}`,
    };
  }
  // Belt and braces: a receiver may echo the key back in an error text.
  return result.ok ? result : { ...result, detail: result.detail.split(opts.routingKey).join("[secret]") };
}

async function exchange(data: PdjsEvent, outer: AbortSignal, opts: Options): Promise<SendResult> {
  const shownTimeout = formatDuration(opts.timeout);
  // Loaded at the first page, not at start (a medic that never pages never holds pdjs and its fetch),
  // and before the send's own timer starts.
  const pdjs = (await import("@pagerduty/pdjs")).event;
  if (outer.aborted) return { ok: false, retry: true, reason: "timeout", detail: "not sent: medic is stopping" };
  const controller = new AbortController();
  let why: "timeout" | "stopping" | undefined;
  const stop = (reason: "timeout" | "stopping") => {
    why ??= reason;
    controller.abort();
  };
  const onOuterAbort = () => stop("stopping");
  const timer = setTimeout(() => stop("timeout"), opts.timeout);
  outer.addEventListener("abort", onOuterAbort, { once: true });
  // One agent per send: the reply watcher knows which send a response belongs to, and nothing is pooled.
  const agent = new https.Agent({ keepAlive: false, ...(opts.ca && { ca: opts.ca }) });
  let head: IncomingMessage | undefined;
  watchReplies(agent, (res) => {
    head = res;
    // pdjs would answer a 429 with three more tries; abort so its retry (or the answer itself) fails at once.
    if (res.statusCode === 429) controller.abort();
  });
  try {
    const reply = await pdjs({
      server: opts.server,
      data,
      agent,
      signal: controller.signal,
      requestTimeout: 0,
      retryTimeout: 0,
      redirect: "error",
      size: MAX_REPLY_BYTES,
    } as Parameters<typeof sendEvent>[0]);
    return readPagerDutyReply({ status: reply.status, headers: head?.headers ?? {}, body: reply.data }, opts.server);
  } catch (err) {
    if (head?.statusCode === 429) return readPagerDutyReply({ status: 429, headers: head.headers, body: undefined }, opts.server);
    if (why === "timeout")
      return { ok: false, retry: true, reason: "timeout", detail: `no answer from ${opts.server} within ${shownTimeout}` };
    if (why === "stopping") return { ok: false, retry: true, reason: "timeout", detail: "cancelled: medic is stopping" };
    return failure(err, head, opts);
  } finally {
    clearTimeout(timer);
    outer.removeEventListener("abort", onOuterAbort);
    unwatchReplies(agent);
    agent.destroy();
  }
}

function failure(err: unknown, head: IncomingMessage | undefined, opts: Options): SendResult {
  const type = (err as { type?: unknown }).type;
  if (head && (type === "invalid-json" || type === "max-size" || type === "system")) {
    // An answer came but its body was not PagerDuty's JSON: a proxy's HTML page, or a cut connection.
    return readPagerDutyReply({ status: head.statusCode ?? 0, headers: head.headers, body: undefined, unreadable: true }, opts.server);
  }
  if (type === "no-redirect") {
    return {
      ok: false,
      retry: false,
      reason: "rejected",
      detail: `${opts.server} answered with a redirect (HTTP ${head?.statusCode ?? "3xx"}); check notify.pagerduty.server`,
    };
  }
  const code = errorCode(err, "");
  const tls = /CERT|SELF_SIGNED|ALTNAME|UNABLE_TO|TLS|SSL/i.test(code);
  const hint = tls ? "; if the receiver uses a private CA, set notify.pagerduty.ca" : "";
  return { ok: false, retry: true, reason: "network", detail: `cannot reach ${opts.server}: ${code || describeError(err)}${hint}` };
}

// pdjs hides the response until it is done with it; node's documented http.client.response.finish
// channel shows it first, which is how a 429 (and the status behind an unreadable body) is seen.
const watchers = new WeakMap<https.Agent, (res: IncomingMessage) => void>();
let subscribed = false;

function watchReplies(agent: https.Agent, onReply: (res: IncomingMessage) => void): void {
  watchers.set(agent, onReply);
  if (subscribed) return;
  subscribed = true;
  dc.subscribe("http.client.response.finish", (message) => {
    const { request, response } = message as { request: { agent?: unknown }; response: IncomingMessage };
    const watcher = watchers.get(request.agent as https.Agent);
    watcher?.(response);
  });
}

function unwatchReplies(agent: https.Agent): void {
  watchers.delete(agent);
}
