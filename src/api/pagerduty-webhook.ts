import { createHmac, timingSafeEqual } from "node:crypto";
import { ApiError, parseJson } from "./http.js";
import type { ApiContext, Route } from "./types.js";

// PagerDuty v3 webhooks: https://developer.pagerduty.com/docs/webhooks/v3-overview/
// Each delivery is signed: X-PagerDuty-Signature holds one or more comma-separated `v1=<hex>`, each an
// HMAC-SHA256 of the raw body with a subscription's secret (several while a secret is rotated). The
// incident's `incident_key` is the dedup_key medic sent: the medic incident id, or `<id>:2` after a failed fix.

const SIGNATURE = /^v1=([0-9a-f]{64})$/;
/** How the API names the person in the journal: "Jane Doe (PagerDuty)". */
const AGENT_NAME = /^[^\u0000-\u001f\u007f]{1,100}$/;

/** What a delivery asked of medic, and what medic did. */
export type WebhookOutcome = { done: "acknowledged"; incident: string; by: string } | { done: "ignored"; why: string };

/** Whether any of the header's signatures is the body's under any of the secrets (compared in constant time). */
export function signedBy(header: string | string[] | undefined, body: Buffer, secrets: readonly string[]): boolean {
  const given = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map((s) => SIGNATURE.exec(s.trim())?.[1])
    .filter((hex): hex is string => hex !== undefined)
    .map((hex) => Buffer.from(hex, "hex"));
  return secrets.some((secret) => {
    const mine = createHmac("sha256", secret).update(body).digest();
    return given.some((sig) => sig.length === mine.length && timingSafeEqual(sig, mine));
  });
}

/**
 * `POST /api/pagerduty/webhook`: a person's acknowledgement in PagerDuty acknowledges the medic
 * incident whose page it was, so the escalation stops climbing. Authenticated by the signature, not
 * a token (PagerDuty cannot hold one); an acknowledgement by anything but a user (medic's own, through
 * the Events API, comes back as the integration's) is not a person's, and is ignored.
 */
export const pagerdutyWebhookRoute: Route = {
  method: "POST",
  path: "/api/pagerduty/webhook",
  access: "open",
  handle: async (req, ctx) => {
    const secrets = webhookSecrets(ctx);
    if (secrets.length === 0)
      throw new ApiError(404, "no PagerDuty webhook is configured", "set webhookSecret on a pagerduty channel in medic.yaml");
    const bytes = await req.raw();
    if (!signedBy(req.headers["x-pagerduty-signature"], bytes, secrets))
      throw new ApiError(
        401,
        "the X-PagerDuty-Signature does not match the body",
        "check the channel's webhookSecret against the subscription's",
      );
    const outcome = await act(parseJson(bytes), ctx);
    ctx.log.info(outcome, "PagerDuty webhook");
    // 2xx whatever was done: anything else makes PagerDuty retry, then disable the subscription.
    return { status: 200, json: outcome };
  },
};

function webhookSecrets(ctx: ApiContext): string[] {
  return ctx.config.notify.channels.flatMap((c) => {
    const secret = c.kind === "pagerduty" ? (c.params as { webhookSecret?: unknown }).webhookSecret : undefined;
    return typeof secret === "string" ? [secret] : [];
  });
}

async function act(payload: unknown, ctx: ApiContext): Promise<WebhookOutcome> {
  const event = (payload as { event?: Record<string, unknown> } | null)?.event;
  const type = event?.event_type;
  if (type !== "incident.acknowledged")
    return { done: "ignored", why: `event ${JSON.stringify(String(type).slice(0, 60))} is not an acknowledgement` };
  const agent = event!.agent as { type?: unknown; summary?: unknown } | null | undefined;
  if (agent?.type !== "user_reference") return { done: "ignored", why: "acknowledged by an integration, not a person" };
  const key = (event!.data as { incident_key?: unknown } | null | undefined)?.incident_key;
  if (typeof key !== "string" || !/^[\w.-]{1,100}(?::\d{1,6})?$/.test(key)) return { done: "ignored", why: "no medic dedup key" };
  const id = key.replace(/:\d+$/, "");
  const found = await ctx.daemon.findIncident(id);
  const incident = found.found?.id === id ? found.found : undefined;
  if (!incident) return { done: "ignored", why: `no medic incident ${id}` };
  if (incident.state === "resolved") return { done: "ignored", why: `incident ${id} is resolved` };
  if (incident.acknowledged) return { done: "ignored", why: `incident ${id} was already acknowledged by ${incident.acknowledged.by}` };
  const name = typeof agent.summary === "string" && AGENT_NAME.test(agent.summary) ? agent.summary : "someone";
  const by = `${name} (PagerDuty)`;
  const acked = await ctx.daemon.acknowledge(id, by, "acknowledged in PagerDuty");
  return acked ? { done: "acknowledged", incident: id, by } : { done: "ignored", why: `incident ${id} is no longer open` };
}
