import { z } from "zod";
import { duration } from "../config/fields.js";
import type { ChannelKind } from "./channel.js";
import { isReply, judgeStatus, messageOf, postJson, type Reply } from "./post-json.js";
import { buildSlackAnnouncement, buildSlackMessage, type SlackMessage } from "./slack-blocks.js";
import type { NotificationEvent, Notifier, SendResult } from "./types.js";

// Incoming webhooks: https://api.slack.com/messaging/webhooks
// Their errors: https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks
//
// Global fetch rather than @slack/webhook's IncomingWebhook (which is fetch underneath): its HTTP
// error keeps status and body but drops the headers, so a 429's Retry-After is lost; its timeout is
// fixed per instance and it takes no AbortSignal; and its request errors wrap node's message, which
// can carry the URL. Posting the same JSON ourselves keeps every outcome in our hands.

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
  create(params, ctx): Notifier {
    const url = new URL(params.webhookUrl);
    return {
      name: ctx.name,
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
  let body: string;
  try {
    body = JSON.stringify(message());
  } catch (err) {
    // A bug in the builder; the same notification would fail the same way every time.
    return { ok: false, retry: false, reason: "bad_request", detail: `could not build the Slack message: ${messageOf(err)}` };
  }
  const reply = await postJson(url, body, { where, timeoutMs, signal });
  return isReply(reply) ? judgeReply(reply, where) : reply;
}

// Slack answers 200 "ok"; errors are a status plus a short word like "no_service".
function judgeReply(reply: Reply, where: string): SendResult {
  if (reply.status >= 200 && reply.status < 300) {
    if (reply.text.trim() === "ok") return { ok: true, detail: `posted to ${where}` };
    // Not Slack's protocol: maybe a proxy page. Retrying is cheap and the outbox caps attempts.
    return {
      ok: false,
      retry: true,
      reason: "bad_reply",
      detail: `${where} answered ${reply.status} ${JSON.stringify(reply.text)}, not "ok"`,
    };
  }
  return judgeStatus(reply, where, {
    badRequest: "Slack refused the message itself; report it as a medic bug",
    unauthorized: "the webhook may not post to this channel; check it in Slack's app settings",
    notFound: "the webhook was removed or the URL is wrong; create a new one",
    gone: "the channel is archived or gone; unarchive it or point the webhook elsewhere",
  });
}

function redactResult(result: SendResult, url: URL): SendResult {
  return result.detail === undefined ? result : { ...result, detail: redactWebhook(result.detail, url) };
}
