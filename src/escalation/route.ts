import type { Severity } from "../classify/types.js";
import { formatDuration } from "../lib/duration.js";
import { globMatches } from "../lib/glob.js";
import type { EscalationPolicy, PolicyStep } from "./policy.js";

// Alertmanager's routing tree, reduced to what medic needs: a flat list, first match wins,
// `continue` keeps matching, and the top-level policy when nothing matched.

/** The policy a route sends to: timed steps per severity; a severity it leaves out is not its business. */
export type NamedPolicy = Partial<EscalationPolicy>;

/** One route: which incidents (every condition given must hold), and the policy they follow. */
export interface NotifyRoute {
  /** How plans and errors name it: its `name`, or "route N" (1-based). */
  name: string;
  /** Target name globs. */
  targets?: string[];
  /** Target labels that must all be equal. */
  labels?: Record<string, string>;
  kinds?: string[];
  severities?: Severity[];
  policy: string;
  /** Keep matching after this route: the incident follows this policy and the next matching one's. */
  continue: boolean;
}

/** What routing needs from the config. */
export interface RoutingConfig {
  /** The default policy (`escalation.P1`...`P4`): for incidents no route takes. */
  policy: EscalationPolicy;
  policies: Readonly<Record<string, NamedPolicy>>;
  routes: readonly NotifyRoute[];
}

/** What an incident is routed by. */
export interface RouteFacts {
  target: string;
  labels: Readonly<Record<string, string>>;
  kind: string;
  severity: Severity;
}

/** Where an incident's notifications go: the routes that took it, their policies, and the steps in order. */
export interface Routing {
  /** Route names that matched, in order; empty: the default policy. */
  routes: string[];
  /** Policy names, in order: "default" when no route matched. */
  policies: string[];
  /** Every matched policy's steps for the incident's severity, earliest first. */
  steps: PolicyStep[];
}

/** The name plans give the top-level policy. */
export const DEFAULT_POLICY_NAME = "default";

/**
 * Routes an incident: each route in order whose conditions all hold and whose policy has steps for
 * the incident's severity takes it; the first without `continue` ends the walk. Nothing matched: the
 * default policy. Pure; asked again on every review, so a raised severity or a reload re-routes.
 */
export function routeIncident(facts: RouteFacts, config: RoutingConfig): Routing {
  const routes: string[] = [];
  const policies: string[] = [];
  const steps: PolicyStep[] = [];
  for (const route of config.routes) {
    const policySteps = config.policies[route.policy]?.[facts.severity];
    if (!policySteps?.length || !matches(route, facts)) continue;
    routes.push(route.name);
    policies.push(route.policy);
    steps.push(...policySteps);
    if (!route.continue) break;
  }
  if (routes.length === 0) return { routes, policies: [DEFAULT_POLICY_NAME], steps: config.policy[facts.severity] ?? [] };
  // Stable: steps of equal delay keep their policies' order.
  return { routes, policies, steps: steps.sort((a, b) => a.afterMs - b.afterMs) };
}

/** Whether every condition the route gives holds for the incident. */
export function matches(route: NotifyRoute, facts: RouteFacts): boolean {
  if (route.targets && !route.targets.some((glob) => globMatches(glob, facts.target))) return false;
  if (route.labels && !Object.entries(route.labels).every(([k, v]) => facts.labels[k] === v)) return false;
  if (route.kinds && !route.kinds.includes(facts.kind)) return false;
  if (route.severities && !route.severities.includes(facts.severity)) return false;
  return true;
}

/** Lines for `medic plan`: which route and policy an incident takes, and who hears when. */
export function renderRouting(routing: Routing, configured: ReadonlySet<string>): string[] {
  const via = routing.routes.length === 0 ? "no route matched: the default policy" : `route ${routing.routes.join(", then ")}`;
  const head = `notify (${via} -> policy ${routing.policies.join(" + ")})`;
  if (routing.steps.length === 0) return [head, "  nobody: the policy has no steps at this severity (the log only)"];
  const lines = routing.steps.map((step) => {
    const names = step.notify.map((c) => (configured.has(c) ? c : `${c} (not configured: skipped)`));
    const when = step.afterMs === 0 ? "at once" : `after ${formatDuration(step.afterMs)}`;
    return `  ${when.padEnd(12)} ${names.join(", ")}`;
  });
  return [head, ...lines, "  until a person acknowledges it; a resolve goes to every channel that was told"];
}
