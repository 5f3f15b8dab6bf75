import { dirname, resolve } from "node:path";
import { BUILTIN_KINDS, SEVERITIES, type Severity } from "../classify/types.js";
import { DEFAULT_POLICY, type EscalationPolicy, type PolicyStep } from "../escalation/policy.js";
import { channelKinds } from "../escalation/registry.js";
import { loadPlaybooks } from "../playbooks/load.js";
import type { Playbook } from "../playbooks/types.js";
import { crossCheck } from "./check.js";
import { listenAddress } from "./fields.js";
import { compareIssues, plainMessage, redactIssues, type ConfigIssue } from "./issues.js";
import { issueAt, locateZodIssues, readYaml, toData } from "./locate.js";
import { configSchema, type ParsedConfig } from "./schema.js";
import { substituteSecrets } from "./secrets.js";
import { normaliseWindow } from "./state-view.js";
import { redactor } from "../lib/redact.js";
import type { ApiConfig, ApiToken, Config, Target, TargetDefaults } from "./types.js";
import { normaliseCluster } from "./cluster.js";

/** Where the config is read from when neither --config nor MEDIC_CONFIG says. */
export const DEFAULT_CONFIG_PATH = "/etc/medic/medic.yaml";

/** The config file to read: the --config flag, else MEDIC_CONFIG, else /etc/medic/medic.yaml; absolute. */
export function resolveConfigPath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag || env.MEDIC_CONFIG || DEFAULT_CONFIG_PATH);
}

/** Options for loadConfig. */
export interface LoadConfigOptions {
  /** Where `${VAR}` values come from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Overrides the config's stateDir (relative to the working directory). */
  stateDir?: string;
  /**
   * Top-level sections (`notify`, `playbooks`, ...) the caller never reads: a `${…}` in them that
   * cannot be resolved is no problem for it, and such a section is left at its default. A secret
   * that cannot be resolved must not stop a command that does not use it.
   */
  unused?: readonly string[];
}

/** The outcome of loading: a Config (with warnings), or every problem found in the config and all playbooks. */
export type LoadConfigResult = { ok: true; config: Config; warnings: ConfigIssue[] } | { ok: false; issues: ConfigIssue[] };

