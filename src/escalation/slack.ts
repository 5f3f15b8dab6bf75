import { performance } from "node:perf_hooks";
import { z } from "zod";
import { duration } from "../config/fields.js";
import { formatDuration } from "../lib/duration.js";
import type { ChannelKind } from "./channel.js";
import { buildSlackAnnouncement, buildSlackMessage, type SlackMessage } from "./slack-blocks.js";
import type { NotificationEvent, Notifier, SendResult } from "./types.js";

// Incoming webhooks: https://api.slack.com/messaging/webhooks
// Their errors: https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks
//
// Global fetch rather than @slack/webhook's IncomingWebhook (which is fetch underneath): its HTTP
// error keeps status and body but drops the headers, so a 429's Retry-After is lost; its timeout is
// fixed per instance and it takes no AbortSignal; and its request errors wrap node's message, which
// can carry the URL. Posting the same JSON ourselves keeps every outcome in our hands.

const BODY_BYTES = 2048;
const EXCERPT_CHARS = 200;
const ACCEPTS: ReadonlySet<NotificationEvent> = new Set<NotificationEvent>(["trigger", "resolve"]);

const schema = z.strictObject({
  webhookUrl: z
    .string()
    .refine(isWebhookUrl, {
      message:
        "must be an http(s) URL without user:password@, like https://hooks.slack.com/services/T0000/B0000/abcd1234 (hint: keep it in an env var: ${SLACK_WEBHOOK_URL})",
    })
    .meta({
      description:
        "Incoming webhook URL; a secret, so write it as ${SLACK_WEBHOOK_URL} or ${file:/path}. http:// is for local receivers only",
      writeOnly: true,
    }),
  timeout: duration()
    .refine((ms) => ms > 0 && ms <= 300_000, "must be longer than 0 and at most 5m (hint: like 10s)")
    .prefault("10s")
    .meta({ description: "How long one send may take before it counts as failed and is retried (default 10s)" }),
});

/** The `slack` channel: one Block Kit message per trigger and per resolve, posted to an incoming webhook. */
export const slackChannel: ChannelKind<typeof schema> = {
  schema,
  create(params): Notifier {
    const url = new URL(params.webhookUrl);
    return {
      name: "slack",
      accepts: ACCEPTS,
      send: async (n, signal) => {
        if (!ACCEPTS.has(n.event)) return { ok: true, detail: `not sent: Slack has no ${n.event}` };
        return redactResult(await sendToSlack(url, () => buildSlackMessage(n), params.timeout, signal), url);
      },
      announce: async (text, signal) =>
        redactResult(await sendToSlack(url, () => buildSlackAnnouncement(text), params.timeout, signal), url),
    };
  },
  // The whole URL is the credential; its path alone is too.
  secrets: (params) => [params.webhookUrl, new URL(params.webhookUrl).pathname],
};

/** Replaces the webhook URL, its path and each token-like path segment with [secret]. */
export function redactWebhook(text: string, url: URL): string {
  const segments = url.pathname.split("/").filter((s) => s.length >= 4 && s !== "services");
  const secrets = [url.href, `${url.host}${url.pathname}`, url.pathname, url.search, url.username, url.password, ...segments]
    .filter((s) => s.length >= 4)
    .sort((a, b) => b.length - a.length);
  return secrets.reduce((out, secret) => out.split(secret).join("[secret]"), text);
}

