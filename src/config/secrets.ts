import { resolve } from "node:path";
import { isMap, isScalar, isSeq, type Scalar } from "yaml";
import { MIN_SECRET_CHARS } from "../lib/redact.js";
import { readRegularFile, type FileText } from "../lib/regular-file.js";
import type { ConfigIssue } from "./issues.js";
import { formatPath, issueAt, type DataPath, type YamlSource } from "./locate.js";

/** A piece of a string value: literal text, or a `${...}` reference starting at `offset`. */
export type Part = string | { ref: string; offset: number };

/** Splits a string into literal text and `${VAR}` / `${file:path}` references; `$${` is a literal `${`. */
export function scanReferences(text: string): { parts: Part[]; error?: { offset: number; message: string } } {
  const parts: Part[] = [];
  let literal = "";
  let i = 0;
  while (i < text.length) {
    if (text.startsWith("$${", i)) {
      literal += "${";
      i += 3;
    } else if (text.startsWith("${", i)) {
      const close = text.indexOf("}", i + 2);
      if (close < 0) return { parts, error: { offset: i, message: "unclosed ${ reference" } };
      const ref = text.slice(i + 2, close);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(ref) && !/^file:.+$/.test(ref)) {
        return { parts, error: { offset: i, message: `"\${${ref}}" is neither \${VARIABLE} nor \${file:path}` } };
      }
      if (literal) parts.push(literal);
      parts.push({ ref, offset: i });
      literal = "";
      i = close + 1;
    } else {
      literal += text[i];
      i++;
    }
  }
  if (literal) parts.push(literal);
  return { parts };
}

/** What substitution produced: secret values, problems, and the paths that could not be filled. */
export interface Substitution {
  secrets: string[];
  /** References that could not be resolved. */
  issues: ConfigIssue[];
  /** Values too short for the redactor to keep out of output. */
  warnings: ConfigIssue[];
  /** Formatted paths of values left as written because a reference failed; other checks skip them. */
  failed: Set<string>;
}

/** Values that are names, not secrets, wherever they come from: `node: "${HOSTNAME}"` is no password to hide. */
const NAMES = new Set(["cluster.name", "cluster.node"]);

/** Largest secret file read: a key or a certificate, not a disk. */
export const MAX_SECRET_FILE_BYTES = 1024 * 1024;

const REF_HINT = "write ${VARIABLE} or ${file:/path/to/secret}; write $${ for a literal ${";

/** Fills `${VAR}` (from `env`) and `${file:path}` (trimmed contents, relative to `baseDir`) in every string value. */
export async function substituteSecrets(source: YamlSource, opts: { env: NodeJS.ProcessEnv; baseDir: string }): Promise<Substitution> {
  const result: Substitution = { secrets: [], issues: [], warnings: [], failed: new Set() };
  const scalars: { node: Scalar; path: DataPath }[] = [];
  collectStrings(source.doc.contents, [], scalars);
  const files = new Map<string, Promise<FileText>>();
  const readSecret = (path: string) => {
    if (!files.has(path)) files.set(path, readRegularFile(path, MAX_SECRET_FILE_BYTES));
    return files.get(path)!;
  };
  for (const { node, path } of scalars) {
    const original = node.value as string;
    const named = NAMES.has(formatPath(path));
    const { parts, error } = scanReferences(original);
    const problems: ConfigIssue[] = [];
    if (error) problems.push(issueAt(source, path, error.message, { offset: error.offset, hint: REF_HINT }));
    let value = "";
    const found: string[] = [];
    for (const part of error ? [] : parts) {
      if (typeof part === "string") {
        value += part;
        continue;
      }
      if (part.ref.startsWith("file:")) {
        const file = resolve(opts.baseDir, part.ref.slice(5));
        const got = await readSecret(file);
        if (got.ok) {
          value += got.text.trim();
          found.push(got.text.trim());
        } else
          problems.push(
            issueAt(source, path, `cannot read secret file ${file}: ${got.problem.reason}`, {
              offset: part.offset,
              hint:
                got.problem.code === "ENOENT"
                  ? `create the file or fix the path; relative paths start at ${opts.baseDir}`
                  : got.problem.hint,
            }),
          );
      } else {
        const got = opts.env[part.ref];
        if (got !== undefined) {
          value += got;
          found.push(got);
          if (!named && got.length > 0 && got.length < MIN_SECRET_CHARS) {
            result.warnings.push(
              issueAt(
                source,
                path,
                `the value of \${${part.ref}} has only ${got.length} characters: too short for medic to keep out of its output`,
                {
                  level: "warning",
                  offset: part.offset,
                  hint: "a secret that short is guessable anyway; if it is not a secret (a port), write it literally",
                },
              ),
            );
          }
        } else
          problems.push(
            issueAt(source, path, `environment variable ${part.ref} is not set`, {
              offset: part.offset,
              hint: `export ${part.ref}=… before starting medic, or use \${file:/path}`,
            }),
          );
      }
    }
    if (problems.length > 0) {
      result.issues.push(...problems);
      result.failed.add(formatPath(path));
    } else if (value !== original) {
      node.value = value;
      if (found.length > 0 && !named) source.substituted.set(node, original);
      if (!named) for (const s of found) if (s && !result.secrets.includes(s)) result.secrets.push(s);
    }
  }
  return result;
}

// Values only: keys are names, not places for secrets.
function collectStrings(node: unknown, path: DataPath, out: { node: Scalar; path: DataPath }[]): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      collectStrings(pair.value, [...path, key], out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => collectStrings(item, [...path, i], out));
  } else if (isScalar(node) && typeof node.value === "string" && node.value.includes("$")) {
    out.push({ node, path });
  }
}
