import { pino, type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };

/** Field paths that may hold secrets; pino prints them as [secret]. */
export const REDACT_PATHS = ["headers", "*.headers", "password", "*.password", "token", "*.token", "secrets", "*.secrets"];

/** medic's logger: pino JSON on stdout, or readable lines when asked or on a terminal. */
export function createLogger(opts: { pretty?: boolean; level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const base = {
    level: opts.level ?? process.env.MEDIC_LOG_LEVEL ?? "info",
    redact: { paths: REDACT_PATHS, censor: "[secret]" },
    base: { pid: process.pid },
  };
  const wantPretty = opts.pretty ?? process.stdout.isTTY === true;
  if (!wantPretty) return pino(base, opts.destination ?? pino.destination({ dest: 1, sync: true }));
  return pino(base, pretty({ destination: opts.destination ?? 1, sync: true, ignore: "pid,hostname", translateTime: "HH:MM:ss.l" }));
}

/** Replaces every known secret value in a text with [secret]. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join("[secret]");
  return out;
}
