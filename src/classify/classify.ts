import picomatch from "picomatch";
import type { Observation, HealthSummary } from "../probes/types.js";
import type { Rule, Target } from "../config/types.js";
import { BUILTIN_KINDS, type BuiltinKind, type Finding, type Severity } from "./types.js";
import { conditionValues, evaluateCondition } from "./evaluate.js";
import { judgeContainer } from "./container.js";
import { DATABASE_PROBES, judgeDatabaseFailure, judgeLongTransactions, whichSideIsBroken, type DependencyView } from "./database.js";
import { databaseField, evidenceLine, plain, quote } from "./evidence.js";

// Order of judgement: the first that applies wins. Operators write rules against it, so keep it
// stable and keep this list in step with the code below.
//   a. no answer at all (obs.error: refused, timeout, reset, not HTTP, process gone)   => server_down
//      (from a database probe: db_disconnect, db_auth_failure, or pool_exhaustion when the
//      server refuses for too many clients)
//   a2. a container OOM-killed (memory_pressure), not running or unhealthy (server_down)
//   b. the health body says the database is down                                       => db_disconnect
//      (the evidence says whether the database itself answers: see context.dependencies)
//   c. operator rules, in config order: first whose every `when` holds                 => rule.kind, rule.severity
//   d. pool utilization >= threshold, or clients waiting for a connection              => pool_exhaustion
//   e. memory utilization >= threshold                                                 => memory_pressure
//   e2. a database session idle in transaction or a query over its threshold           => long_transaction
//   f. any other not-ok answer (bad status, health status fail)                        => server_down
//   g. latency over threshold                                                          => high_latency
// Rules come after a and b so a typo'd rule cannot hide an outage, and before d-g so an operator
// can name a more specific kind for what would otherwise be a generic one.

/** What classification may know besides the observation: the state of the target's dependencies. */
export interface ClassifyContext {
  dependencies?: readonly DependencyView[];
}

/** What broke according to one observation, or undefined when the target looks healthy. Pure. */
export function classify(
  obs: Observation,
  target: Target,
  rules: Rule[],
  severities: Record<string, Severity>,
  context: ClassifyContext = {},
): Finding | undefined {
  const builtin = (kind: string, parts: string[]): Finding => ({
    target: target.name,
    kind,
    severity: severities[kind] ?? BUILTIN_KINDS[kind as BuiltinKind] ?? "P2",
    evidence: evidenceLine(parts),
  });
  const { facts } = obs;
  const health = facts.health;
  const status = typeof facts.status === "number" ? `HTTP ${facts.status}` : "";

  if (obs.error) {
    if (DATABASE_PROBES.has(target.probe.kind)) {
      const { kind, parts } = judgeDatabaseFailure(obs);
      return builtin(kind, parts);
    }
    return builtin("server_down", [describeFailure(obs.error, obs.latencyMs)]);
  }

  const container = judgeContainer(obs);
  if (container) return builtin(container.kind, container.parts);

  if (health?.database === "down") {
    const field = databaseField(facts.body);
    const why = field ? ` (${field})` : health.failing.length > 0 ? ` (failing: ${names(health.failing)})` : "";
    return builtin("db_disconnect", [status, `health body: database down${why}`, whichSideIsBroken(context.dependencies ?? [])]);
  }

  for (const rule of rules) {
    if (!appliesTo(rule, target.name)) continue;
    // A rule with no conditions never fires: a misconfiguration must not turn every round into an incident.
    if (rule.when.length === 0 || !rule.when.every((c) => evaluateCondition(c, obs))) continue;
    const seen = rule.when.flatMap((c) => conditionValues(c, obs)).filter((v, i, all) => all.findIndex((w) => w.text === v.text) === i);
    const values = seen.map((v) => `${plain(v.text, 60)}=${quote(v.value)}`).join(", ");
    const source = rule.when.map((c) => plain(c.source, 120)).join(" && ");
    return {
      target: target.name,
      kind: rule.kind,
      severity: rule.severity,
      evidence: evidenceLine([`${source}${values ? ` (${values})` : ""}`]),
    };
  }

  const pool = maxOf(finite(facts.poolUtilization), finite(health?.poolUtilization));
  const waiting = finite(health?.poolWaiting) ?? 0;
  if ((pool !== undefined && pool >= target.thresholds.poolUtilization) || waiting > 0) {
    const waitingText = waiting > 0 ? `${waiting} ${waiting === 1 ? "client" : "clients"} waiting` : "";
    const poolText = pool === undefined ? "" : `pool ${percent(pool)} in use (threshold ${percent(target.thresholds.poolUtilization)})`;
    return builtin("pool_exhaustion", [poolText, pool === undefined ? `${waitingText} for a pooled connection` : waitingText]);
  }

  const memory = Math.max(finite(facts.memoryUtilization) ?? -1, finite(health?.memoryUtilization) ?? -1);
  if (memory >= 0 && memory >= target.thresholds.memoryUtilization) {
    const rss = finite(facts.rssBytes);
    return builtin("memory_pressure", [
      `memory ${percent(memory)} of limit (threshold ${percent(target.thresholds.memoryUtilization)})`,
      rss === undefined ? "" : `rss ${mebibytes(rss)}`,
    ]);
  }

  const stuck = judgeLongTransactions(obs, target);
  if (stuck) return builtin(stuck.kind, stuck.parts);

  if (!obs.ok) return builtin("server_down", notOkParts(status, health, obs));

  if (obs.latencyMs > target.thresholds.latencyMs) {
    return builtin("high_latency", [`latency ${Math.round(obs.latencyMs)}ms over ${target.thresholds.latencyMs}ms`]);
  }
  return undefined;
}

