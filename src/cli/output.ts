import { redactor } from "../lib/redact.js";

/** Columns padded to their widest cell; the last column is left ragged. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** Keeps a cell to one short line. */
export function cell(text: string, max = 80): string {
  const flat = text.replace(/[\r\n\t]+/g, " ");
  return flat.length > max ? flat.slice(0, max - 1) + "…" : flat;
}

/** Exit codes every command shares. */
export const EXIT = { ok: 0, unhealthy: 1, badConfig: 2 } as const;

/** Writes to stdout. Every byte a command prints goes through here or printError, past the redactor. */
export function print(text: string): void {
  process.stdout.write(redactor.text(text));
}

/** Writes to stderr, redacted like print. */
export function printError(text: string): void {
  process.stderr.write(redactor.text(text));
}
