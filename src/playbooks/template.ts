import type { Target } from "../config/target.js";
import { formatDuration } from "../lib/duration.js";
import { MedicError } from "../lib/errors.js";

// `{{ target.name }}`-style templates in playbook values. Each value knows where it came from:
// trusted (the operator's config, or ids and kinds medic made) or external (health bodies, alert
// payloads). External values are inserted so they can never change what kind of thing a value is:
// a URL keeps its host, an argv element stays one element and not an option, JSON keeps its shape.

/** A value a template may insert, and whether it came from the operator (trusted) or the outside world. */
export interface TemplateValue {
  value: string;
  trusted: boolean;
}

/** Template variables by name: `target.name`, `incident.evidence`, ... */
export type TemplateVars = Record<string, TemplateValue>;

/** Stable codes of template errors. */
export type TemplateErrorCode = "TEMPLATE_UNKNOWN_VARIABLE" | "TEMPLATE_UNSAFE_VALUE" | "TEMPLATE_SYNTAX" | "TEMPLATE_BAD_URL";

/** A template that cannot be rendered: unknown or missing variable, unsafe value, bad syntax or URL. */
export class TemplateError extends MedicError {
  declare readonly code: TemplateErrorCode;
  constructor(code: TemplateErrorCode, message: string, hint: string) {
    super(code, message, { hint });
    this.name = "TemplateError";
  }
}

const INCIDENT_FIELDS = ["id", "kind", "severity", "target", "evidence"] as const;
/** The target's thresholds by their names in the config; durations render like `3s`, ratios like `0.9`. */
const THRESHOLDS = {
  latency: (t: Target["thresholds"]) => exactDuration(t.latencyMs),
  poolUtilization: (t: Target["thresholds"]) => String(t.poolUtilization),
  memoryUtilization: (t: Target["thresholds"]) => String(t.memoryUtilization),
  idleInTransaction: (t: Target["thresholds"]) => exactDuration(t.idleInTransactionMs),
  queryDuration: (t: Target["thresholds"]) => exactDuration(t.queryMs),
} as const;
const NAME = /^[A-Za-z0-9_./-]+$/;
const NUMBER = /^-?\d{1,15}(?:\.\d{1,15})?$/;
const LABEL = "target.labels.";
const THRESHOLD = "target.thresholds.";
const ALLOWED_HINT =
  `use one of target.name, target.labels.KEY, target.thresholds.{${Object.keys(THRESHOLDS).join(",")}}, ` +
  INCIDENT_FIELDS.map((f) => `incident.${f}`).join(", ");

/** True when `name` is a variable a playbook may use (any label key is allowed until render time). */
function isAllowedName(name: string): boolean {
  if (name === "target.name") return true;
  if (name.startsWith(LABEL)) return name.length > LABEL.length;
  if (name.startsWith(THRESHOLD)) return Object.hasOwn(THRESHOLDS, name.slice(THRESHOLD.length));
  return INCIDENT_FIELDS.some((f) => name === `incident.${f}`);
}

// Whole seconds read as the config writes them (3s, 5m); anything finer stays exact in ms.
function exactDuration(ms: number): string {
  return ms % 1000 === 0 ? formatDuration(ms) : `${ms}ms`;
}

type Part = { literal: string } | { name: string; offset: number };

/** Splits a template into literal text and variable references, or reports the first syntax error. */
function parse(text: string): { parts: Part[] } | { error: { message: string; hint: string; offset: number } } {
  const parts: Part[] = [];
  let at = 0;
  for (;;) {
    const open = text.indexOf("{{", at);
    if (open < 0) break;
    const close = text.indexOf("}}", open + 2);
    if (close < 0) {
      return { error: { message: `unclosed "{{" at offset ${open}`, hint: 'close it with "}}", like {{ target.name }}', offset: open } };
    }
    const name = text.slice(open + 2, close).trim();
    if (!NAME.test(name)) {
      return { error: { message: `"{{${text.slice(open + 2, close)}}}" is not a variable reference`, hint: ALLOWED_HINT, offset: open } };
    }
    if (open > at) parts.push({ literal: text.slice(at, open) });
    parts.push({ name, offset: open });
    at = close + 2;
  }
  if (at < text.length) parts.push({ literal: text.slice(at) });
  return { parts };
}