function isWebhookUrl(value: string): boolean {
  if (!/^https?:\/\//i.test(value) || !URL.canParse(value)) return false;
  const url = new URL(value);
  return url.username === "" && url.password === "";
}

async function sendToSlack(url: URL, message: () => SlackMessage, timeoutMs: number, signal: AbortSignal): Promise<SendResult> {
  const where = `Slack (${url.host})`;
  if (signal.aborted) return { ok: false, retry: true, reason: "timeout", detail: `not sent to ${where}: aborted before the request` };
  let body: string;
  try {
    body = JSON.stringify(message());
  } catch (err) {
    // A bug in the builder; the same notification would fail the same way every time.
    return { ok: false, retry: false, reason: "bad_request", detail: `could not build the Slack message: ${messageOf(err)}` };
  }

  // One controller for the caller's signal and the timeout, unhooked when done: AbortSignal.any
  // leaks when one input is long-lived, as the daemon's stop signal is (nodejs/node#55351).
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = () => controller.abort();
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  signal.addEventListener("abort", onAbort, { once: true });
  const started = performance.now();
  const stopped = (): SendResult =>
    timedOut
      ? { ok: false, retry: true, reason: "timeout", detail: `no answer from ${where} within ${formatDuration(timeoutMs)}` }
      : {
          ok: false,
          retry: true,
          reason: "timeout",
          detail: `send to ${where} aborted after ${formatDuration(performance.now() - started)}`,
        };

  try {
    let res: Response;
    try {
      // redirect: manual, so a redirect is reported instead of followed with the message to elsewhere.
      res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json; charset=utf-8", "user-agent": "medic" },
        body,
        redirect: "manual",
        signal: controller.signal,
      });
    } catch (err) {
      if (controller.signal.aborted) return stopped();
      return requestFailed(err, where);
    }
    let text: string;
    try {
      text = await readExcerpt(res);
    } catch (err) {
      if (controller.signal.aborted) return stopped();
      return {
        ok: false,
        retry: true,
        reason: "network",
        detail: `${where} answered ${res.status} but the connection broke: ${causeOf(err)}`,
      };
    }
    return judgeReply(res.status, text, res.headers.get("retry-after"), where);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

// Slack answers 200 "ok"; errors are a status plus a short word like "no_service".
function judgeReply(status: number, body: string, retryAfter: string | null, where: string): SendResult {
  const said = `${where} answered ${status}${body ? ` ${JSON.stringify(body)}` : ""}`;
  if (status >= 200 && status < 300) {
    if (body.trim() === "ok") return { ok: true, detail: `posted to ${where}` };
    // Not Slack's protocol: maybe a proxy page. Retrying is cheap and the outbox caps attempts.
    return { ok: false, retry: true, reason: "bad_reply", detail: `${said}, not "ok"` };
  }
  if (status === 429) {
    const result: SendResult = { ok: false, retry: true, reason: "rate_limited", detail: said };
    const ms = parseRetryAfter(retryAfter);
    if (ms !== undefined) result.retryAfterMs = ms;
    return result;
  }
  if (status >= 500) return { ok: false, retry: true, reason: "server_error", detail: said };
  if (status === 408) return { ok: false, retry: true, reason: "timeout", detail: said };
  if (status >= 300 && status < 400)
    return { ok: false, retry: false, reason: "rejected", detail: `${said} (hint: webhook URLs do not redirect; check the URL)` };
  if (status === 400 || status === 413)
    return {
      ok: false,
      retry: false,
      reason: "bad_request",
      detail: `${said} (hint: Slack refused the message itself; report it as a medic bug)`,
    };
  if (status === 401 || status === 403)
    return {
      ok: false,
      retry: false,
      reason: "unauthorized",
      detail: `${said} (hint: the webhook may not post to this channel; check it in Slack's app settings)`,
    };
  if (status === 404)
    return {
      ok: false,
      retry: false,
      reason: "not_found",
      detail: `${said} (hint: the webhook was removed or the URL is wrong; create a new one)`,
    };
  if (status === 410)
    return {
      ok: false,
      retry: false,
      reason: "rejected",
      detail: `${said} (hint: the channel is archived or gone; unarchive it or point the webhook elsewhere)`,
    };
  if (status >= 400) return { ok: false, retry: false, reason: "rejected", detail: said };
  return { ok: false, retry: true, reason: "bad_reply", detail: said };
}

// fetch rejects with "fetch failed" and the socket error as its cause; without a cause, the request
// could not even be built (a URL fetch refuses), which no retry fixes.
function requestFailed(err: unknown, where: string): SendResult {
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause === undefined) return { ok: false, retry: false, reason: "rejected", detail: `cannot send to ${where}: ${messageOf(err)}` };
  if (causeOf(err) === "bad port") {
    return {
      ok: false,
      retry: false,
      reason: "rejected",
      detail: `cannot send to ${where}: fetch refuses this port (hint: use another port for the receiver)`,
    };
  }
  return { ok: false, retry: true, reason: "network", detail: `cannot reach ${where}: ${causeOf(err)}` };
}

async function readExcerpt(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    // Past the excerpt the body is not needed; cancelling frees the connection.
    await reader.cancel().catch(() => {});
  }
  const text = Buffer.concat(chunks).subarray(0, BODY_BYTES).toString("utf8");
  return oneLine(text).slice(0, EXCERPT_CHARS);
}

function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function redactResult(result: SendResult, url: URL): SendResult {
  return result.detail === undefined ? result : { ...result, detail: redactWebhook(result.detail, url) };
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: unknown } | null)?.cause ?? err;
  const code = (cause as { code?: unknown } | null)?.code;
  const message = messageOf(cause);
  return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message;
}

function messageOf(err: unknown): string {
  return oneLine(err instanceof Error ? err.message : String(err)).slice(0, 300);
}

function oneLine(text: string): string {
  return text
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}
