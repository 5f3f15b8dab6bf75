/**
 * Markdown building blocks for text that came from the outside world (health bodies, step output,
 * reasons): whatever it holds, it stays literal text. It cannot hide a link behind other words,
 * open an HTML tag, a code span, a table cell or a new block. (A bare URL is still shown as a link
 * by GitHub: its text is the URL itself.)
 */

// C0 controls (but tab and line feed) and DEL: terminal escapes in step output, NULs from a broken body.
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;
// Inline constructs: emphasis, code spans, links and images, math, table cells, escapes themselves.
const INLINE = /[\\`*_~[\]|$!#]/g;

/** Text as one inline run: Markdown-significant characters escaped, line breaks as `<br>` (works in table cells too). */
export function inline(text: string): string {
  return (
    visible(text)
      .trim()
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(INLINE, (c) => `\\${c}`)
      .replace(/\n/g, "<br>")
      // Blanks before a break would make a hard break of their own.
      .replace(/[ \t]+<br>/g, "<br>")
      // What would start a list item, or underline a heading, where the run begins a line ("- " + text).
      .replace(/^[-+=]/, "\\$&")
      .replace(/^(\d+)([.)])/, "$1\\$2")
  );
}

/** A code span for a plain token (a step kind, a channel name); anything else goes through `inline`. */
export function code(text: string): string {
  return /^[A-Za-z0-9_.:/@-]+$/.test(text) ? `\`${text}\`` : inline(text);
}

/** Text as a fenced code block: shown exactly, with a fence longer than any backtick run inside it. */
export function fenced(text: string, info = "text"): string {
  const body = visible(text).replace(/\n+$/, "");
  const longest = Math.max(0, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${body}\n${fence}`;
}

/** A GitHub-flavoured table; cells are already inline Markdown. */
export function mdTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c || " ").join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** An ISO time in UTC as people read it: `2025-01-02 12:00:01.234`. */
export function utc(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}

// Line breaks normalised; other control characters shown as \xNN rather than acted on by a terminal or renderer.
function visible(text: string): string {
  return text.replace(/\r\n?/g, "\n").replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
