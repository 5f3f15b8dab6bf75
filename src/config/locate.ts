import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Pair, type Scalar } from "yaml";
import type { z } from "zod";
import { REDACTED } from "../lib/redact.js";
import { readRegularFile } from "../lib/regular-file.js";
import { describeValue, splitHint, type ConfigIssue } from "./issues.js";

/** One parsed YAML file and what is needed to turn a data path into `line:col`. */
export interface YamlSource {
  /** Absolute path. */
  file: string;
  text: string;
  doc: Document.Parsed;
  lines: LineCounter;
  /** Scalars whose value came from `${...}`, with the text as written (used instead of the secret value). */
  substituted: Map<Scalar, string>;
}

/** A path into the parsed data, as zod reports it: `["targets", 2, "probe", "http", "url"]`. */
export type DataPath = readonly PropertyKey[];

/** Which token of a path an issue points at: its value, its key, or the mapping that lacks it. */
export type Anchor = "value" | "key" | "parent";

const SYNTAX_HINTS: Record<string, string> = {
  BAD_INDENT: "indent with spaces, the same amount for every key of one mapping",
  TAB_AS_INDENT: "indent with spaces; YAML does not allow tabs",
  DUPLICATE_KEY: "remove or rename one of the two keys",
  MULTIPLE_DOCS: "one file holds one document; remove the `---` separator or split the file",
  MISSING_CHAR: "a quote or bracket is not closed",
  BLOCK_AS_IMPLICIT_KEY: "put a space after the colon of `key: value`",
  MULTILINE_IMPLICIT_KEY: "put a space after the colon of `key: value`, or quote the value",
};

/** Largest config or playbook file read: real ones are kilobytes; a 5 MB scalar must still get its line:col. */
export const MAX_YAML_BYTES = 16 * 1024 * 1024;

/** Reads and parses a YAML file; a missing file, one that is not a regular file or is too large, or a syntax error becomes issues (and no source). */
export async function readYaml(file: string, missingHint: string): Promise<{ source?: YamlSource; issues: ConfigIssue[] }> {
  const read = await readRegularFile(file, MAX_YAML_BYTES);
  if (!read.ok) {
    const hint = read.problem.code === "ENOENT" ? missingHint : read.problem.hint;
    return { issues: [{ file, line: 1, col: 1, path: "", message: read.problem.reason, hint, level: "error" }] };
  }
  return parseYaml(file, read.text);
}

/** Parses YAML text; syntax errors come back as issues at their own positions, and then no source. */
export function parseYaml(file: string, text: string): { source?: YamlSource; issues: ConfigIssue[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [...doc.errors, ...doc.warnings].map((e) => {
    const { line, col } = lines.linePos(e.pos[0]);
    const hint = SYNTAX_HINTS[e.code];
    return {
      file,
      line,
      col,
      path: "",
      message: `YAML: ${e.message}`,
      ...(hint ? { hint } : {}),
      level: e.name === "YAMLWarning" ? "warning" : "error",
    };
  });
  if (doc.errors.length > 0) return { issues };
  return { source: { file, text, doc, lines, substituted: new Map() }, issues };
}

/**
 * The document as plain data; an alias bomb or similar becomes an issue instead of a throw. A key
 * that is a list or mapping is an issue too, and is left out of the data (a JS object key can only
 * be a string: the yaml library would stringify it and print a Node warning).
 */
export function toData(source: YamlSource): { data: unknown; issues: ConfigIssue[] } {
  const issues = dropCollectionKeys(source);
  try {
    return { data: source.doc.toJS({ maxAliasCount: 1000 }), issues };
  } catch (err) {
    const message = `YAML: ${err instanceof Error ? err.message : String(err)}`;
    return {
      data: undefined,
      issues: [...issues, { file: source.file, line: 1, col: 1, path: "", message, hint: "use fewer aliases (*name)", level: "error" }],
    };
  }
}

/** Removes every pair whose key is a list, mapping or other object (or an alias of one), with an issue at each key. */
function dropCollectionKeys(source: YamlSource): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  // A tagged scalar can be an object too (`%YAML 1.1` with `!!binary` or a timestamp).
  const isCollection = (node: unknown): boolean =>
    isMap(node) ||
    isSeq(node) ||
    (isAlias(node) && isCollection(node.resolve(source.doc))) ||
    (isScalar(node) && typeof node.value === "object" && node.value !== null);
  // Aliases are not followed: the node they point at is visited where it is written.
  const visit = (node: unknown, path: PropertyKey[]): void => {
    if (isSeq(node)) node.items.forEach((item, i) => visit(item, [...path, i]));
    if (!isMap(node)) return;
    node.items = node.items.filter((pair) => {
      if (!isCollection(pair.key)) {
        visit(pair.value, [...path, isScalar(pair.key) ? String(pair.key.value) : String(pair.key)]);
        return true;
      }
      const [start, end] = (pair.key as { range: [number, number, number] }).range;
      const written = source.text.slice(start, end).replace(/\s+/g, " ").trim();
      const shown = written.length > 40 ? `${written.slice(0, 40)}…` : written;
      issues.push({
        file: source.file,
        ...source.lines.linePos(start),
        path: formatPath(path),
        level: "error",
        message: `a key must be a word or a quoted string, not ${keyKind(pair.key, source)} (${JSON.stringify(shown)})`,
        hint: "quote the key if it is meant as text, or remove it",
      });
      return false;
    });
  };
  visit(source.doc.contents, []);
  return issues;
}

