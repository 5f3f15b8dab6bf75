import { z } from "zod";
import { formatDuration } from "../../lib/duration.js";
import { formatBytes } from "../../lib/size.js";

// What docker.inspect keeps of the engine's inspect, and how a person reads it. The schema is a
// whitelist: zod drops every key it does not name, so Config.Env, the command, the entrypoint and
// the healthcheck's command (any of which may hold credentials) never reach an artifact.
// https://docs.docker.com/engine/api/v1.41/#tag/Container/operation/ContainerInspect

const text = z
  .string()
  .nullish()
  .transform((s) => s ?? "");

const healthLog = z.object({ Start: text, End: text, ExitCode: z.number().int().nullish(), Output: text });

/** The part of the engine's inspect that docker.inspect keeps. */
export const inspectSchema = z.object({
  Id: z.string(),
  Name: text,
  Created: text,
  RestartCount: z.number().int().default(0),
  State: z.object({
    Status: text,
    Running: z.boolean().default(false),
    Paused: z.boolean().default(false),
    Restarting: z.boolean().default(false),
    OOMKilled: z.boolean().default(false),
    Dead: z.boolean().default(false),
    Pid: z.number().int().default(0),
    ExitCode: z.number().int().default(0),
    Error: text,
    StartedAt: text,
    FinishedAt: text,
    Health: z.object({ Status: text, FailingStreak: z.number().int().default(0), Log: z.array(healthLog).nullish() }).nullish(),
  }),
  Config: z
    .object({
      Image: text,
      Labels: z.record(z.string(), z.string()).nullish(),
      Healthcheck: z
        .object({
          Interval: z.number().nullish(),
          Timeout: z.number().nullish(),
          Retries: z.number().nullish(),
          StartPeriod: z.number().nullish(),
        })
        .nullish(),
    })
    .nullish(),
  HostConfig: z
    .object({
      RestartPolicy: z.object({ Name: text, MaximumRetryCount: z.number().int().nullish() }).nullish(),
      Memory: z.number().nullish(),
      NanoCpus: z.number().nullish(),
    })
    .nullish(),
});

/** What the engine said, kept. */
export type Inspected = z.output<typeof inspectSchema>;

/** Labels whose name says they hold a credential keep their name, not their value (db.password, api-key, AUTH_TOKEN). */
const SECRET_WORD = /password|passwd|secret|token|credential|apikey|privatekey/i;
const SECRET_PART = new Set(["pass", "pwd", "key", "auth", "cred", "creds", "cert", "session", "cookie", "dsn"]);
/** True for a label name that says it holds a credential; `org.opencontainers.image.authors` does not. */
export function secretLabel(key: string): boolean {
  return (
    SECRET_WORD.test(key) ||
    key
      .toLowerCase()
      .split(/[^a-z0-9]+/)
      .some((part) => SECRET_PART.has(part))
  );
}
/** The value said instead. */
export const HIDDEN_LABEL = "[hidden: the label's name says it may hold a secret]";
/** The health log keeps this much of each check's output. */
const OUTPUT_CHARS = 4096;

/** The kept inspect with secret-looking label values hidden, userinfo out of URLs, and each check's output capped. */
export function keptInspect(info: Inspected): Inspected {
  const labels = info.Config?.Labels;
  const health = info.State.Health;
  return {
    ...info,
    State: {
      ...info.State,
      ...(health && {
        Health: { ...health, Log: (health.Log ?? []).map((l) => ({ ...l, Output: l.Output.slice(0, OUTPUT_CHARS) })) },
      }),
    },
    ...(info.Config && {
      Config: {
        ...info.Config,
        ...(labels && {
          Labels: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, secretLabel(k) ? HIDDEN_LABEL : noUserinfo(v)])),
        }),
      },
    }),
  };
}

/** `postgres://u:pw@h/db` -> `postgres://u:[secret]@h/db`. */
function noUserinfo(v: string): string {
  return v.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:@/\s]*):[^@\s]*@/gi, "$1:[secret]@");
}

/** The container's state as a person reads it. */
export function formatInspect(i: Inspected, where: string, at: string): string {
  const s = i.State;
  const name = i.Name.replace(/^\//, "");
  const out = [`container ${name} (${i.Id.slice(0, 12)}), image ${i.Config?.Image ?? "?"}, on ${where}, inspected ${at}`];
  const exit = s.Running ? "" : `, exit code ${s.ExitCode}`;
  out.push(
    `status: ${s.Status}${s.Paused ? " (paused)" : ""}${s.Restarting ? " (restarting)" : ""}${exit}, ` +
      `OOM killed: ${!s.OOMKilled ? "no" : s.Running ? "flagged, maybe before its last start" : "YES"}, restarts: ${i.RestartCount}`,
  );
  if (s.Error) out.push(`engine error: ${oneLine(s.Error)}`);
  out.push(
    `started ${s.StartedAt || "never"}${s.Running ? ` (pid ${s.Pid})` : `, finished ${unset(s.FinishedAt) ? "-" : s.FinishedAt}${ran(s)}`}`,
  );
  const policy = i.HostConfig?.RestartPolicy;
  const limits = [
    `restart policy ${policy?.Name || "no"}${policy?.MaximumRetryCount ? ` (max ${policy.MaximumRetryCount})` : ""}`,
    `memory limit ${i.HostConfig?.Memory ? formatBytes(i.HostConfig.Memory) : "none"}`,
    `cpus ${i.HostConfig?.NanoCpus ? i.HostConfig.NanoCpus / 1e9 : "unlimited"}`,
  ];
  out.push(limits.join("; "));
  out.push(...health(i));
  const labels = Object.entries(i.Config?.Labels ?? {});
  out.push(`labels: ${labels.length === 0 ? "none" : labels.map(([k, v]) => `${oneLine(k)}=${oneLine(v)}`).join(", ")}`);
  out.push("not kept: the environment (Config.Env), the command, the entrypoint and the healthcheck's command: they may hold credentials");
  return `${out.join("\n")}\n`;
}

function health(i: Inspected): string[] {
  const h = i.State.Health;
  if (!h) return ["health: no healthcheck"];
  const hc = i.Config?.Healthcheck;
  const every = hc?.Interval ? `, checked every ${formatDuration(hc.Interval / 1e6)}` : "";
  const lines = [`health: ${h.Status}, failing streak ${h.FailingStreak}${every}`];
  const log = h.Log ?? [];
  if (log.length > 0) lines.push(`last ${log.length} healthchecks, oldest first:`);
  for (const l of log) {
    const took = Date.parse(l.End) - Date.parse(l.Start);
    lines.push(`  ${l.Start}: exit ${l.ExitCode ?? "?"}${Number.isFinite(took) && took >= 0 ? ` in ${formatDuration(took)}` : ""}`);
    for (const line of l.Output.split("\n").filter((x) => x.trim() !== "")) lines.push(`      ${oneLine(line)}`);
  }
  return lines;
}

const unset = (t: string): boolean => t === "" || t.startsWith("0001-01-01");

function ran(s: Inspected["State"]): string {
  const ms = Date.parse(s.FinishedAt) - Date.parse(s.StartedAt);
  return unset(s.FinishedAt) || !Number.isFinite(ms) || ms < 0 ? "" : ` (ran ${formatDuration(ms)})`;
}

function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
}
