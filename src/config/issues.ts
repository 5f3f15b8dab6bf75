import { isAbsolute, relative } from "node:path";
import type { z } from "zod";

/** One problem found in a config or playbook file, located at the offending token. */
export interface ConfigIssue {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
  /** Data path like `targets[2].probe.http.url`; empty for a whole file. */
  path: string;
  message: string;
  hint?: string;
  level: "error" | "warning";
}

/** `medic.yaml:14:9 targets[2].probe.http.url: must be an http(s) URL (got "x"; hint: add http://)`. */
export function formatIssue(i: ConfigIssue): string {
  const where = `${displayFile(i.file)}:${i.line}:${i.col} ${i.level === "warning" ? "warning: " : ""}${i.path ? `${i.path}: ` : ""}`;
  if (!i.hint) return where + i.message;
  // `message (got X)` + hint reads as one parenthesis: `message (got X; hint: H)`.
  const got = /^(.*) \((got .*)\)$/s.exec(i.message);
  return got ? `${where}${got[1]} (${got[2]}; hint: ${i.hint})` : `${where}${i.message} (hint: ${i.hint})`;
}

/** A file path relative to the working directory when it is inside it, else as given. */
export function displayFile(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file;
}

/** Orders issues by file, then line, then column. */
export function compareIssues(a: ConfigIssue, b: ConfigIssue): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col;
}

/** Splits `message (got X; hint: H)` or `message (hint: H)` into message and hint. */
export function splitHint(text: string): { message: string; hint?: string } {
  const m = /^(.*?)\s*\((?:(got .*?); )?hint: (.*)\)$/s.exec(text);
  if (!m) return { message: text };
  return { message: m[2] ? `${m[1]} (${m[2]})` : m[1]!, hint: m[3]! };
}

/** A value as an operator would recognise it in a message: `"ten"`, `5`, `a list`, `nothing`. */
export function describeValue(value: unknown): string {
  if (value === undefined || value === null) return "nothing";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

/** The candidate closest to `word`, when it is close enough to be a likely typo. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  if (word.length < 3) return undefined; // "P5" is not a typo of "P1"
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** `did you mean "x"?` when one is close, else `one of a, b, c` (or `fallback`). */
export function suggestHint(word: string, candidates: readonly string[], fallback?: string): string | undefined {
  const close = suggest(word, candidates);
  if (close) return `did you mean "${close}"?`;
  return fallback ?? (candidates.length > 0 ? `one of ${candidates.join(", ")}` : undefined);
}

// Optimal string alignment: a swapped pair of letters counts as one edit ("intreval").
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** Replaces every secret (of 4+ characters; shorter ones would garble ordinary words) with `[secret]`. */
export function redactIssues(issues: ConfigIssue[], secrets: readonly string[]): ConfigIssue[] {
  const long = [...new Set(secrets)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  if (long.length === 0) return issues;
  const redact = (s: string) => long.reduce((text, secret) => text.split(secret).join("[secret]"), s);
  return issues.map((i) => ({ ...i, message: redact(i.message), ...(i.hint === undefined ? {} : { hint: redact(i.hint) }) }));
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
  record: "a mapping",
  null: "nothing",
  undefined: "nothing",
  nan: "a number",
};

/** Zod error map in plain words; issues raised with their own message keep it. */
export function plainMessage(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case "invalid_type": {
      if (iss.input === undefined) return `missing required key "${String(iss.path?.at(-1) ?? "")}"`;
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${describeValue(iss.input)}`;
    }
    case "unrecognized_keys": {
      const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
      const known = Object.keys(shape ?? {});
      // One line per key: the locator splits them so each points at its own key.
      return iss.keys
        .map((k) => {
          const hint = suggestHint(k, known, known.length > 0 ? `known keys: ${known.join(", ")}` : "remove it");
          return `unknown key "${k}"${hint ? ` (hint: ${hint})` : ""}`;
        })
        .join("\n");
    }
    case "invalid_value": {
      const values = iss.values.map((v) => (typeof v === "string" ? v : String(v)));
      const expected = values.length === 1 ? JSON.stringify(iss.values[0]) : `${values.slice(0, -1).join(", ")} or ${values.at(-1)}`;
      const close = typeof iss.input === "string" ? suggest(iss.input, values) : undefined;
      return `expected ${expected}, got ${describeValue(iss.input)}${close ? ` (hint: did you mean "${close}"?)` : ""}`;
    }
    case "too_small":
    case "too_big": {
      const small = iss.code === "too_small";
      const n = Number(small ? iss.minimum : iss.maximum);
      if (iss.origin === "array" || iss.origin === "set") {
        return small ? `needs at least ${n} item${n === 1 ? "" : "s"}` : `allows at most ${n} item${n === 1 ? "" : "s"}`;
      }
      if (iss.origin === "string") {
        if (small && n === 1) return "must not be empty";
        return `must be ${small ? "at least" : "at most"} ${n} characters (got ${describeValue(iss.input)})`;
      }
      const bound = small ? (iss.inclusive ? "at least" : "greater than") : iss.inclusive ? "at most" : "less than";
      return `must be ${bound} ${n} (got ${describeValue(iss.input)})`;
    }
    case "invalid_format":
      return iss.format === "regex"
        ? `must match ${iss.pattern} (got ${describeValue(iss.input)})`
        : `must be a valid ${iss.format} (got ${describeValue(iss.input)})`;
    case "not_multiple_of":
      return `must be a multiple of ${iss.divisor} (got ${describeValue(iss.input)})`;
    case "invalid_union": {
      const kinds = iss.errors.map((branch) =>
        branch.length === 1 && branch[0]!.code === "invalid_type" && branch[0]!.path.length === 0
          ? (EXPECTED[branch[0]!.expected] ?? branch[0]!.expected)
          : undefined,
      );
      if (kinds.length > 0 && kinds.every((k) => k !== undefined))
        return `expected ${[...new Set(kinds)].join(" or ")}, got ${describeValue(iss.input)}`;
      return `does not match any allowed form (got ${describeValue(iss.input)})`;
    }
    case "invalid_key":
      return `invalid key ${describeValue(iss.input)}`;
    default:
      return undefined;
  }
}
