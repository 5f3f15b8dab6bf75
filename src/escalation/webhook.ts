import { z } from "zod";
import { duration } from "../config/fields.js";
import type { ChannelKind } from "./channel.js";
import { isReply, judgeStatus, messageOf, postJson, redactDetail, type Reply } from "./post-json.js";
import type { NotificationEvent, Notifier, SendResult } from "./types.js";
import { buildWebhookBody, signWebhook } from "./webhook-body.js";

// A generic signed webhook: the body is documented in docs/webhook.md (schema: docs/webhook-v1.schema.json).
// The signature follows Stripe's and Slack's request signing (HMAC-SHA256 over "<timestamp>.<body>"):
// https://docs.stripe.com/webhooks#verify-manually, https://api.slack.com/authentication/verifying-requests-from-slack

const ALL_EVENTS = ["trigger", "acknowledge", "resolve"] as const satisfies readonly NotificationEvent[];
// RFC 9110 token characters.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
// Headers medic sets itself, or that fetch owns: an extra header may not replace them.
const RESERVED = /^(?:content-type|content-length|host|connection|transfer-encoding|user-agent|idempotency-key|x-medic-.*)$/i;

const schema = z.strictObject({
  url: z
    .string()
    .refine(isWebhookUrl, {
      message:
        "must be an http(s) URL without user:password@, like https://alerts.example.com/medic (hint: keep it in an env var: ${WEBHOOK_URL})",
    })
    .meta({
      description: "The receiver's URL; a secret (it may carry a token), so write ${WEBHOOK_URL} or ${file:/path}. Redirects are refused",
      writeOnly: true,
    }),
  secret: z
    .string()
    .min(16, "must be at least 16 characters (hint: openssl rand -hex 32)")
    .max(1024, "must be at most 1024 characters")
    .optional()
    .meta({
      description:
        "Signs each body: x-medic-signature: v1=<hex HMAC-SHA256 of '<x-medic-timestamp>.<body>'>; a secret, write ${WEBHOOK_SECRET}",
      writeOnly: true,
    }),
  headers: z
    .record(
      z
        .string()
        .regex(HEADER_NAME, "must be an HTTP header name (letters, digits, -)")
        .refine((name) => !RESERVED.test(name), "is set by medic itself (content-type, idempotency-key, x-medic-*, ...): leave it out"),
      z
        .string()
        .max(8192, "must be at most 8192 characters")
        .refine((value) => !/[\r\n\0]/.test(value), "may not contain a line break or NUL"),
    )
    .default({})
    .meta({
      description: "Extra static headers, like authorization: Bearer ${TOKEN}; their values are secrets and never shown",
      writeOnly: true,
    }),
  events: z
    .array(z.enum(ALL_EVENTS))
    .min(1, "must name at least one of trigger, acknowledge, resolve")
    .refine((list) => new Set(list).size === list.length, "names an event twice")
    .default([...ALL_EVENTS])
    .meta({ description: "Which events to send: trigger, acknowledge, resolve (default all three)" }),
  acknowledgeOnRemediation: z
    .boolean()
    .default(false)
    .meta({ description: "Send an acknowledge while a playbook works on an incident this receiver was told of (default false)" }),
  timeout: duration()
    .refine((ms) => ms > 0 && ms <= 300_000, "must be longer than 0 and at most 5m (hint: like 10s)")
    .prefault("10s")
    .meta({ description: "How long one send may take before it counts as failed and is retried (default 10s)" }),
});

/** Validated `webhook` channel params. */
export type WebhookParams = z.output<typeof schema>;

/**
 * `webhook`: one signed JSON POST per notification (body schema version 1, docs/webhook.md); any
 * 2xx accepts, and the idempotency-key (the notification id) lets a receiver drop a resend.
 */
export const webhookChannel: ChannelKind<typeof schema> = {
  schema,
  create(params, ctx): Notifier {
    const url = new URL(params.url);
    const accepts: ReadonlySet<NotificationEvent> = new Set(params.events);
    const where = `webhook ${ctx.name} (${url.host})`;
    // Each token-like path segment too, in case a receiver echoes part of the path; one pass, longest first.
    const secrets = [...webhookSecrets(params), ...url.pathname.split("/").filter((s) => s.length >= 16)];
    return {
      name: ctx.name,
      accepts,
      send: async (n, signal) => {
        if (!accepts.has(n.event))
          return { ok: true, detail: `not sent: ${where} takes no ${n.event} (events: ${params.events.join(", ")})` };
        const result = await sendToWebhook(n, { url, where, params, signal });
        // Belt and braces: a receiver may echo the URL, a header or the secret back in its answer.
        return redactDetail(result, secrets);
      },
    };
  },
  secrets: webhookSecrets,
};

// The whole URL, its path when token-like and its query are credentials; so are the secret and extra header values.
function webhookSecrets(params: WebhookParams): string[] {
  const url = new URL(params.url);
  const query = [...url.searchParams.values()];
  return [
    params.url,
    `${url.host}${url.pathname}`,
    ...(url.pathname.length >= 12 ? [url.pathname] : []),
    ...(url.search ? [url.search, url.search.slice(1)] : []),
    ...query,
    ...(params.secret ? [params.secret] : []),
    ...Object.values(params.headers),
  ].filter((s) => s.length >= 4);
}

function isWebhookUrl(value: string): boolean {
  if (!/^https?:\/\//i.test(value) || !URL.canParse(value)) return false;
  const url = new URL(value);
  return url.username === "" && url.password === "";
}

interface SendOptions {
  url: URL;
  where: string;
  params: WebhookParams;
  signal: AbortSignal;
}

async function sendToWebhook(n: Parameters<Notifier["send"]>[0], opts: SendOptions): Promise<SendResult> {
  const { url, where, params, signal } = opts;
  let raw: string;
  try {
    raw = JSON.stringify(buildWebhookBody(n));
  } catch (err) {
    // A bug (a malformed notification from an old journal, say): the same one would fail every time.
    return { ok: false, retry: false, reason: "bad_request", detail: `could not build the webhook body: ${messageOf(err)}` };
  }
  // Stamped per attempt: a retry carries a fresh timestamp (and signature), so a receiver's replay window holds.
  const timestampSec = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    ...params.headers,
    "content-type": "application/json",
    "idempotency-key": n.id,
    "x-medic-event": n.event,
    "x-medic-timestamp": String(timestampSec),
    ...(params.secret && { "x-medic-signature": signWebhook(params.secret, timestampSec, raw) }),
  };
  const reply = await postJson(url, raw, { where, timeoutMs: params.timeout, signal, headers, secrets: webhookSecrets(params) });
  return isReply(reply) ? judgeReply(reply, where) : reply;
}

function judgeReply(reply: Reply, where: string): SendResult {
  if (reply.status >= 200 && reply.status < 300) return { ok: true, detail: `posted to ${where}: ${reply.status}` };
  return judgeStatus(reply, where, {
    badRequest: "the receiver refused the body; check that it takes medic's webhook schema version 1 (docs/webhook.md)",
    unauthorized: "check the secret and the headers (authorization) the receiver expects",
    notFound: "check the URL",
    gone: "the receiver says this endpoint is gone; check the URL",
  });
}
