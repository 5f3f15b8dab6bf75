import { evidenceLine, plain, quote } from "../classify/evidence.js";
import type { Severity } from "../classify/types.js";
import { SAFE_NAME } from "../config/fields.js";
import type { AlertRoute } from "../config/types.js";
import type { WebhookAlert } from "./payload.js";

/** Where an alert goes: the target, incident kind and severity its route gives it. */
export interface AlertMapping {
  target: string;
  kind: string;
  severity: Severity;
  /** Which route (index in config) matched. */
  route: number;
}

/** Why an alert does not become an incident. */
export interface Unroutable {
  outcome: "no_route" | "bad_target";
  detail: string;
}

/**
 * The first route whose matchers all hold, as Alertmanager reads matchers: a label that is absent
 * has the empty value, and regular expressions are anchored (done at config load).
 */
export function matchRoute(labels: Readonly<Record<string, string>>, routes: readonly AlertRoute[]): number | undefined {
  const value = (name: string) => (Object.hasOwn(labels, name) ? labels[name]! : "");
  const index = routes.findIndex(
    (r) =>
      Object.entries(r.match).every(([name, want]) => value(name) === want) &&
      Object.entries(r.matchRe).every(([name, re]) => re.test(value(name))),
  );
  return index < 0 ? undefined : index;
}

/** The target, kind and severity for an alert, or why it has none. */
export function mapAlert(
  alert: WebhookAlert,
  routes: readonly AlertRoute[],
  severities: Readonly<Record<string, Severity>>,
): AlertMapping | Unroutable {
  const index = matchRoute(alert.labels, routes);
  if (index === undefined) return { outcome: "no_route", detail: "no alertmanager route in medic's config matches its labels" };
  const route = routes[index]!;
  let target = route.target;
  if (target === undefined) {
    const label = route.targetLabel!;
    const value = Object.hasOwn(alert.labels, label) ? alert.labels[label]! : undefined;
    // The value names a target medic acts on: only a well-formed name goes any further.
    if (value === undefined || !SAFE_NAME.test(value)) {
      const got = value === undefined ? "it is missing" : `got ${quote(value, 60)}`;
      return { outcome: "bad_target", detail: `label ${plain(label, 60)} must name a target (${got})` };
    }
    target = value;
  }
  return { target, kind: route.kind, severity: route.severity ?? severities[route.kind] ?? "P3", route: index };
}

/**
 * The incident evidence for an alert: one line, every outside value stripped of control and
 * invisible characters, quoted and capped, so a hostile label cannot break a log line, a
 * notification or (through `{{ incident.evidence }}`) a step's argument.
 */
export function alertEvidence(alert: WebhookAlert): string {
  const name = Object.hasOwn(alert.labels, "alertname") ? alert.labels.alertname! : "(no alertname)";
  const a = alert.annotations;
  const text = [a.summary, a.description, a.message].find((t) => typeof t === "string" && t.trim() !== "");
  const labels = Object.entries(alert.labels)
    .filter(([k]) => k !== "alertname")
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .slice(0, 8)
    .map(([k, v]) => `${plain(k, 40)}=${quote(v, 60)}`)
    .join(" ");
  return evidenceLine([
    `alert ${quote(name, 80)} firing since ${new Date(Date.parse(alert.startsAt)).toISOString()}`,
    text ? plain(text, 160) : "",
    labels ? `labels ${labels}` : "",
  ]);
}
