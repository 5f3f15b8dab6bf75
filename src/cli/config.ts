import type { Config } from "../config/types.js";
import { compareIssues, formatIssue, type ConfigIssue } from "../config/issues.js";
import { loadConfig, resolveConfigPath } from "../config/load.js";
import { isShippedPlaybook } from "../playbooks/shipped.js";

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

/** Loads the config, printing every problem to stderr; undefined when it is invalid. */
export async function loadOrReport(opts: GlobalOptions, show: WarningOptions = {}): Promise<Config | undefined> {
  const loaded = await loadQuietly(opts, show);
  if (loaded) printWarnings(loaded.warnings, show);
  return loaded?.config;
}

/** Loads the config and prints its errors to stderr, but leaves its warnings to the caller (to print after its own output). */
export async function loadQuietly(opts: GlobalOptions, show: WarningOptions = {}): Promise<{ config: Config; warnings: ConfigIssue[] } | undefined> {
  const file = resolveConfigPath(opts.config);
  const result = await loadConfig(file, { stateDir: opts.stateDir });
  if (!result.ok) {
    const errors = result.issues.filter((i) => i.level === "error");
    printWarnings(result.issues.filter((i) => i.level !== "error"), show, errors);
    process.stderr.write(`${errors.length} problem${errors.length === 1 ? "" : "s"} in the configuration; nothing was started\n`);
    return undefined;
  }
  return { config: result.config, warnings: result.warnings };
}

/**
 * Prints issues to stderr in file order. Warnings about the shipped playbooks (one that matches
 * none of these targets, or needs a service some lack) are the examples not fitting this config,
 * not mistakes in it: unless `verbose`, they are one line that says how to see them.
 */
export function printWarnings(warnings: readonly ConfigIssue[], show: WarningOptions = {}, errors: readonly ConfigIssue[] = []): void {
  const { own, shipped } = splitWarnings(warnings, show);
  const shown = [...errors, ...own].sort(compareIssues);
  for (const issue of shown) process.stderr.write(formatIssue(issue) + "\n");
  const note = shippedNote(shipped);
  if (note) process.stderr.write(note + "\n");
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
  return `note: ${files} of the shipped playbooks ${files === 1 ? "does" : "do"} not fit these targets as they are; medic validate --verbose says why`;
}
