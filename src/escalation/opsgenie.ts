import { hostname } from "node:os";
import { z } from "zod";
import { duration } from "../config/fields.js";
import type { ChannelKind } from "./channel.js";
import { buildOpsgenieRequest, OPSGENIE_LIMITS, type OpsgenieResponder } from "./opsgenie-alert.js";
import { isReply, judgeStatus, messageOf, postJson, redactDetail, type Reply } from "./post-json.js";
import type { Notification, NotificationEvent, SendResult } from "./types.js";

// Alert API v2: https://docs.opsgenie.com/docs/alert-api
// Create, acknowledge and close are asynchronous: a valid request is answered 202 {"result": "Request
// will be processed", "took", "requestId"}; 422 names a bad field, 401/403 a bad key or a key without
// the right access, 429 is the rate limit. The alias (the alert's key, the incident id at first) makes
// a resent create a duplicate Opsgenie counts instead of a second alert.

const EVENTS: ReadonlySet<NotificationEvent> = new Set<NotificationEvent>(["trigger", "acknowledge", "resolve"]);
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

const responder = z
  .union([
    z.strictObject({ team: z.string().min(1).max(100) }),
    z.strictObject({ user: z.string().min(1).max(100) }),
    z.strictObject({ escalation: z.string().min(1).max(100) }),
    z.strictObject({ schedule: z.string().min(1).max(100) }),
  ])
  .meta({ description: "One of { team: NAME }, { user: USERNAME }, { escalation: NAME }, { schedule: NAME }" });

const schema = z.strictObject({
  apiKey: z
    .string()
    .min(8, "must be the API key of an Opsgenie API integration (hint: write it as ${OPSGENIE_API_KEY})")
    .regex(/^\S+$/, "must be one word without spaces: the API key of an Opsgenie API integration")
    .meta({
      description:
        "API key of an Opsgenie API integration (create and update access); a secret: write ${OPSGENIE_API_KEY} or ${file:/path}",
      writeOnly: true,
    }),
  apiUrl: z
    .string()
    .refine(isApiUrl, {
      message:
        "must be https://api.opsgenie.com or https://api.eu.opsgenie.com (an origin: no path, no user:password@; http:// only for 127.0.0.1 or localhost)",
    })
    .default("https://api.opsgenie.com")
    .meta({ description: "The Alert API's origin: https://api.opsgenie.com, or https://api.eu.opsgenie.com for the EU instance" }),
  responders: z
    .array(responder)
    .max(OPSGENIE_LIMITS.responders)
    .optional()
    .meta({ description: "Who the alert is routed to; unset, the integration's own team and rules decide" }),
  tags: z
    .array(
      z
        .string()
        .min(1)
        .max(OPSGENIE_LIMITS.tagChars)
        .regex(/^[^\s,]+$/, "a tag is one word: no spaces, no commas"),
    )
    // medic adds three of its own (medic, the kind, the severity) to Opsgenie's 20.
    .max(OPSGENIE_LIMITS.tags - 3)
    .optional()
    .meta({ description: "Tags added to every alert (at most 17 of 50 characters; medic adds medic, the kind and the severity)" }),
  source: z
    .string()
    .min(1)
    .max(OPSGENIE_LIMITS.sourceChars)
    .optional()
    .meta({ description: "The alerts' source (default: this host's name)" }),
  timeout: duration()
    .refine((ms) => ms > 0 && ms <= 300_000, "must be longer than 0 and at most 5m (hint: like 10s)")
    .prefault("10s")
    .meta({ description: "How long one request may take before it counts as failed and is retried (default 10s)" }),
  acknowledgeOnRemediation: z
    .boolean()
    .default(true)
    .meta({ description: "Acknowledge the Opsgenie alert while a playbook works on the incident" }),
});

/** Validated `notify.opsgenie` params. */
export type OpsgenieParams = z.output<typeof schema>;

/** `opsgenie`: pages through the Alert API v2; an alert per key (alias), acknowledged and closed by alias. */
export const opsgenieChannel: ChannelKind<typeof schema> = {
  schema,
  create(params, ctx) {
    const base = new URL(params.apiUrl);
    const options = { source: params.source ?? hostname(), responders: params.responders?.map(toResponder), tags: params.tags };
    const secrets = [params.apiKey];
    return {
      name: ctx.name,
      accepts: EVENTS,
      pages: true,
      send: async (n, signal) => redactDetail(await sendToOpsgenie(n, signal, base, params, options), secrets),
    };
  },
  secrets: (params) => [params.apiKey],
};

function toResponder(r: z.output<typeof responder>): OpsgenieResponder {
  if ("user" in r) return { type: "user", username: r.user };
  if ("team" in r) return { type: "team", name: r.team };
  if ("escalation" in r) return { type: "escalation", name: r.escalation };
  return { type: "schedule", name: r.schedule };
}

function isApiUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  if (url.username || url.password || url.search || url.hash || (url.pathname !== "/" && url.pathname !== "")) return false;
  return url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK.has(url.hostname));
}

async function sendToOpsgenie(
  n: Notification,
  signal: AbortSignal,
  base: URL,
  params: OpsgenieParams,
  options: Parameters<typeof buildOpsgenieRequest>[1],
): Promise<SendResult> {
  const where = `Opsgenie (${base.host})`;
  let path: string;
  let body: string;
  try {
    const request = buildOpsgenieRequest(n, options);
    path = request.path;
    body = JSON.stringify(request.body);
  } catch (err) {
    // A bug (a malformed notification from an old journal, say): the same notification would fail the same way.
    return { ok: false, retry: false, reason: "bad_request", detail: `could not build the Opsgenie request: ${messageOf(err)}` };
  }
  const reply = await postJson(new URL(path, base), body, {
    where,
    timeoutMs: params.timeout,
    signal,
    headers: { authorization: `GenieKey ${params.apiKey}` },
  });
  return isReply(reply) ? judgeReply(reply, where, n.event) : reply;
}

// 202 with a requestId is Opsgenie's "accepted"; anything else 2xx is not its protocol (a proxy's page).
function judgeReply(reply: Reply, where: string, event: NotificationEvent): SendResult {
  if (reply.status >= 200 && reply.status < 300) {
    const requestId = /"requestId"\s*:\s*"([^"]{1,100})"/.exec(reply.text)?.[1];
    if (/"result"\s*:/.test(reply.text))
      return { ok: true, detail: `${where} accepted the ${event}${requestId ? ` (request ${requestId})` : ""}` };
    return {
      ok: false,
      retry: true,
      reason: "bad_reply",
      detail: `${where} answered ${reply.status} ${JSON.stringify(reply.text)}, not the Alert API's reply`,
    };
  }
  return judgeStatus(reply, where, {
    badRequest: "Opsgenie refused a field of the alert; report it as a medic bug, with the field it names",
    unauthorized:
      "check notify.opsgenie.apiKey: the key of an API integration with create and update access, enabled, in this region (an EU account needs apiUrl https://api.eu.opsgenie.com)",
    notFound: "no Alert API at this URL; check notify.opsgenie.apiUrl",
  });
}