function keyKind(node: unknown, source: YamlSource): string {
  const resolved = isAlias(node) ? node.resolve(source.doc) : node;
  return isMap(resolved) ? "a mapping" : isSeq(resolved) ? "a list" : "a tagged value";
}

/** `targets[2].probe.http.url`; keys that are not plain words are quoted. */
export function formatPath(path: DataPath): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (/^[A-Za-z_][\w.-]*$/.test(String(key))) out += out ? `.${String(key)}` : String(key);
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

interface Found {
  node: unknown;
  pair?: Pair;
  /** How many path elements exist in the document. */
  depth: number;
}

/** The YAML node at `path`, or the deepest existing ancestor. Aliases are followed. */
export function nodeAt(source: YamlSource, path: DataPath): Found {
  let node: unknown = source.doc.contents;
  let pair: Pair | undefined;
  for (let depth = 0; depth < path.length; depth++) {
    if (isAlias(node)) node = node.resolve(source.doc);
    const key = path[depth];
    if (isMap(node)) {
      const next = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(key));
      if (!next) return { node, pair, depth };
      [node, pair] = [next.value, next];
    } else if (isSeq(node) && typeof key === "number" && key < node.items.length) {
      [node, pair] = [node.items[key], undefined];
    } else {
      return { node, pair, depth };
    }
  }
  return { node, pair, depth: path.length };
}

/** `line:col` (1-based) of a path's value, key or parent; `offset` counts characters into a scalar's value. */
export function positionOf(source: YamlSource, path: DataPath, anchor: Anchor = "value", offset?: number): { line: number; col: number } {
  if (anchor === "parent") return positionOf(source, path.slice(0, -1));
  const found = nodeAt(source, path);
  const keyNode = found.pair && (found.pair.key as { range?: [number, number, number] } | null);
  let at: number | undefined;
  if (found.depth === path.length && anchor === "key" && keyNode?.range) at = keyNode.range[0];
  else {
    const node = found.node as { range?: [number, number, number] } | null;
    const empty = isScalar(node) && node.value === null && node.source === "";
    // An empty value (`interval:`) has no token of its own: point at its key.
    if ((!node?.range || empty) && keyNode?.range) at = keyNode.range[0];
    else if (node?.range) at = node.range[0];
    if (offset !== undefined && found.depth === path.length && isScalar(node) && !source.substituted.has(node))
      at = scalarOffset(source.text, node, offset);
  }
  return at === undefined ? { line: 1, col: 1 } : source.lines.linePos(at);
}

/** An issue located at `path` in `source`. */
export function issueAt(
  source: YamlSource,
  path: DataPath,
  message: string,
  opts: { hint?: string; level?: "error" | "warning"; anchor?: Anchor; offset?: number } = {},
): ConfigIssue {
  const { line, col } = positionOf(source, path, opts.anchor, opts.offset);
  return {
    file: source.file,
    line,
    col,
    path: formatPath(path),
    message,
    ...(opts.hint ? { hint: opts.hint } : {}),
    level: opts.level ?? "error",
  };
}

