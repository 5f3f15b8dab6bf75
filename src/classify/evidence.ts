// Evidence is shown in terminals, Slack and PagerDuty and stored in the journal, and parts of it
// come from whatever a target answered. These helpers make sure a hostile body cannot break the
// one-line format: no newlines, no terminal escapes, no bidi tricks, nothing unbounded.

/** Longest embedded value, in characters, before it is cut with "…". */
export const MAX_VALUE_CHARS = 80;
/** Longest evidence line, in characters, before it is cut with "…". */
export const MAX_LINE_CHARS = 300;

// Whole ANSI sequences go first so their printable tail ("[31m") does not survive as noise.
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-_]|\u009b[0-?]*[ -/]*[@-~]/g;
// C0/C1 controls, DEL, zero-width and bidi controls, line/paragraph separators, BOM, and lone
// surrogates (they render as garbage and break some JSON consumers).
const INVISIBLE =
  /[\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// Line breaks and tabs become a space so the words either side stay apart.
const BREAKS = /[\t\n\v\f\r\u0085\u2028\u2029]+/g;

/** Text with terminal escapes and control/invisible characters removed (breaks become spaces). */
export function stripControls(text: string): string {
  return text.replace(ANSI, "").replace(BREAKS, " ").replace(INVISIBLE, "");
}

/** `text` cut to at most `max` characters, ending in "…" when cut; never splits a surrogate pair. */
export function cap(text: string, max: number): string {
  return text.length <= max ? text : `${head(text, max - 1)}…`;
}

// The first `n` UTF-16 units of `text`, one fewer when that would split a surrogate pair.
function head(text: string, n: number): string {
  const end = Math.max(0, n);
  const last = text.charCodeAt(end - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? end - 1 : end);
}

/** Untrusted text made safe to embed unquoted: stripped and capped. */
export function plain(text: string, max = MAX_VALUE_CHARS): string {
  // Look at a bounded prefix only, so a 10 MB string is not scanned in full.
  const sliced = text.length > max * 4 + 16;
  const clean = stripControls(sliced ? text.slice(0, max * 4 + 16) : text);
  return sliced ? `${head(clean, max - 1)}…` : cap(clean, max);
}

/**
 * A value from the outside world as it should appear in evidence: strings JSON-quoted (as
 * JSON.stringify would, after stripping controls), numbers/booleans/null as JSON, containers
 * summarised rather than serialised (a hostile body may be deeply nested). At most `max` chars.
 */
export function quote(value: unknown, max = MAX_VALUE_CHARS): string {
  if (typeof value === "string") return quoteString(value, max);
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : JSON.stringify(String(value));
  if (typeof value === "boolean" || value === null) return String(value);
  if (value === undefined) return "(missing)";
  if (Array.isArray(value)) return `[array of ${value.length}]`;
  if (typeof value === "object") return "{object}";
  return `(${typeof value})`;
}

function quoteString(value: string, max: number): string {
  // Look at a bounded prefix only, so a 10 MB string is not scanned in full.
  const sliced = value.length > max * 4 + 16;
  const clean = stripControls(sliced ? value.slice(0, max * 4 + 16) : value);
  const budget = Math.max(2, max - 2);
  const pieces: string[] = [];
  let length = 0;
  for (const ch of clean) {
    // After stripping, `"` and `\` are the only characters JSON.stringify would escape.
    const piece = ch === '"' || ch === "\\" ? `\\${ch}` : ch;
    pieces.push(piece);
    length += piece.length;
    if (length > budget) break;
  }
  if (length <= budget && !sliced) return `"${pieces.join("")}"`;
  // Whole pieces only, so an escape is never cut in half; keep room for "…".
  while (length > budget - 1 && pieces.length > 0) length -= pieces.pop()!.length;
  return `"${pieces.join("")}…"`;
}

/** A finished evidence line: stripped, single line, whitespace collapsed, capped. */
export function evidenceLine(parts: string[]): string {
  const line = stripControls(parts.filter((p) => p.length > 0).join(", "))
    .replace(/ {2,}/g, " ")
    .trim();
  return cap(line, MAX_LINE_CHARS);
}

// Keys that name a database in health bodies: database_status, db, components.db, "postgres:connections".
const DB_KEY = /^(?:db|[a-z]+db|database|datastore|datasource|postgres|postgresql|pg|mysql|mariadb|sqlite|mssql|sql|jdbc|r2dbc)$/;
const UP_WORDS = /^(?:up|ok|pass|healthy|connected|reachable|true)$/i;
const MAX_VISITS = 256;

/**
 * The body field that reports the database, as `path=value` (`database_status="disconnected"`,
 * `components.db.status="DOWN"`), preferring one that does not read as up. Bounded walk over own
 * properties, depth 4; undefined when none is found.
 */
export function databaseField(body: unknown): string | undefined {
  const found: { path: string; value: unknown }[] = [];
  let visits = 0;
  const visit = (node: unknown, path: string, depth: number): void => {
    if (depth > 4 || node === null || typeof node !== "object" || Array.isArray(node)) return;
    for (const key in node) {
      if (++visits > MAX_VISITS || found.length >= 8) return;
      if (!Object.hasOwn(node, key)) continue;
      const value = (node as Record<string, unknown>)[key];
      const here = `${path}${segment(key, path === "")}`;
      const status = isDatabaseKey(key) ? statusOf(value) : undefined;
      if (status) found.push({ path: `${here}${status.path}`, value: status.value });
      else visit(value, here, depth + 1);
    }
  };
  try {
    visit(body, "", 0);
  } catch {
    // A throwing getter or proxy: whatever was found so far is still good evidence.
  }
  const pick = found.find((f) => !UP_WORDS.test(String(f.value))) ?? found[0];
  return pick ? `${cap(pick.path, MAX_VALUE_CHARS)}=${quote(pick.value)}` : undefined;
}

function isDatabaseKey(key: string): boolean {
  const k = key.slice(0, 64);
  if (/database|datastore|datasource/i.test(k)) return true;
  return k
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .some((t) => DB_KEY.test(t));
}

// The status-like value a database key holds: itself, its .status/.state, or its first entry's.
function statusOf(value: unknown, inList = false): { path: string; value: unknown } | undefined {
  if (typeof value === "string" || typeof value === "boolean") return inList ? undefined : { path: "", value };
  if (value === null || typeof value !== "object") return undefined;
  if (Array.isArray(value)) {
    const inner = !inList && value.length > 0 ? statusOf(value[0], true) : undefined;
    return inner ? { path: `[0]${inner.path}`, value: inner.value } : undefined;
  }
  for (const key of ["status", "state"]) {
    const v = Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
    if (typeof v === "string" || typeof v === "boolean") return { path: `.${key}`, value: v };
  }
  return undefined;
}

function segment(key: string, first: boolean): string {
  if (/^[A-Za-z_$][A-Za-z0-9_$-]{0,63}$/.test(key)) return first ? key : `.${key}`;
  return `[${quote(key, 40)}]`;
}
