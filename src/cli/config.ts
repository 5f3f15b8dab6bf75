import type { Config } from "../config/types.js";
import { printError } from "./output.js";
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
    for (const issue of result.issues) printError(formatIssue(issue) + "\n");
    const errors = result.issues.filter((i) => i.level === "error").length;
    printError(`${errors} problem${errors === 1 ? "" : "s"} in the configuration; nothing was started\n`);
    return undefined;
  }
  for (const warning of result.warnings) printError(formatIssue(warning) + "\n");
  return result.config;
}