/** The source offset of the `offset`-th character of a scalar's value, undoing quotes, escapes and folding. */
export function scalarOffset(text: string, node: Scalar, offset: number): number {
  const [start, end] = node.range!;
  const raw = text.slice(start, end);
  let i = 0;
  let indent = 0;
  if (node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE") i = 1;
  else if (node.type === "BLOCK_LITERAL" || node.type === "BLOCK_FOLDED") {
    i = raw.indexOf("\n") + 1;
    indent = /^ */.exec(raw.slice(i))![0].length;
    i += indent;
  }
  for (let v = 0; v < offset && i < raw.length; v++) {
    const c = raw[i];
    if (c === "\n") {
      i++;
      // Block scalars strip their indentation; flow scalars fold a line break and its indentation into one space.
      if (indent > 0) i += Math.min(indent, /^ */.exec(raw.slice(i))![0].length);
      else while (raw[i] === " " || raw[i] === "\t") i++;
    } else if (node.type === "QUOTE_SINGLE" && c === "'" && raw[i + 1] === "'") i += 2;
    else if (node.type === "QUOTE_DOUBLE" && c === "\\") i += raw[i + 1] === "x" ? 4 : raw[i + 1] === "u" ? 6 : raw[i + 1] === "U" ? 10 : 2;
    else i++;
  }
  return start + Math.min(i, raw.length);
}

/** Under notify:, keys that hold credentials (a webhook URL, a key, a password, a header value). */
const CREDENTIAL_KEY = /password|secret|key|token|url/i;

function isCredential(path: DataPath): boolean {
  if (path[0] !== "notify") return false;
  const last = path.at(-1);
  return path.at(-2) === "headers" || (typeof last === "string" && CREDENTIAL_KEY.test(last));
}

/** Zod issues (parsed with `plainMessage` as error map and `reportInput`) located in the YAML they came from. */
export function locateZodIssues(
  source: YamlSource,
  issues: readonly z.core.$ZodIssue[],
  skip: ReadonlySet<string> = new Set(),
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const add = (path: DataPath, text: string, anchor: Anchor, extra: { hint?: string; offset?: number; got?: boolean } = {}) => {
    // A value whose ${...} failed was reported already; what zod says about the unfilled text is noise.
    if (anchor === "value" && skip.has(formatPath(path))) return;
    const found = nodeAt(source, path);
    const written = found.depth === path.length && isScalar(found.node) ? found.node : undefined;
    const original = written && source.substituted.get(written);
    const split = splitHint(text);
    let message = split.message;
    const hint = split.hint;
    // A value from ${...} is shown as written (whole or cut short), so no message carries a secret.
    if (original !== undefined) {
      for (const shown of [JSON.stringify(String(written!.value)), describeValue(written!.value)])
        message = message.split(shown).join(JSON.stringify(original));
    }
    // A credential written literally (not as ${...}) is not shown either.
    if (written && original === undefined && written.value !== null && typeof written.value !== "object" && isCredential(path)) {
      const v = written.value;
      for (const shown of [JSON.stringify(v), describeValue(v), String(v)]) message = message.split(shown).join('"[secret]"');
      extra = { ...extra, got: false };
    }
    const addGot = extra.got && !/\bgot /.test(message);
    if (addGot && anchor === "key") message += ` (got ${describeValue(String(path.at(-1)))})`;
    else if (addGot && written && written.value !== null && typeof written.value !== "object") {
      message += ` (got ${describeValue(original ?? withoutPassword(written.value))})`;
    }
    out.push(issueAt(source, path, message, { anchor, offset: extra.offset, hint: extra.hint ?? hint }));
  };
  const visit = (iss: z.core.$ZodIssue, prefix: DataPath): void => {
    const path = [...prefix, ...iss.path];
    switch (iss.code) {
      case "invalid_union": {
        const branch = closestBranch(iss.errors);
        if (branch) return branch.forEach((inner) => visit(inner, path));
        return add(path, iss.message, "value");
      }
      case "invalid_key":
        return add(path, iss.issues[0]?.message ?? iss.message, "key", { got: true });
      case "unrecognized_keys": {
        const lines = iss.message.split("\n");
        return iss.keys.forEach((key, n) => add([...path, key], lines[n] ?? `unknown key "${key}"`, "key"));
      }
      case "invalid_type":
        // Recomputed from the full path: inside a union branch zod only knew the branch-relative one.
        if (iss.message.startsWith("missing required key")) {
          return add(path, iss.message.replace(/^missing required key "[^"]*"/, `missing required key "${String(path.at(-1))}"`), "parent");
        }
        return add(path, iss.message, "value");
      case "custom": {
        const params = (iss.params ?? {}) as { hint?: unknown; offset?: unknown };
        const offset = typeof params.offset === "number" ? params.offset : undefined;
        const hint = typeof params.hint === "string" ? params.hint : undefined;
        return add(path, iss.message, "value", { offset, hint, got: offset === undefined });
      }
      default:
        return add(path, iss.message, "value", { got: true });
    }
  };
  for (const iss of issues) visit(iss, []);
  return out;
}

// The union branch the value was most likely meant for: the one that got past the type check, fewest issues first.
function closestBranch(branches: readonly (readonly z.core.$ZodIssue[])[]): readonly z.core.$ZodIssue[] | undefined {
  const typed = branches.filter((b) => !(b.length === 1 && b[0]!.code === "invalid_type" && b[0]!.path.length === 0));
  return typed.length === 0 ? undefined : typed.reduce((a, b) => (b.length < a.length ? b : a));
}

// A URL written with user:password@ and rejected (mysql:// for the store): the error shows it, the password never.
function withoutPassword(value: unknown): unknown {
  return typeof value === "string" ? value.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#@:\s]*):[^/?#\s]*@/, `$1:${REDACTED}@`) : value;
}