/** The variables a template references, with the offset of each `{{`. Syntax errors are left to `checkTemplate`. */
export function templateVariables(text: string): { name: string; offset: number }[] {
  const parsed = parse(text);
  if ("error" in parsed) return [];
  return parsed.parts.flatMap((p) => ("name" in p ? [{ name: p.name, offset: p.offset }] : []));
}

/** Load-time problems in a template: syntax errors and names that are not allowed. */
export function checkTemplate(text: string): { message: string; hint: string; offset: number }[] {
  const parsed = parse(text);
  if ("error" in parsed) return [parsed.error];
  return parsed.parts.flatMap((p) =>
    "name" in p && !isAllowedName(p.name)
      ? [{ message: `unknown template variable "${p.name}"`, hint: ALLOWED_HINT, offset: p.offset }]
      : [],
  );
}

/** The variables of one target, and of the incident a playbook runs for, each with its provenance. */
export function buildTemplateVars(
  target: Target,
  incident?: { id: string; kind: string; severity: string; target: string; evidence: string },
): TemplateVars {
  const vars: TemplateVars = { "target.name": { value: target.name, trusted: true } };
  for (const [key, value] of Object.entries(target.labels)) vars[`target.labels.${key}`] = { value, trusted: true };
  for (const [key, show] of Object.entries(THRESHOLDS)) vars[`${THRESHOLD}${key}`] = { value: show(target.thresholds), trusted: true };
  if (incident) {
    for (const f of INCIDENT_FIELDS) vars[`incident.${f}`] = { value: incident[f], trusted: f !== "evidence" };
  }
  return vars;
}

/** Renders templates for one context: plain text, a URL, one argv element, or JSON string leaves. */
export interface Renderer {
  text(s: string): string;
  url(s: string): string;
  arg(s: string): string;
  json(v: unknown): unknown;
}

/** A piece of rendered output and the variable it came from, if any. */
interface Piece {
  text: string;
  from?: { name: string; trusted: boolean };
}

/** A renderer over `vars`. Values are inserted once; a value holding `{{ }}` is never expanded again. */
export function createRenderer(vars: TemplateVars): Renderer {
  const pieces = (template: string, encode: (v: TemplateValue) => string = (v) => v.value): Piece[] => {
    const parsed = parse(template);
    if ("error" in parsed) throw new TemplateError("TEMPLATE_SYNTAX", parsed.error.message, parsed.error.hint);
    return parsed.parts.map((p) => {
      if ("literal" in p) return { text: p.literal };
      const v = vars[p.name] ?? missing(p.name, vars);
      return { text: encode(v), from: { name: p.name, trusted: v.trusted } };
    });
  };
  const join = (ps: Piece[]): string => ps.map((p) => p.text).join("");

  return {
    text(s) {
      const ps = pieces(s);
      for (const p of ps) if (p.from && !p.from.trusted) refuseControl(p.text, p.from.name, "a text value");
      return join(ps);
    },
    url(s) {
      const ps = pieces(s, (v) => (v.trusted ? v.value : encodeURIComponent(v.value)));
      checkUrl(ps);
      return join(ps);
    },
    arg(s) {
      const ps = pieces(s);
      for (const p of ps) if (p.from && !p.from.trusted) refuseControl(p.text, p.from.name, "a command argument");
      // The first piece that contributes a character decides how the argument starts.
      const first = ps.find((p) => p.text.length > 0);
      if (first?.from && !first.from.trusted && first.text.startsWith("-")) {
        throw new TemplateError(
          "TEMPLATE_UNSAFE_VALUE",
          `{{ ${first.from.name} }} starts a command argument with "-" (${preview(first.text)}): it would be read as an option`,
          "put a fixed prefix before the variable, like --reason={{ incident.evidence }}",
        );
      }
      return join(ps);
    },
    json(v) {
      return mapStrings(v, (s) => {
        const parts = pieces(s);
        // A leaf that is exactly one label holding a number in its plain form becomes a JSON number
        // ({"max_size": 40}). Ids and names stay strings even when they happen to be all digits
        // (incident 27507124), "007" stays "007", and an external value never changes a leaf's type.
        const only = parts.length === 1 ? parts[0]! : undefined;
        if (only?.from?.trusted && only.from.name.startsWith(LABEL) && isPlainNumber(only.text)) return Number(only.text);
        return join(parts);
      });
    },
  };
}

