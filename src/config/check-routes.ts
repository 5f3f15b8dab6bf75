import picomatch from "picomatch";
import { SEVERITIES } from "../classify/types.js";
import { SELF_PAGE_KIND } from "../escalation/types.js";
import { channelKinds } from "../escalation/registry.js";
import { suggest, suggestHint, type ConfigIssue } from "./issues.js";
import { list, record, strings } from "./raw.js";
import { issueAt, type YamlSource } from "./locate.js";

/** A target as routes see it: its name and labels. */
export interface RoutedTarget {
  name: string;
  labels: Record<string, unknown>;
}

interface RawRoute {
  index: number;
  label: string;
  targets?: string[];
  labels?: Record<string, unknown>;
  kinds?: string[];
  severities?: string[];
  policy: string;
  continues: boolean;
}

/**
 * Channels by name: a named channel does not take a configured kind's name; every channel a policy
 * step names is configured; every route's policy exists.
 */
export function checkChannelNames(source: YamlSource, root: Record<string, unknown>, issues: ConfigIssue[]): void {
  const notify = record(root.notify);
  const escalation = record(root.escalation);
  const byKind = Object.keys(notify).filter((k) => channelKinds.has(k) && k !== "console" && notify[k] != null);
  const named = Object.keys(record(notify.channels));
  for (const name of named.filter((n) => n === "console" || byKind.includes(n))) {
    issues.push(
      issueAt(source, ["notify", "channels", name], `a channel named ${JSON.stringify(name)} already exists`, {
        anchor: "key",
        hint:
          name === "console"
            ? "console is medic's log; pick another name"
            : `notify.${name} is already the channel named ${name}; rename this one`,
      }),
    );
  }
  const configured = ["console", ...byKind, ...named];
  const checkSteps = (path: (string | number)[], policy: Record<string, unknown>) => {
    for (const severity of SEVERITIES) {
      list(policy[severity]).forEach((step, i) =>
        list(record(step).notify).forEach((channel, j) => {
          if (typeof channel !== "string" || configured.includes(channel)) return;
          issues.push(
            issueAt(source, [...path, severity, i, "notify", j], `no channel named ${JSON.stringify(channel)} is configured`, {
              hint: suggestHint(
                channel,
                configured,
                `configure it under notify: or notify.channels:, or use one of ${configured.join(", ")}`,
              )!,
            }),
          );
        }),
      );
    }
  };
  checkSteps(["escalation"], escalation);
  const policies = record(escalation.policies);
  for (const [name, policy] of Object.entries(policies)) checkSteps(["escalation", "policies", name], record(policy));
  const names = Object.keys(policies);
  list(escalation.routes).forEach((route, i) => {
    const policy = record(route).policy;
    if (typeof policy !== "string" || names.includes(policy)) return;
    issues.push(
      issueAt(source, ["escalation", "routes", i, "policy"], `no policy named ${JSON.stringify(policy)}`, {
        hint: suggestHint(policy, names, names.length ? `policies are ${names.join(", ")}` : "define it under escalation.policies:")!,
      }),
    );
  });
}

/**
 * Notification routes that can never match, each at its file:line:col: an unknown incident kind, a
 * policy with no steps at any severity the route takes, a route every incident it could take is
 * already taken by an earlier route that does not continue, and (a warning, as targets come and
 * go with discovery and reloads) one that matches no configured target.
 */
