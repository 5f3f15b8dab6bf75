import { z } from "zod";
import { duration } from "../config/fields.js";
import type { ChannelKind } from "./channel.js";
import { buildTeamsAnnouncement, buildTeamsMessage, type TeamsMessage } from "./msteams-card.js";
import { isReply, judgeStatus, messageOf, postJson, redactDetail, type Reply } from "./post-json.js";
import type { NotificationEvent, Notifier, SendResult } from "./types.js";

// Microsoft Teams through a Workflows webhook (Office 365 connectors are retired):
// https://support.microsoft.com/en-us/office/create-incoming-webhooks-with-workflows-for-microsoft-teams-8ae491c7-0394-4861-ba59-055e33f75498
// The trigger answers 202 Accepted once it has queued the run; a card the flow then fails to post
// is not reported back, which is why msteams-card.ts keeps every card within the limits.

// Teams has no acknowledge: a card per trigger and per resolve, as Slack.
const ACCEPTS: ReadonlySet<NotificationEvent> = new Set<NotificationEvent>(["trigger", "resolve"]);

const schema = z.strictObject({
  url: z
    .string()
    .refine(isWorkflowUrl, {
      message:
        "must be an http(s) URL without user:password@: the workflow trigger's HTTP POST URL (hint: keep it in an env var: ${TEAMS_WEBHOOK_URL})",
    })
    .meta({
      description:
        "The Workflows trigger URL ('When a Teams webhook request is received'); a secret (its sig= signs it): write ${TEAMS_WEBHOOK_URL}",
      writeOnly: true,
    }),
  timeout: duration()
    .refine((ms) => ms > 0 && ms <= 300_000, "must be longer than 0 and at most 5m (hint: like 10s)")
    .prefault("10s")
    .meta({ description: "How long one send may take before it counts as failed and is retried (default 10s)" }),
});

/** `msteams`: one Adaptive Card per trigger and per resolve, posted to a Teams Workflows webhook. */
export const msteamsChannel: ChannelKind<typeof schema> = {
  schema,
  create(params, ctx): Notifier {
    const url = new URL(params.url);
    const where = `Teams (${url.host})`;
    const secrets = [...teamsSecrets(params), ...url.pathname.split("/").filter((s) => s.length >= 8)];
    return {
      name: ctx.name,
      accepts: ACCEPTS,
      send: async (n, signal) => {
        if (!ACCEPTS.has(n.event)) return { ok: true, detail: `not sent: Teams has no ${n.event}` };
        // Belt and braces: a proxy's error page may echo the URL or its sig.
        return redactDetail(await sendToTeams(url, () => buildTeamsMessage(n), where, params.timeout, signal), secrets);
      },
      // A room like Slack's: news about medic itself (a pause ended) is a card here, not a page.
      announce: async (text, signal) =>
        redactDetail(await sendToTeams(url, () => buildTeamsAnnouncement(text), where, params.timeout, signal), secrets),
    };
  },
  secrets: teamsSecrets,
};

// The URL, its path (the workflow id), its query and the sig in it are all credentials.
function teamsSecrets(params: { url: string }): string[] {
  const url = new URL(params.url);
  const sig = url.searchParams.get("sig");
  return [
    params.url,
    `${url.host}${url.pathname}`,
    ...(url.pathname.length >= 12 ? [url.pathname] : []),
    ...(url.search ? [url.search, url.search.slice(1)] : []),
    ...(sig ? [sig] : []),
  ].filter((s) => s.length >= 4);
}

function isWorkflowUrl(value: string): boolean {
  if (!/^https?:\/\//i.test(value) || !URL.canParse(value)) return false;
  const url = new URL(value);
  return url.username === "" && url.password === "";
}

async function sendToTeams(
  url: URL,
  message: () => TeamsMessage,
  where: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<SendResult> {
  let body: string;
  try {
    body = JSON.stringify(message());
  } catch (err) {
    // A bug in the builder; the same notification would fail the same way every time.
    return { ok: false, retry: false, reason: "bad_request", detail: `could not build the Teams card: ${messageOf(err)}` };
  }
  const reply = await postJson(url, body, { where, timeoutMs, signal });
  return isReply(reply) ? judgeReply(reply, where) : reply;
}

// Workflows answers 202 (200 from some Power Automate regions); errors carry {"error":{"code","message"}}.
function judgeReply(reply: Reply, where: string): SendResult {
  if (reply.status >= 200 && reply.status < 300) return { ok: true, detail: `posted to ${where}: ${reply.status}` };
  return judgeStatus(reply, where, {
    badRequest: "Teams refused the card (413: too large); report it as a medic bug",
    unauthorized: "the URL's sig is wrong or the workflow is off; copy the URL again from the workflow's trigger",
    notFound: "the workflow was deleted or the URL is wrong; copy it again from the workflow's trigger",
    gone: "the workflow is gone; create it again and update the URL",
  });
}