function isPlainNumber(s: string): boolean {
  return NUMBER.test(s) && String(Number(s)) === s;
}

function missing(name: string, vars: TemplateVars): never {
  if (!isAllowedName(name)) throw new TemplateError("TEMPLATE_UNKNOWN_VARIABLE", `unknown template variable "${name}"`, ALLOWED_HINT);
  if (name.startsWith(LABEL)) {
    const key = name.slice(LABEL.length);
    throw new TemplateError(
      "TEMPLATE_UNKNOWN_VARIABLE",
      `{{ ${name} }}: target ${vars["target.name"]?.value ?? "?"} has no label "${key}"`,
      `add labels: { ${key}: ... } to the target, or limit the playbook to targets with that label`,
    );
  }
  throw new TemplateError(
    "TEMPLATE_UNKNOWN_VARIABLE",
    `{{ ${name} }} has no value here: it is only known while an incident runs the playbook`,
    "incident variables are filled when medic runs the playbook for an incident",
  );
}

function refuseControl(value: string, name: string, where: string): void {
  if (/[\r\n\0]/.test(value)) {
    throw new TemplateError(
      "TEMPLATE_UNSAFE_VALUE",
      `{{ ${name} }} holds a line break or NUL, which is not allowed in ${where} (${preview(value)})`,
      "external values must be a single line; use the variable in a JSON body instead, where it stays a string",
    );
  }
}

const URL_AUTHORITY = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\\]*[/?#\\]/i;
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/** External pieces only after the host, never forming `.`/`..` segments; the whole must be http(s). */
function checkUrl(ps: Piece[]): void {
  let sofar = "";
  const external: [number, number][] = [];
  for (const p of ps) {
    if (p.from && !p.from.trusted) {
      if (!URL_AUTHORITY.test(sofar)) {
        throw new TemplateError(
          "TEMPLATE_UNSAFE_VALUE",
          `{{ ${p.from.name} }} comes from outside medic and may not set a URL's scheme, host or port`,
          "use it only in the path or query, after the host (like http://host/api/{{ incident.evidence }})",
        );
      }
      external.push([sofar.length, sofar.length + p.text.length]);
    }
    sofar += p.text;
  }
  let url: URL;
  try {
    url = new URL(sofar);
  } catch {
    throw new TemplateError(
      "TEMPLATE_BAD_URL",
      `rendered URL is not a valid URL (${preview(stripSecrets(sofar))})`,
      "check the url and the variables in it",
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TemplateError(
      "TEMPLATE_BAD_URL",
      `rendered URL must be http or https (got ${url.protocol})`,
      "start the url with http:// or https://",
    );
  }
  // `..` (or `%2e%2e`) made from an external value would climb out of the path the operator wrote.
  const pathStart = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\\]*/i.exec(sofar)?.[0].length ?? 0;
  const tail = sofar.slice(pathStart).search(/[?#]/);
  const pathEnd = tail < 0 ? sofar.length : pathStart + tail;
  let segStart = pathStart + 1;
  for (let i = segStart; i <= pathEnd; i++) {
    if (i < pathEnd && sofar[i] !== "/" && sofar[i] !== "\\") continue;
    const seg = sofar.slice(segStart, i);
    if (DOT_SEGMENT.test(seg) && external.some(([a, b]) => a < i && b > segStart)) {
      throw new TemplateError(
        "TEMPLATE_UNSAFE_VALUE",
        `an external value makes the URL path segment "${seg}", which would change the path`,
        'external values may not be "." or ".." in a URL path',
      );
    }
    segStart = i + 1;
  }
}

/** `scheme://host/path` without userinfo or query, for messages. */
function stripSecrets(s: string): string {
  return s.replace(/\/\/[^/@]*@/, "//").replace(/[?#].*$/, "");
}

function preview(s: string): string {
  const shown = JSON.stringify(s);
  return shown.length > 60 ? `${shown.slice(0, 57)}..."` : shown;
}

function mapStrings(v: unknown, f: (s: string) => unknown): unknown {
  if (typeof v === "string") return f(v);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f));
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapStrings(x, f)]));
  }
  return v;
}