export function checkNotifyRoutes(
  source: YamlSource,
  root: Record<string, unknown>,
  targets: RoutedTarget[] | undefined,
  knownKinds: readonly string[],
  issues: ConfigIssue[],
): void {
  const escalation = record(root.escalation);
  const policies = record(escalation.policies);
  const kinds = [...knownKinds, SELF_PAGE_KIND];
  const discovers = record(root.discovery).docker != null;
  const routes = list(escalation.routes).flatMap((raw, index): RawRoute[] => {
    const r = record(raw);
    if (typeof r.policy !== "string") return [];
    return [
      {
        index,
        label: typeof r.name === "string" ? r.name : `route ${index + 1}`,
        ...(strings(r.targets) && { targets: strings(r.targets)! }),
        ...(r.labels !== undefined && { labels: record(r.labels) }),
        ...(strings(r.kinds) && { kinds: strings(r.kinds)! }),
        ...(strings(r.severities) && { severities: strings(r.severities)! }),
        policy: r.policy,
        continues: r.continue === true,
      },
    ];
  });
  const at = (route: RawRoute, ...path: (string | number)[]) => ["escalation", "routes", route.index, ...path];
  for (const [n, route] of routes.entries()) {
    route.kinds?.forEach((kind, j) => {
      if (kinds.includes(kind)) return;
      const close = suggest(kind, kinds);
      issues.push(
        issueAt(source, at(route, "kinds", j), `${route.label} can never match: no incident is of kind "${kind}"`, {
          hint: `${close ? `did you mean "${close}"? ` : ""}known kinds: ${kinds.join(", ")}; a rule in medic.yaml can define more`,
        }),
      );
    });
    const policy = policies[route.policy];
    if (policy !== undefined) {
      const stepped = SEVERITIES.filter((s) => list(record(policy)[s]).length > 0);
      const wanted = route.severities ?? [...SEVERITIES];
      if (!wanted.some((s) => stepped.includes(s as never))) {
        issues.push(
          issueAt(source, at(route, route.severities ? "severities" : "policy"), `${route.label} can never match`, {
            hint: `policy ${route.policy} has steps for ${stepped.join(", ") || "no severity"} only, and a route is passed over at a severity its policy leaves out`,
          }),
        );
      }
    }
    const shadow = routes.slice(0, n).find((earlier) => !earlier.continues && covers(earlier, route, (r) => reach(r, policies)));
    if (shadow) {
      issues.push(
        issueAt(
          source,
          at(route),
          `${route.label} can never match: ${shadow.label} above takes every incident it would and does not continue`,
          {
            anchor: "key",
            hint: `move it above ${shadow.label}, or give ${shadow.label} continue: true`,
          },
        ),
      );
      continue;
    }
    if (targets && !discovers && (route.targets || route.labels) && !targets.some((t) => takes(route, t))) {
      issues.push(
        issueAt(source, at(route, route.labels ? "labels" : "targets"), `${route.label} matches no target`, {
          level: "warning",
          hint: targets.length ? `targets are ${targets.map((t) => t.name).join(", ")}` : "the config has no targets",
        }),
      );
    }
  }
}

// The severities a route can take: those it names (or all) at which its policy has steps.
function reach(route: RawRoute, policies: Record<string, unknown>): string[] {
  const policy = record(policies[route.policy]);
  return (route.severities ?? [...SEVERITIES]).filter((s) => list(policy[s]).length > 0);
}

// Whether `earlier` takes every incident `later` could: each of its conditions is absent or no narrower,
// and at every severity `later` can take, `earlier`'s policy has steps (a route is passed over where it has none).
// Conservative: a glob only covers what it names or "*"/"**".
function covers(earlier: RawRoute, later: RawRoute, severities: (r: RawRoute) => string[]): boolean {
  if (!severities(later).every((s) => severities(earlier).includes(s))) return false;
  const superset = <T>(a: T[] | undefined, b: T[] | undefined) => a === undefined || (b !== undefined && b.every((x) => a.includes(x)));
  const globs =
    earlier.targets === undefined ||
    earlier.targets.some((g) => g === "*" || g === "**") ||
    (later.targets !== undefined && later.targets.every((g) => earlier.targets!.includes(g)));
  const labels = Object.entries(earlier.labels ?? {}).every(([k, v]) => later.labels?.[k] === v);
  return globs && labels && superset(earlier.kinds, later.kinds);
}

function takes(route: RawRoute, target: RoutedTarget): boolean {
  let named = true;
  try {
    named = route.targets === undefined || picomatch(route.targets)(target.name);
  } catch {
    // a glob picomatch cannot read is the schema's to report
  }
  return named && Object.entries(route.labels ?? {}).every(([k, v]) => target.labels[k] === v);
}
