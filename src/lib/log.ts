import { createRequire } from "node:module";
import { pino, type Logger } from "pino";
import type PinoPretty from "pino-pretty";
import { REDACTED, redactor } from "./redact.js";

export type { Logger };

/** Field paths that may hold secrets; pino prints them as [secret]. */
export const REDACT_PATHS = ["headers", "*.headers", "password", "*.password", "token", "*.token", "secrets", "*.secrets"];

/** medic's logger: pino JSON on stdout, or readable lines when asked or on a terminal. Every line passes the redactor. */
export function createLogger(opts: { pretty?: boolean; level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const base = {
    level: opts.level ?? process.env.MEDIC_LOG_LEVEL ?? "info",
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    base: { pid: process.pid },
    // The serialised line, whatever field or message a secret hid in (a step's detail, an error's text).
    hooks: { streamWrite: (line: string) => redactor.text(line) },
  };
  const wantPretty = opts.pretty ?? process.stdout.isTTY === true;
  if (!wantPretty) return pino(base, opts.destination ?? pino.destination({ dest: 1, sync: true }));
  // Loaded only for a terminal: a daemon logging JSON never pays for the pretty-printer's modules.
  const pretty = createRequire(import.meta.url)("pino-pretty") as typeof PinoPretty;
  return pino(base, pretty({ destination: opts.destination ?? 1, sync: true, ignore: "pid,hostname", translateTime: "HH:MM:ss.l" }));
}
