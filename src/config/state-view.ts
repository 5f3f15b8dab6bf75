import { dirname, resolve } from "node:path";
import { z } from "zod";
import type { MaintenanceWindowConfig } from "../safety/types.js";
import { redactor } from "../lib/redact.js";
import { duration, safeName } from "./fields.js";
import { compareIssues, plainMessage, redactIssues, type ConfigIssue } from "./issues.js";
import { locateZodIssues, readYaml, toData } from "./locate.js";
import { configSchema } from "./schema.js";
import { substituteSecrets } from "./secrets.js";

/**
 * What the commands that only read or write the state directory use of the config: where the
 * state dir is, the target names, whether discovery may add more, and the maintenance windows.
 * Nothing else is validated for them and no other secret is needed: `medic incidents` on a host
 * without the daemon's environment still works, and so does `medic pause` in an emergency while
 * another part of the config is being fixed.
 */
export interface StateView {
  file: string;
  stateDir: string;
  targets: string[];
  discovers: boolean;
  maintenance: MaintenanceWindowConfig[];
  /**
   * A cluster's shared store, where its history is (absent: the state dir's journal). `url` is
   * undefined when a `${…}` in it did not resolve: the history commands then say which.
   */
  store?: { cluster: string; url: string | undefined; statementTimeoutMs: number };
}

/** The outcome: the view, or the problems in the parts it reads. */
export type StateViewResult = { ok: true; view: StateView } | { ok: false; issues: ConfigIssue[] };

// Only these parts are checked; the rest of the file passes as it is.
const viewSchema = () => {
  const { stateDir, maintenance } = configSchema().shape;
  return z.looseObject({
    stateDir,
    maintenance,
    targets: z.array(z.looseObject({ name: safeName("target name") })).default([]),
    discovery: z.unknown().optional(),
    // Only what reading a cluster's history needs: a node name from the environment may be unset here.
    store: z.looseObject({ postgres: z.looseObject({ url: z.string(), statementTimeout: duration().optional() }).optional() }).optional(),
    cluster: z.looseObject({ name: z.string().optional() }).optional(),
  });
};

/** Reads the state view of a config: only `${…}` references in the parts it reads must resolve. `stateDir` overrides. */
export async function loadStateView(file: string, opts: { env?: NodeJS.ProcessEnv; stateDir?: string } = {}): Promise<StateViewResult> {
  const path = resolve(file);
  const read = await readYaml(path, "create it, or name another file with --config PATH or MEDIC_CONFIG");
  if (!read.source) return { ok: false, issues: read.issues };
  const source = read.source;
  const sub = await substituteSecrets(source, { env: opts.env ?? process.env, baseDir: dirname(path) });
  redactor.add(sub.secrets);
  const used = (p: string) => /^(?:stateDir|maintenance)\b|^targets\[\d+\]\.name$/.test(p);
  const plain = toData(source);
  const issues = [...read.issues, ...plain.issues, ...sub.issues.filter((i) => used(i.path))];
  const parsed = viewSchema().safeParse(plain.data, { error: plainMessage, reportInput: true });
  if (!parsed.success) issues.push(...locateZodIssues(source, parsed.error.issues, sub.failed));
  const errors = redactIssues(issues, sub.secrets)
    .filter((i) => i.level === "error")
    .sort(compareIssues);
  if (!parsed.success || errors.length > 0) return { ok: false, issues: errors };
  const p = parsed.data;
  return {
    ok: true,
    view: {
      file: path,
      stateDir: opts.stateDir ? resolve(opts.stateDir) : resolve(dirname(path), p.stateDir),
      targets: p.targets.map((t) => t.name),
      discovers:
        typeof p.discovery === "object" && p.discovery !== null && Object.values(p.discovery).some((d) => d !== undefined && d !== null),
      maintenance: p.maintenance.map(normaliseWindow),
      ...(p.store?.postgres && {
        store: {
          cluster: p.cluster?.name ?? "medic",
          url: sub.failed.has("store.postgres.url") ? undefined : p.store.postgres.url,
          statementTimeoutMs: p.store.postgres.statementTimeout ?? 5_000,
        },
      }),
    },
  };
}

/** A maintenance window as written -> as medic uses it. */
export function normaliseWindow(m: z.output<ReturnType<typeof configSchema>>["maintenance"][number]): MaintenanceWindowConfig {
  return { name: m.name, cron: m.cron, durationMs: m.duration, timezone: m.timezone, targets: m.targets, reason: m.reason };
}
