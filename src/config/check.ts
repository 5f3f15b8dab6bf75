import picomatch from "picomatch";
import { BUILTIN_KINDS } from "../classify/types.js";
import { stepKinds } from "../playbooks/steps/registry.js";
import { displayFile, suggest, suggestHint, type ConfigIssue } from "./issues.js";
import { list, record, strings } from "./raw.js";
import { issueAt, positionOf, type YamlSource } from "./locate.js";
import { checkStoreOverlap, type PlaybookReach } from "./store-overlap.js";
import { checkChannelNames, checkNotifyRoutes } from "./check-routes.js";

/** A parsed file and its data (after `${...}` substitution), valid or not. */
export interface RawFile {
  source: YamlSource;
  data: unknown;
}

interface RawTarget {
  index: number;
  name: string;
  labels: Record<string, unknown>;
  hasService: boolean;
  dependsOn: string[];
}

/**
 * Checks that span entries or files: duplicate names, dependsOn, incident kinds, playbook/target matches, alert routes,
 * targets and steps that reach the server of medic's own store.
 * Works on raw data so it runs even when schema validation failed elsewhere; it only looks at well-formed parts.
 * `config` is undefined when the config could not be parsed: then nothing that needs it is checked.
 */
export function crossCheck(config: RawFile | undefined, playbooks: readonly RawFile[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const root = record(config?.data);
  const targets = config ? checkTargets(config.source, list(root.targets), issues) : undefined;
  const ruleKinds = list(root.rules)
    .map((r) => record(r).kind)
    .filter((k): k is string => typeof k === "string");
  const knownKinds = [...new Set([...Object.keys(BUILTIN_KINDS), ...ruleKinds])];
  if (config) {
    for (const kind of Object.keys(record(root.severities))) {
      if (!knownKinds.includes(kind))
        issues.push(
          issueAt(config.source, ["severities", kind], `unknown incident kind "${kind}"`, {
            anchor: "key",
            hint: kindsHint(kind, knownKinds),
          }),
        );
    }
    list(root.rules).forEach((raw, i) => {
      const rule = record(raw);
      if (targets && targets.length > 0 && matching(targets, strings(rule.targets) ?? ["*"], {}).length === 0) {
        issues.push(
          issueAt(config.source, ["rules", i, "targets"], `rule for "${String(rule.kind)}" matches no target`, {
            level: "warning",
            hint: `targets are ${targets.map((t) => t.name).join(", ")}`,
          }),
        );
      }
    });
    checkAlertRoutes(config.source, root, targets, knownKinds, issues);
    const alertKinds = list(record(root.alertmanager).routes).map((r) => record(r).kind);
    const routedKinds = [...knownKinds, ...alertKinds.filter((k): k is string => typeof k === "string" && !knownKinds.includes(k))];
    checkChannelNames(config.source, root, issues);
    checkNotifyRoutes(config.source, root, targets, routedKinds, issues);
    checkPlacement(config.source, root, issues);
    checkTokenNames(config.source, record(root.api), issues);
    list(record(root.approvals).rules).forEach((rule, i) =>
      list(record(rule).kinds).forEach((kind, j) => {
        if (typeof kind !== "string" || stepKinds.has(kind)) return;
        issues.push(
          issueAt(config.source, ["approvals", "rules", i, "kinds", j], `unknown step kind "${kind}"`, {
            hint: suggestHint(kind, [...stepKinds.keys()]),
          }),
        );
      }),
    );
  }
  const names = new Map<string, string>();
  const reach: PlaybookReach[] = [];
  for (const { source, data } of playbooks) {
    const pb = record(data);
    if (typeof pb.name === "string") {
      const first = names.get(pb.name);
      if (first)
        issues.push(
          issueAt(source, ["name"], `playbook name "${pb.name}" is already used at ${first}`, {
            hint: "playbook names must be unique; rename one of them",
          }),
        );
      else names.set(pb.name, `${displayFile(source.file)}:${positionOf(source, ["name"]).line}`);
    }
    if (!config) continue;
    list(pb.on).forEach((kind, i) => {
      if (typeof kind === "string" && !knownKinds.includes(kind)) {
        issues.push(issueAt(source, ["on", i], `unknown incident kind "${kind}"`, { hint: kindsHint(kind, knownKinds) }));
      }
    });
    if (!targets) continue;
    const matched = matching(targets, strings(pb.targets) ?? ["*"], record(pb.labels));
    reach.push({ source, data, matched: matched.map((t) => t.name) });
    checkMatches(source, pb, matched, targets, issues);
  }
  if (config) issues.push(...checkStoreOverlap(config.source, root, reach));
  return issues;
}

// An alert route names a kind medic knows and, unless discovery may add it later, a configured target.
function checkAlertRoutes(
  source: YamlSource,
  root: Record<string, unknown>,
  targets: RawTarget[] | undefined,
  knownKinds: string[],
  issues: ConfigIssue[],
): void {
  const discovers = record(root.discovery).docker != null;
  const names = (targets ?? []).map((t) => t.name);
  list(record(root.alertmanager).routes).forEach((raw, i) => {
    const route = record(raw);
    if (typeof route.kind === "string" && !knownKinds.includes(route.kind)) {
      issues.push(
        issueAt(source, ["alertmanager", "routes", i, "kind"], `unknown incident kind "${route.kind}"`, {
          hint: kindsHint(route.kind, knownKinds),
        }),
      );
    }
    if (typeof route.target === "string" && targets && !discovers && !names.includes(route.target)) {
      issues.push(
        issueAt(source, ["alertmanager", "routes", i, "target"], `unknown target "${route.target}"`, {
          hint: suggestHint(
            route.target,
            names,
            names.length > 0 ? `targets are ${names.join(", ")}; or take it from a label with targetLabel:` : "the config has no targets",
          ),
        }),
      );
    }
  });
}

function checkTargets(source: YamlSource, raw: unknown[], issues: ConfigIssue[]): RawTarget[] {
  const targets: RawTarget[] = [];
  const first = new Map<string, RawTarget>();
  raw.forEach((item, index) => {
    const t = record(item);
    if (typeof t.name !== "string") return;
    const target = { index, name: t.name, labels: record(t.labels), hasService: t.service != null, dependsOn: strings(t.dependsOn) ?? [] };
    const earlier = first.get(t.name);
    if (earlier) {
      const at = positionOf(source, ["targets", earlier.index, "name"]);
      issues.push(
        issueAt(source, ["targets", index, "name"], `target name "${t.name}" is already used at ${displayFile(source.file)}:${at.line}`, {
          hint: "target names must be unique; rename one of them",
        }),
      );
      return;
    }
    first.set(t.name, target);
    targets.push(target);
  });
  for (const t of targets) {
    t.dependsOn.forEach((dep, j) => {
      if (!first.has(dep)) {
        issues.push(
          issueAt(source, ["targets", t.index, "dependsOn", j], `unknown target "${dep}"`, {
            hint: suggestHint(dep, [...first.keys()], `targets are ${[...first.keys()].join(", ")}`),
          }),
        );
      }
    });
  }
  for (const cycle of findCycles(targets, first)) {
    const [from, to] = [first.get(cycle[cycle.length - 2]!)!, cycle[cycle.length - 1]!];
    issues.push(
      issueAt(source, ["targets", from.index, "dependsOn", from.dependsOn.indexOf(to)], `dependsOn cycle: ${cycle.join(" -> ")}`, {
        hint: "dependencies must not loop back; remove one of these dependsOn entries",
      }),
    );
  }
  return targets;
}

// Each cycle once, as found by a depth-first walk in config order: ["a", "b", "a"].
function findCycles(targets: RawTarget[], byName: Map<string, RawTarget>): string[][] {
  const state = new Map<string, "open" | "done">();
  const cycles: string[][] = [];
  const stack: string[] = [];
  const walk = (name: string): void => {
    state.set(name, "open");
    stack.push(name);
    for (const dep of byName.get(name)?.dependsOn ?? []) {
      if (!byName.has(dep)) continue;
      if (state.get(dep) === "open") cycles.push([...stack.slice(stack.indexOf(dep)), dep]);
      else if (!state.has(dep)) walk(dep);
    }
    stack.pop();
    state.set(name, "done");
  };
  for (const t of targets) if (!state.has(t.name)) walk(t.name);
  return cycles;
}

function checkMatches(
  source: YamlSource,
  pb: Record<string, unknown>,
  matched: RawTarget[],
  targets: RawTarget[],
  issues: ConfigIssue[],
): void {
  const name = typeof pb.name === "string" ? pb.name : "(unnamed)";
  if (matched.length === 0 && targets.length > 0) {
    issues.push(
      issueAt(
        source,
        [pb.targets !== undefined ? "targets" : pb.labels !== undefined ? "labels" : "name"],
        `playbook "${name}" matches no target`,
        {
          level: "warning",
          hint: `check its targets and labels; targets are ${targets.map((t) => t.name).join(", ")}`,
        },
      ),
    );
  }
  const steps = list(pb.steps);
  const needing = steps.findIndex((s) => Object.keys(record(s)).some((k) => stepKinds.get(k)?.needsService));
  if (needing < 0) return;
  const kind = Object.keys(record(steps[needing])).find((k) => stepKinds.get(k)?.needsService)!;
  const without = matched.filter((t) => !t.hasService).map((t) => t.name);
  if (without.length === 0) return;
  // One warning per playbook: a catch-all playbook would otherwise warn once per service-less target.
  const names = without.length > 5 ? `${without.slice(0, 5).join(", ")} and ${without.length - 5} more` : without.join(", ");
  const which = without.length === 1 ? "1 target it matches has" : `${without.length} targets it matches have`;
  issues.push(
    issueAt(
      source,
      ["steps", needing, kind],
      `step "${kind}" needs a service, but ${which} none (${names}); on them this playbook escalates instead`,
      {
        anchor: "key",
        level: "warning",
        hint: "add service: to those targets, or narrow this playbook's targets or labels",
      },
    ),
  );
}

function matching(targets: RawTarget[], globs: string[], labels: Record<string, unknown>): RawTarget[] {
  let isMatch: (name: string) => boolean;
  try {
    isMatch = picomatch(globs);
  } catch {
    return targets; // a glob picomatch cannot read is reported by the schema, not here
  }
  return targets.filter((t) => isMatch(t.name) && Object.entries(labels).every(([k, v]) => t.labels[k] === v));
}

function kindsHint(kind: string, known: string[]): string {
  const close = suggest(kind, known);
  return `${close ? `did you mean "${close}"? ` : ""}known kinds: ${known.join(", ")}; a rule in medic.yaml can define more`;
}

// A cluster on several hosts must know which one a local service is on, or the leader would restart
// a process on its own host that lives on another.
function checkPlacement(source: YamlSource, root: Record<string, unknown>, issues: ConfigIssue[]): void {
  if (!record(root.store).postgres) return;
  list(root.targets).forEach((raw, i) => {
    const t = record(raw);
    const kind = Object.keys(record(t.service))[0];
    if (t.node !== undefined || (kind !== "process" && kind !== "systemd")) return;
    issues.push(
      issueAt(source, ["targets", i, "service"], `target "${String(t.name)}" has a ${kind} service but names no node`, {
        level: "warning",
        anchor: "key",
        hint: "in a cluster on several hosts, add node: NAME (the node on that service's host); without it any leader acts on it on its own host",
      }),
    );
  });
}

// Each token names one holder: the journal's `by` must say who, so two tokens may not share a name
// (api.tokenFile is the holder "admin").
function checkTokenNames(source: YamlSource, api: Record<string, unknown>, issues: ConfigIssue[]): void {
  const seen = new Map<string, (string | number)[]>();
  if (typeof api.tokenFile === "string") seen.set("admin", ["api", "tokenFile"]);
  list(api.tokens).forEach((raw, i) => {
    const name = record(raw).name;
    if (typeof name !== "string") return;
    const earlier = seen.get(name);
    if (earlier) {
      const at = positionOf(source, earlier);
      issues.push(
        issueAt(source, ["api", "tokens", i, "name"], `token name "${name}" is already used at ${displayFile(source.file)}:${at.line}`, {
          hint:
            name === "admin" && earlier[1] === "tokenFile"
              ? "api.tokenFile is the approver named admin; name this token otherwise, or move api.tokenFile into api.tokens"
              : "each person or tool gets a token of its own, with its own name",
        }),
      );
      return;
    }
    seen.set(name, ["api", "tokens", i, "name"]);
  });
}
