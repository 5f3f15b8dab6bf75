import { readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { RawFile } from "../config/check.js";
import { plainMessage, type ConfigIssue } from "../config/issues.js";
import { issueAt, locateZodIssues, nodeAt, readYaml, toData, type DataPath, type YamlSource } from "../config/locate.js";
import { substituteSecrets } from "../config/secrets.js";
import { playbookSchema, STEP_COMMON_KEYS } from "./schema.js";
import { checkTemplate } from "./template.js";
import type { Playbook } from "./types.js";

/** How to find and read playbooks. */
export interface PlaybookLoadOptions {
  /** Relative paths resolve against this (the config file's directory). */
  baseDir: string;
  env?: NodeJS.ProcessEnv;
  /** The issue for a listed path that is missing or is not a playbook file; undefined skips it (a missing default folder). */
  badPath?: (index: number, problem: PathProblem) => ConfigIssue | undefined;
}

/** Why a listed path gives no playbooks. */
export interface PathProblem {
  message: string;
  hint: string;
  missing: boolean;
}

/** What loading playbooks produced: the valid ones, every problem, and every parsed file for cross-checks. */
export interface LoadedPlaybooks {
  playbooks: Playbook[];
  issues: ConfigIssue[];
  /** `${…}` references that could not be resolved (not in `issues`: a caller that runs no playbook does not need them). */
  unresolved: ConfigIssue[];
  secrets: string[];
  files: RawFile[];
}

const YAML_NAME = /\.ya?ml$/;
const FILE_HINT = "list playbook files ending in .yaml or .yml, or a folder of them";

/** Loads playbooks from files and folders (every *.yaml/*.yml in it, sorted, not recursive), collecting all problems. */
export async function loadPlaybooks(paths: readonly string[], opts: PlaybookLoadOptions): Promise<LoadedPlaybooks> {
  const out: LoadedPlaybooks = { playbooks: [], issues: [], unresolved: [], secrets: [], files: [] };
  const files: string[] = [];
  const reject = (index: number, problem: PathProblem) => {
    const issue = opts.badPath?.(index, problem);
    if (issue) out.issues.push(issue);
  };
  for (const [index, path] of paths.entries()) {
    const abs = resolve(opts.baseDir, path);
    try {
      const st = await stat(abs);
      if (st.isDirectory()) {
        const names = (await readdir(abs, { withFileTypes: true }))
          .filter((e) => e.isFile() && YAML_NAME.test(e.name))
          .map((e) => e.name)
          .sort();
        files.push(...names.map((n) => join(abs, n)));
      } else if (!YAML_NAME.test(abs))
        reject(index, { message: `playbook path ${abs} is not a .yaml or .yml file`, hint: FILE_HINT, missing: false });
      // A pipe or a device would block the read or never end it.
      else if (!st.isFile()) reject(index, { message: `playbook path ${abs} is not a regular file`, hint: FILE_HINT, missing: false });
      else files.push(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      reject(index, {
        message: code === "ENOENT" ? `playbook path ${abs} does not exist` : `cannot read playbook path ${abs} (${code})`,
        hint: `create it, or fix the path; relative paths start at ${opts.baseDir}`,
        missing: code === "ENOENT",
      });
    }
  }
  for (const file of [...new Set(files)]) await loadFile(file, opts, out);
  return out;
}

async function loadFile(file: string, opts: PlaybookLoadOptions, out: LoadedPlaybooks): Promise<void> {
  const read = await readYaml(file, "check the playbooks: list in the config");
  out.issues.push(...read.issues);
  const source = read.source;
  if (!source) return;
  const sub = await substituteSecrets(source, { env: opts.env ?? process.env, baseDir: opts.baseDir });
  out.unresolved.push(...sub.issues);
  out.issues.push(...sub.warnings);
  out.secrets.push(...sub.secrets);
  const { data, issues } = toData(source);
  out.issues.push(...issues);
  out.files.push({ source, data });
  out.issues.push(...checkStepTemplates(source, data));
  const parsed = playbookSchema().safeParse(data, { error: plainMessage, reportInput: true });
  if (!parsed.success) {
    out.issues.push(...locateZodIssues(source, parsed.error.issues, sub.failed));
    return;
  }
  const { verify, approval, ...rest } = parsed.data;
  out.playbooks.push({
    ...rest,
    file,
    verify: { withinMs: verify.within },
    ...(approval && { approval: { required: approval.required, ...(approval.timeout && { timeoutMs: approval.timeout }) } }),
  });
}

// Every string a step kind receives is a template; its syntax and variable names are known at load time.
function checkStepTemplates(source: YamlSource, data: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const visit = (value: unknown, path: DataPath): void => {
    if (typeof value === "string") {
      const found = nodeAt(source, path);
      if (found.depth === path.length && source.substituted.has(found.node as never)) return;
      for (const p of checkTemplate(value)) issues.push(issueAt(source, path, p.message, { hint: p.hint, offset: p.offset }));
    } else if (Array.isArray(value)) value.forEach((v, i) => visit(v, [...path, i]));
    else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) visit(v, [...path, k]);
  };
  const steps = (data as { steps?: unknown } | null)?.steps;
  if (!Array.isArray(steps)) return issues;
  steps.forEach((step, i) => {
    if (step === null || typeof step !== "object" || Array.isArray(step)) return;
    for (const [key, value] of Object.entries(step)) {
      if (!(STEP_COMMON_KEYS as readonly string[]).includes(key)) visit(value, ["steps", i, key]);
    }
  });
  return issues;
}
