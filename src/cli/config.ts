import type { Config } from "../config/types.js";
import { formatIssue } from "../config/issues.js";
import { loadConfig, resolveConfigPath } from "../config/load.js";

/** Options every command takes. */
export interface GlobalOptions {
  config?: string;
  stateDir?: string;
  pretty?: boolean;
}

/** Loads the config, printing every problem to stderr; undefined when it is invalid. */
export async function loadOrReport(opts: GlobalOptions): Promise<Config | undefined> {
  const file = resolveConfigPath(opts.config);
  const result = await loadConfig(file, { stateDir: opts.stateDir });
  if (!result.ok) {
    for (const issue of result.issues) process.stderr.write(formatIssue(issue) + "\n");
    const errors = result.issues.filter((i) => i.level === "error").length;
    process.stderr.write(`${errors} problem${errors === 1 ? "" : "s"} in the configuration; nothing was started\n`);
    return undefined;
  }
  for (const warning of result.warnings) process.stderr.write(formatIssue(warning) + "\n");
  return result.config;
}
