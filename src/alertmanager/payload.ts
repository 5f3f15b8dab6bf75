import { z } from "zod";
import { plain } from "../classify/evidence.js";

// Alertmanager's webhook payload, version 4:
// https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
// Fields medic does not use (receiver, groupKey, externalURL, generatorURL, ...) are allowed and
// dropped; the ones it acts on are checked strictly.

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
const timestamp = z
  .string()
  .refine((s) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)), "must be an RFC 3339 time, like 2024-05-01T12:00:00Z");
const status = z.enum(["firing", "resolved"]);
// Generous bounds: a real alert is far smaller; an absurd one is refused, not truncated silently.
const labelSet = z
  .record(z.string().min(1).max(256), z.string().max(4096))
  .refine((l) => Object.keys(l).length <= 128, "at most 128 labels");

const alertSchema = z.object({
  status,
  labels: labelSet,
  annotations: z.record(z.string().max(256), z.string().max(16_384)).default({}),
  startsAt: timestamp,
  /** 0001-01-01T00:00:00Z while firing. */
  endsAt: timestamp.optional(),
  /** The label set's hash: stable for one alert across notifications. */
  fingerprint: z.string().regex(/^[0-9A-Za-z]{1,64}$/, "must be Alertmanager's hex fingerprint"),
});

/** The webhook body Alertmanager posts (version 4). */
export const webhookSchema = z.object({
  version: z.literal("4", { error: 'must be "4" (hint: medic reads Alertmanager\'s webhook payload version 4)' }),
  status,
  alerts: z.array(alertSchema).max(1000),
});

/** One alert of a webhook payload. */
export type WebhookAlert = z.output<typeof alertSchema>;
/** A parsed webhook payload. */
export type WebhookPayload = z.output<typeof webhookSchema>;

/** The payload, or the first few problems as `path: message`. */
export function parseWebhook(body: unknown): { ok: true; payload: WebhookPayload } | { ok: false; problems: string[] } {
  const parsed = webhookSchema.safeParse(body);
  if (parsed.success) return { ok: true, payload: parsed.data };
  const problems = parsed.error.issues.slice(0, 5).map((i) => `${pathText(i.path) || "(body)"}: ${i.message}`);
  return { ok: false, problems };
}

function pathText(path: readonly PropertyKey[]): string {
  // A key may be a hostile label name: the problem is shown back, so it is stripped and capped.
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${plain(String(p), 60)}`)).join("");
}