const matchers = new WeakMap<Rule, (name: string) => boolean>();

// Globs are compiled once per rule; an empty list means every target.
function appliesTo(rule: Rule, name: string): boolean {
  let match = matchers.get(rule);
  if (!match) {
    match = rule.targets.length === 0 ? () => true : picomatch(rule.targets);
    matchers.set(rule, match);
  }
  return match(name);
}

// Network failures get a fixed phrase (stable wording for people and dashboards); the rest keep
// the probe's message, which names the pid or file. `timed` says whether "after N ms" means anything.
const FAILURES: Record<string, { phrase?: string; timed: boolean }> = {
  ECONNREFUSED: { phrase: "connection refused", timed: true },
  ETIMEDOUT: { phrase: "timed out", timed: true },
  ECONNRESET: { phrase: "connection reset", timed: true },
  EPIPE: { phrase: "connection closed", timed: true },
  EHOSTUNREACH: { phrase: "host unreachable", timed: true },
  ENETUNREACH: { phrase: "network unreachable", timed: true },
  ENOTFOUND: { phrase: "host not found", timed: true },
  EAI_AGAIN: { phrase: "name lookup failed", timed: true },
  ESRCH: { timed: false },
  PID_REUSED: { timed: false },
  ENOENT: { timed: false },
  EINVAL: { timed: false },
};

function describeFailure(error: { code: string; message: string }, latencyMs: number): string {
  const code = typeof error.code === "string" && /^[A-Za-z0-9_]{1,32}$/.test(error.code) ? error.code : quote(String(error.code), 34);
  const known = Object.hasOwn(FAILURES, code) ? FAILURES[code] : undefined;
  const http = /^HPE_/.test(code) ? "not an HTTP answer" : undefined;
  const message = plain(typeof error.message === "string" ? error.message : "", 160);
  const what = known?.phrase ?? http ?? (message || (code === "ESRCH" ? "process gone" : "no answer"));
  const timed = known ? known.timed : latencyMs >= 1;
  return `${what} (${code})${timed ? ` after ${Math.round(latencyMs)}ms` : ""}`;
}

function notOkParts(status: string, health: HealthSummary | undefined, obs: Observation): string[] {
  const { facts } = obs;
  if (health) {
    const raw = health.rawStatus === undefined ? "" : ` (${quote(health.rawStatus, 40)})`;
    const failing = health.failing.length > 0 ? `failing: ${names(health.failing)}` : "";
    return [status, `health status ${health.status}${raw}`, failing];
  }
  if (facts.alive === false) return [`process${typeof facts.pid === "number" ? ` ${facts.pid}` : ""} not alive`];
  const excerpt = typeof facts.bodyExcerpt === "string" && facts.bodyExcerpt.length > 0 ? `body ${quote(facts.bodyExcerpt)}` : "";
  return status || excerpt ? [status, excerpt] : ["probe reported not ok"];
}

function names(list: string[]): string {
  const shown = list
    .slice(0, 5)
    .map((n) => quote(n, 40))
    .join(", ");
  return list.length > 5 ? `${shown} and ${list.length - 5} more` : shown;
}

function maxOf(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}

function finite(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function percent(fraction: number): string {
  return `${Number((fraction * 100).toFixed(1))}%`;
}

function mebibytes(bytes: number): string {
  return `${Number((bytes / 1024 ** 2).toFixed(1))}MiB`;
}
