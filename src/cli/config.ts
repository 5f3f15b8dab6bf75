import { resolve } from "node:path";
import type { Config } from "../config/types.js";
import { printError } from "./output.js";
import { formatIssue, type ConfigIssue } from "../config/issues.js";
import { loadConfig, resolveConfigPath } from "../config/load.js";
import { loadStateView, type StateView } from "../config/state-view.js";

/** Options every command takes. */
export interface GlobalOptions {
  config?: string;
  stateDir?: string;
  pretty?: boolean;
}

/** Sections of the config a command that runs no playbook and sends nothing never reads (their secrets are not needed). */
export const NOT_NOTIFYING = ["notify", "escalation", "api", "alertmanager", "discovery"] as const;

/**
 * Loads the config, printing every problem to stderr; undefined when it is invalid. `unused`:
 * sections the command never reads, so their unresolved `${…}` are no problem (see loadConfig).
 */
export async function loadOrReport(opts: GlobalOptions, unused: readonly string[] = []): Promise<Config | undefined> {
  const file = resolveConfigPath(opts.config);
  const result = await loadConfig(file, { stateDir: opts.stateDir, unused });
  if (!result.ok) return report(result.issues);
  for (const warning of result.warnings) printError(formatIssue(warning) + "\n");
  return result.config;
}

/** What a command that only reads or writes the state dir needs of the config (see StateView); undefined after printing why not. */
export async function viewOrReport(opts: GlobalOptions): Promise<StateView | undefined> {
  const result = await loadStateView(resolveConfigPath(opts.config), { ...(opts.stateDir && { stateDir: opts.stateDir }) });
  return result.ok ? result.view : report(result.issues);
}

/** The state dir history is read from: --state-dir alone is enough (no config is read), else the config's. */
export async function historyDir(opts: GlobalOptions): Promise<string | undefined> {
  if (opts.stateDir) return resolve(opts.stateDir);
  return (await viewOrReport(opts))?.stateDir;
}

function report(issues: readonly ConfigIssue[]): undefined {
  for (const issue of issues) printError(formatIssue(issue) + "\n");
  const errors = issues.filter((i) => i.level === "error").length;
  printError(`${errors} problem${errors === 1 ? "" : "s"} in the configuration; nothing was started\n`);
  return undefined;
}
