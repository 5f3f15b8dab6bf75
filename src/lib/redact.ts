/** What a secret is printed as. */
export const REDACTED = "[secret]";

/**
 * Secrets shorter than this are not redacted: replacing "42" everywhere would mangle every line.
 * Config loading warns about such values instead (`shortSecretWarning`).
 */
export const MIN_SECRET_CHARS = 4;

/**
 * Secret values, and every form they take on the way out, each replaced by [secret]. A secret can
 * reach output percent-encoded (a URL's path, query or userinfo), form-encoded, or escaped inside
 * JSON (a log line, a journal record, a request body), so each of those forms is redacted too.
 * Secrets are only ever added: a value a reload dropped may still sit in an incident in flight.
 */
export class Redactor {
  private readonly forms = new Set<string>();
  private pattern: RegExp | undefined;

  /** Remembers secret values; ones shorter than MIN_SECRET_CHARS are left out. */
  add(values: Iterable<string>): void {
    let grew = false;
    for (const value of values) {
      if (value.length < MIN_SECRET_CHARS) continue;
      for (const form of formsOf(value)) {
        if (form.length < MIN_SECRET_CHARS || this.forms.has(form)) continue;
        this.forms.add(form);
        grew = true;
      }
    }
    if (grew) this.pattern = undefined;
  }

  /** The text with every secret, in any of its forms, replaced by [secret]. */
  text(text: string): string {
    if (this.forms.size === 0) return text;
    this.pattern ??= new RegExp(
      [...this.forms]
        .sort((a, b) => b.length - a.length)
        .map(escapeRegExp)
        .join("|"),
      "g",
    );
    return text.replace(this.pattern, REDACTED);
  }

  /** A copy of a JSON-like value with every string redacted; the value itself when nothing in it changed. */
  value<T>(value: T): T {
    if (this.forms.size === 0) return value;
    return redactValue(value, this) as T;
  }
}

/**
 * The process's one redactor: loading a config adds its secrets, and every sink (the log, the
 * journal, API replies, CLI output, notifications) passes what it writes through it.
 */
export const redactor = new Redactor();

function redactValue(value: unknown, r: Redactor): unknown {
  if (typeof value === "string") return r.text(value);
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((item) => {
      const next = redactValue(item, r);
      if (next !== item) changed = true;
      return next;
    });
    return changed ? out : value;
  }
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const next = redactValue(item, r);
      if (next !== item) changed = true;
      out[key] = next;
    }
    return changed ? out : value;
  }
  return value;
}

// The WHATWG URL percent-encode sets a URL parser applies to a path, a query and userinfo.
const QUERY_SET = new Set([..." \"#<>'"]);
const PATH_SET = new Set([...QUERY_SET, ..."?`{}"].filter((c) => c !== "'"));
const USERINFO_SET = new Set([...PATH_SET, ..."/:;=@[\\]^|"]);

/** A secret as written, percent-encoded the ways URLs and forms encode it, and each of those escaped for JSON. */
function formsOf(value: string): string[] {
  if (!isWellFormed(value)) return [value, JSON.stringify(value).slice(1, -1)];
  const encoded = [
    value,
    percentEncode(value, PATH_SET),
    percentEncode(value, QUERY_SET),
    percentEncode(value, USERINFO_SET),
    encodeURIComponent(value),
    new URLSearchParams({ v: value }).toString().slice(2),
  ];
  const forms = new Set<string>();
  for (const form of encoded) {
    forms.add(form);
    forms.add(JSON.stringify(form).slice(1, -1));
    // A JSON string inside a JSON string (a request body quoted in a log line) is escaped twice.
    forms.add(JSON.stringify(JSON.stringify(form).slice(1, -1)).slice(1, -1));
  }
  return [...forms];
}

// A lone surrogate cannot be percent-encoded (encodeURIComponent throws), nor reach a URL.
function isWellFormed(value: string): boolean {
  try {
    encodeURIComponent(value);
    return true;
  } catch {
    return false;
  }
}

function percentEncode(value: string, set: ReadonlySet<string>): string {
  let out = "";
  for (const char of value) {
    const code = char.codePointAt(0)!;
    out += code <= 0x20 || code >= 0x7f || set.has(char) ? encodeURIComponent(char) : char;
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
