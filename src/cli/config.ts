import { resolve } from "node:path";
import type { Config } from "../config/types.js";
import { compareIssues, formatIssue, type ConfigIssue } from "../config/issues.js";
import { loadConfig, resolveConfigPath } from "../config/load.js";
import { loadStateView, type StateView } from "../config/state-view.js";
import { isShippedPlaybook } from "../playbooks/shipped.js";
import { printError } from "./output.js";

/** Options every command takes. */
export interface GlobalOptions {
  config?: string;
  stateDir?: string;
  pretty?: boolean;
}

/** How warnings are printed: in full, or the shipped playbooks' summed up in one line (the default). */
export interface WarningOptions {
  verbose?: boolean;
}

/** Sections of the config a command that runs no playbook and sends nothing never reads (their secrets are not needed). */
export const NOT_NOTIFYING = ["notify", "escalation", "api", "alertmanager", "discovery"] as const;

/**
 * Loads the config, printing every problem to stderr; undefined when it is invalid. `unused`:
 * sections the command never reads, so their unresolved `${…}` are no problem (see loadConfig).
 */
export async function loadOrReport(
  opts: GlobalOptions,
  unused: readonly string[] = [],
  show: WarningOptions = {},
): Promise<Config | undefined> {
  const loaded = await loadQuietly(opts, unused, show);
  if (loaded) printWarnings(loaded.warnings, show);
  return loaded?.config;
}

/** As loadOrReport, but the warnings are left to the caller (to print after its own output). */
export async function loadQuietly(
  opts: GlobalOptions,
  unused: readonly string[] = [],
  show: WarningOptions = {},
): Promise<{ config: Config; warnings: ConfigIssue[] } | undefined> {
  const file = resolveConfigPath(opts.config);
  const result = await loadConfig(file, { stateDir: opts.stateDir, unused });
  if (!result.ok) return report(result.issues, show);
  return { config: result.config, warnings: result.warnings };
}

/**
 * Prints issues to stderr in file order. Warnings about the shipped playbooks (one that matches
 * none of these targets, or needs a service some lack) are the examples not fitting this config,
 * not mistakes in it: unless `verbose`, they are one line that says how to see them.
 */
export function printWarnings(warnings: readonly ConfigIssue[], show: WarningOptions = {}, errors: readonly ConfigIssue[] = []): void {
  const { own, shipped } = splitWarnings(warnings, show);
  for (const issue of [...errors, ...own].sort(compareIssues)) printError(formatIssue(issue) + "\n");
  const note = shippedNote(shipped);
  if (note) printError(note + "\n");
}

/** Warnings to show in full, and those about shipped playbooks to sum up (none when `verbose`). */
export function splitWarnings(warnings: readonly ConfigIssue[], show: WarningOptions = {}): { own: ConfigIssue[]; shipped: ConfigIssue[] } {
  if (show.verbose) return { own: [...warnings], shipped: [] };
  const shipped = warnings.filter((w) => isShippedPlaybook(w.file));
  return { own: warnings.filter((w) => !shipped.includes(w)), shipped };
}

/** `note: 3 of the shipped playbooks do not fit these targets as they are; medic validate --verbose says why`. */
export function shippedNote(shipped: readonly ConfigIssue[]): string | undefined {
  if (shipped.length === 0) return undefined;
  const files = new Set(shipped.map((w) => w.file)).size;
  const verb = files === 1 ? "does" : "do";
  return `note: ${files} of the shipped playbooks ${verb} not fit these targets as they are; medic validate --verbose says why`;
}

/** What a command that only reads or writes the state dir needs of the config (see StateView); undefined after printing why not. */
export async function viewOrReport(opts: GlobalOptions): Promise<StateView | undefined> {
  const result = await loadStateView(resolveConfigPath(opts.config), { ...(opts.stateDir && { stateDir: opts.stateDir }) });
  return result.ok ? result.view : report(result.issues);
}

/**
 * Where history is read from: --state-dir alone is enough (no config is read), else the config's
 * state dir, or its cluster's PostgreSQL store.
 */
export async function historySource(
  opts: GlobalOptions,
): Promise<{ stateDir: string } | { store: NonNullable<StateView["store"]> } | undefined> {
  if (opts.stateDir) return { stateDir: resolve(opts.stateDir) };
  const view = await viewOrReport(opts);
  if (!view) return undefined;
  return view.store ? { store: view.store } : { stateDir: view.stateDir };
}

function report(issues: readonly ConfigIssue[], show: WarningOptions = {}): undefined {
  const errors = issues.filter((i) => i.level === "error");
  printWarnings(
    issues.filter((i) => i.level !== "error"),
    show,
    errors,
  );
  printError(`${errors.length} problem${errors.length === 1 ? "" : "s"} in the configuration; nothing was started\n`);
  return undefined;
}
