import { plain } from "../classify/evidence.js";
import type { Severity } from "../classify/types.js";
import type { AlertRoute } from "../config/types.js";
import type { CommandPort } from "../daemon/ports.js";
import { describeError, MedicError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";
import type { WebhookAlert, WebhookPayload } from "./payload.js";
import { alertEvidence, mapAlert } from "./route.js";

/** What became of one alert. */
export type AlertOutcome =
  | "opened"
  | "joined" // firing: an incident was opened, or an open one joined
  | "resolved"
  | "kept_open"
  | "not_open" // resolved: closed after a healthy probe, still failing or under a playbook, or nothing to close
  | "no_route"
  | "bad_target"
  | "unknown_target";

/** One alert's outcome, as the webhook's reply lists it. */
export interface AlertResult {
  fingerprint: string;
  status: "firing" | "resolved";
  outcome: AlertOutcome;
  incident?: string;
  detail?: string;
}

/** What the receiver needs. */
export interface ReceiverOptions {
  daemon: Pick<CommandPort, "raiseExternal" | "resolveExternal">;
  routes: readonly AlertRoute[];
  severities: Readonly<Record<string, Severity>>;
  log: Logger;
  /** Counts each alert's outcome (metrics). */
  count?: (status: string, outcome: AlertOutcome) => void;
}

/** The webhook's outcome: every alert handled, or stopped at one that failed (`transient`: retrying may help). */
export type ReceiveResult =
  { ok: true; results: AlertResult[] } | { ok: false; transient: boolean; detail: string; results: AlertResult[] };

/** The incident source an alert is known by: the same alert always maps to the same incident. */
export function alertSource(fingerprint: string): string {
  return `alertmanager:${fingerprint}`;
}

/**
 * Handles a webhook payload in order: a firing alert opens (or joins) an incident that is
 * remediated like a probe-found one; a resolved alert closes its incident once a fresh probe is
 * healthy. Safe to repeat: Alertmanager resends a whole payload after a 5xx, and the same
 * fingerprint joins the same incident.
 */
export async function receiveAlerts(payload: WebhookPayload, opts: ReceiverOptions): Promise<ReceiveResult> {
  const results: AlertResult[] = [];
  for (const alert of payload.alerts) {
    let result: AlertResult;
    try {
      result = alert.status === "firing" ? raise(alert, opts) : await resolve(alert, opts);
    } catch (err) {
      const detail = describeError(err);
      const transient = isTransient(err);
      opts.log.error({ fingerprint: alert.fingerprint, status: alert.status, err: detail, transient }, "alert could not be handled");
      return { ok: false, transient, detail, results };
    }
    opts.count?.(alert.status, result.outcome);
    const level = result.outcome === "no_route" || result.outcome === "bad_target" || result.outcome === "unknown_target" ? "warn" : "info";
    opts.log[level]({ ...result, alertname: plain(alert.labels.alertname ?? "", 80) }, "alert from alertmanager");
    results.push(result);
  }
  return { ok: true, results };
}

function raise(alert: WebhookAlert, opts: ReceiverOptions): AlertResult {
  const base = { fingerprint: alert.fingerprint, status: alert.status };
  const mapped = mapAlert(alert, opts.routes, opts.severities);
  if ("outcome" in mapped) return { ...base, ...mapped };
  try {
    const { incident, created } = opts.daemon.raiseExternal({
      target: mapped.target,
      kind: mapped.kind,
      severity: mapped.severity,
      evidence: alertEvidence(alert),
      source: alertSource(alert.fingerprint),
    });
    return { ...base, outcome: created ? "opened" : "joined", incident };
  } catch (err) {
    // Not a transient failure: retrying the same alert finds the same config.
    if (err instanceof MedicError && err.code === "unknown_target")
      return { ...base, outcome: "unknown_target", detail: `no target named ${JSON.stringify(mapped.target)} is watched` };
    throw err;
  }
}

async function resolve(alert: WebhookAlert, opts: ReceiverOptions): Promise<AlertResult> {
  const base = { fingerprint: alert.fingerprint, status: alert.status };
  const r = await opts.daemon.resolveExternal(alertSource(alert.fingerprint));
  if (r.incident === undefined) return { ...base, outcome: "not_open", detail: r.detail };
  return { ...base, outcome: r.resolved ? "resolved" : "kept_open", incident: r.incident, detail: r.detail };
}

/** Whether retrying may help: a MedicError that says so, or a system error (disk full, I/O error, too many open files). */
export function isTransient(err: unknown): boolean {
  if (err instanceof MedicError) return err.retryable;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code);
}