/** Reads, validates and normalises the config and every playbook it lists, collecting all problems in one pass. */
export async function loadConfig(file: string, opts: LoadConfigOptions = {}): Promise<LoadConfigResult> {
  const path = resolve(file);
  const baseDir = dirname(path);
  const env = opts.env ?? process.env;
  const read = await readYaml(path, "create it, or name another file with --config PATH or MEDIC_CONFIG");
  const issues = [...read.issues];
  const secrets: string[] = [];
  const source = read.source;
  let data: unknown;
  let parsed: ParsedConfig | undefined;
  const unused = (i: ConfigIssue) =>
    opts.unused?.some((key) => i.path === key || i.path.startsWith(`${key}.`) || i.path.startsWith(`${key}[`)) ?? false;
  if (source) {
    const sub = await substituteSecrets(source, { env, baseDir });
    const needed = sub.issues.filter((i) => !unused(i));
    issues.push(...needed, ...sub.warnings);
    secrets.push(...sub.secrets);
    const plain = toData(source);
    issues.push(...plain.issues);
    data = withoutSections(
      plain.data,
      sub.issues.filter(unused).map((i) => /^[^.[]+/.exec(i.path)![0]),
    );
    const result = configSchema().safeParse(data, { error: plainMessage, reportInput: true });
    if (result.success && needed.length === 0) parsed = result.data;
    else if (!result.success && plain.data !== undefined) issues.push(...locateZodIssues(source, result.error.issues, sub.failed));
  }
  // Playbooks load even when the config has problems, so one run reports everything.
  const listed = (data as { playbooks?: unknown } | null | undefined)?.playbooks;
  const explicit = Array.isArray(listed) && listed.every((p) => typeof p === "string") ? (listed as string[]) : undefined;
  // Unparseable config: which playbooks it lists is unknown, so none are read.
  const paths = !source ? [] : (explicit ?? (listed === undefined ? ["./playbooks"] : []));
  const pb = await loadPlaybooks(paths, {
    baseDir,
    env,
    badPath: (index, p) => {
      if (!source) return undefined; // never called: without a source no paths are listed
      // A listed path is reported at its entry; the default folder only when it is there but unusable.
      if (!explicit) return p.missing ? undefined : issueAt(source, ["playbooks"], p.message, { hint: p.hint });
      return issueAt(source, ["playbooks", index], p.message, { hint: p.hint });
    },
  });
  issues.push(
    ...pb.issues,
    ...(opts.unused?.includes("playbooks") ? [] : pb.unresolved),
    ...crossCheck(source && { source, data }, pb.files),
  );
  secrets.push(...pb.secrets);
  // From here on, nothing this process writes (log, journal, API, CLI, notification) shows them.
  redactor.add(secrets);
  const all = redactIssues(issues, secrets).sort(compareIssues);
  if (!parsed || all.some((i) => i.level === "error")) return { ok: false, issues: all };
  return {
    ok: true,
    config: normaliseConfig(parsed, { file: path, stateDir: opts.stateDir, playbooks: pb.playbooks, secrets }),
    warnings: all,
  };
}

// The data without the sections an unresolved reference in an unused section named.
function withoutSections(data: unknown, keys: string[]): unknown {
  if (keys.length === 0 || typeof data !== "object" || data === null || Array.isArray(data)) return data;
  const out = { ...(data as Record<string, unknown>) };
  for (const key of keys) delete out[key];
  return out;
}

/** A validated config with every default applied, paths resolved and severities merged. */
export function normaliseConfig(
  p: ParsedConfig,
  ctx: { file: string; stateDir?: string; playbooks: Playbook[]; secrets: string[] },
): Config {
  const baseDir = dirname(ctx.file);
  const d = p.defaults;
  const defaults: TargetDefaults = {
    intervalMs: d.interval,
    timeoutMs: d.timeout,
    failureThreshold: d.failureThreshold,
    successThreshold: d.successThreshold,
    thresholds: {
      latencyMs: d.thresholds.latency,
      poolUtilization: d.thresholds.poolUtilization,
      memoryUtilization: d.thresholds.memoryUtilization,
      idleInTransactionMs: d.thresholds.idleInTransaction,
      queryMs: d.thresholds.queryDuration,
    },
  };
  const targets = p.targets.map((t): Target => ({
    name: t.name,
    labels: t.labels,
    probe: { kind: t.probe.kind, params: t.probe.params },
    ...(t.service ? { service: { kind: t.service.kind, params: t.service.params } } : {}),
    intervalMs: t.interval ?? defaults.intervalMs,
    timeoutMs: t.timeout ?? defaults.timeoutMs,
    failureThreshold: t.failureThreshold ?? defaults.failureThreshold,
    successThreshold: t.successThreshold ?? defaults.successThreshold,
    ...((t.confirm?.quorum ?? d.confirm.quorum) > 1 && { quorum: t.confirm?.quorum ?? d.confirm.quorum }),
    thresholds: {
      latencyMs: t.thresholds?.latency ?? defaults.thresholds.latencyMs,
      poolUtilization: t.thresholds?.poolUtilization ?? defaults.thresholds.poolUtilization,
      memoryUtilization: t.thresholds?.memoryUtilization ?? defaults.thresholds.memoryUtilization,
      idleInTransactionMs: t.thresholds?.idleInTransaction ?? defaults.thresholds.idleInTransactionMs,
      queryMs: t.thresholds?.queryDuration ?? defaults.thresholds.queryMs,
    },
    dependsOn: t.dependsOn,
    ...(t.playbook ? { playbook: t.playbook } : {}),
    ...(t.node ? { node: t.node } : {}),
  }));
  // Built-in kinds keep their defaults unless `severities:` says otherwise; a rule's kind takes its first rule's severity.
  const severities: Record<string, Severity> = { ...BUILTIN_KINDS };
  for (const r of p.rules) severities[r.kind] ??= r.severity ?? "P3";
  Object.assign(severities, p.severities);
  return {
    file: ctx.file,
    baseDir,
    stateDir: ctx.stateDir ? resolve(ctx.stateDir) : resolve(baseDir, p.stateDir),
    retentionMs: p.retention,
    artifacts: {
      maxBytes: p.artifacts.maxBytes,
      incidentBytes: p.artifacts.incidentBytes,
      totalBytes: p.artifacts.totalBytes,
      retentionMs: p.artifacts.retention,
    },
    ...normaliseCluster(p.store, p.cluster),
    targets,
    defaults,
    ...(p.discovery ? { discovery: p.discovery } : {}),
    rules: p.rules.map((r) => ({
      kind: r.kind,
      severity: p.severities[r.kind] ?? r.severity ?? severities[r.kind]!,
      when: r.when,
      targets: r.targets,
    })),
    severities,
    playbooks: ctx.playbooks,
    approvals: {
      timeoutMs: p.approvals.timeout,
      severities: Object.fromEntries(
        Object.entries(p.approvals.severities).map(([sev, a]) => [sev, a?.timeout === undefined ? {} : { timeoutMs: a.timeout }]),
      ),
      rules: p.approvals.rules.map((r) => ({
        kinds: r.kinds,
        targets: r.targets,
        ...(r.timeout !== undefined && { timeoutMs: r.timeout }),
      })),
    },
    safety: {
      flapGuard: {
        maxRuns: p.safety.flapGuard.maxRuns,
        windowMs: p.safety.flapGuard.window,
        resetAfterMs: p.safety.flapGuard.resetAfter,
        backoff: {
          initialMs: p.safety.flapGuard.backoff.initial,
          maxMs: Math.max(p.safety.flapGuard.backoff.initial, p.safety.flapGuard.backoff.max),
        },
      },
      blastRadius: {
        concurrent: p.safety.blastRadius.concurrent,
        maxRuns: p.safety.blastRadius.maxRuns,
        windowMs: p.safety.blastRadius.window,
      },
    },
    api: apiConfig(p.api, baseDir),
    ...(p.alertmanager && {
      alertmanager: {
        routes: p.alertmanager.routes.map((r) => ({
          match: r.match,
          matchRe: Object.fromEntries(Object.entries(r.matchRe).map(([k, re]) => [k, new RegExp(`^(?:${re})$`)])),
          ...(r.target && { target: r.target }),
          ...(r.targetLabel && { targetLabel: r.targetLabel }),
          kind: r.kind,
          ...(r.severity && { severity: r.severity }),
        })),
      },
    }),
    maintenance: p.maintenance.map(normaliseWindow),
    secrets: [...new Set(ctx.secrets)],
    notify: {
      channels: [
        ...[...channelKinds.keys()]
          .filter((k) => k !== "console" && (p.notify as Record<string, unknown>)[k] !== undefined)
          .map((kind) => ({ name: kind, kind, params: (p.notify as Record<string, unknown>)[kind] })),
        ...Object.entries(p.notify.channels).map(([name, ref]) => ({ name, kind: ref.kind, params: ref.params })),
        { name: "console", kind: "console", params: {} },
      ],
      retry: { initialMs: p.notify.retry.initial, maxMs: p.notify.retry.max, attempts: p.notify.retry.attempts },
      breaker: { failures: p.notify.breaker.failures, cooldownMs: p.notify.breaker.cooldown },
      ...(p.notify.link ? { link: p.notify.link } : {}),
    },
    escalation: {
      policy: Object.fromEntries(
        SEVERITIES.map((sev) => {
          const steps = p.escalation[sev];
          return [sev, steps ? steps.map(policyStep) : DEFAULT_POLICY[sev]];
        }),
      ) as EscalationPolicy,
      policies: Object.fromEntries(
        Object.entries(p.escalation.policies).map(([name, policy]) => [
          name,
          Object.fromEntries(SEVERITIES.filter((sev) => policy[sev]).map((sev) => [sev, policy[sev]!.map(policyStep)])),
        ]),
      ),
      routes: p.escalation.routes.map((r, i) => ({
        name: r.name ?? `route ${i + 1}`,
        ...(r.targets && { targets: r.targets }),
        ...(r.labels && { labels: r.labels }),
        ...(r.kinds && { kinds: r.kinds }),
        ...(r.severities && { severities: r.severities }),
        policy: r.policy,
        continue: r.continue,
      })),
      raiseOnFailure: p.escalation.raiseOnFailure,
      pageGraceMs: p.escalation.pageGrace,
    },
  };
}

function policyStep(step: { after: number; notify: string[] }): PolicyStep {
  return { afterMs: step.after, notify: step.notify };
}

function apiConfig(api: ParsedConfig["api"], baseDir: string): ApiConfig {
  const address = listenAddress(api.listen);
  const listen = address === "off" ? undefined : address;
  const allowedHosts = api.allowedHosts?.map((h) => h.toLowerCase());
  // Today's single token keeps working: an approver named admin.
  const tokens: ApiToken[] = [
    ...(api.tokenFile ? [{ name: "admin", tokenFile: api.tokenFile, role: "approver" as const }] : []),
    ...(api.tokens ?? []),
  ].map((t) => ({ ...t, tokenFile: resolve(baseDir, t.tokenFile) }));
  return {
    ...(listen && { listen }),
    tokens,
    ...(allowedHosts?.length && { allowedHosts }),
    ...(api.publicReads && { publicReads: true }),
  };
}
