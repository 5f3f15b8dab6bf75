// The Markdown of medic's postmortem drafts (src/incidents/report.ts), read into blocks the
// console draws as DOM text. Only what the drafts use is understood: headings, paragraphs, quotes,
// lists, tables, fenced code, and inline code, bold, italics, escapes, entities and <br>. Nothing
// becomes HTML: any other tag stays the text it is.

/** A run of inline content. */
export type Inline =
  | { t: "text"; text: string }
  | { t: "code"; text: string }
  | { t: "strong"; children: Inline[] }
  | { t: "em"; children: Inline[] }
  | { t: "br" };

/** A block of a document. */
export type Block =
  | { t: "heading"; level: number; children: Inline[] }
  | { t: "paragraph"; children: Inline[] }
  | { t: "quote"; children: Inline[] }
  | { t: "list"; items: Inline[][] }
  | { t: "table"; header: Inline[][]; rows: Inline[][][] }
  | { t: "code"; info: string; text: string };

/** The blocks of a Markdown document. */
export function parseMarkdown(source: string): Block[] {
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    const fence = /^(`{3,})(.*)$/.exec(line);
    if (fence) {
      const body: string[] = [];
      i++;
      while (i < lines.length && lines[i] !== fence[1]) body.push(lines[i++]!);
      i++;
      blocks.push({ t: "code", info: fence[2]!.trim(), text: body.join("\n") });
      continue;
    }
    const heading = /^(#{1,6}) +(.*)$/.exec(line);
    if (heading) {
      blocks.push({ t: "heading", level: heading[1]!.length, children: parseInline(heading[2]!) });
      i++;
      continue;
    }
    if (line.trim() === "") {
      i++;
      continue;
    }
    const run = (test: (l: string) => boolean): string[] => {
      const taken: string[] = [];
      while (i < lines.length && test(lines[i]!)) taken.push(lines[i++]!);
      return taken;
    };
    if (line.startsWith(">")) {
      const quoted = run((l) => l.startsWith(">")).map((l) => l.replace(/^> ?/, ""));
      blocks.push({ t: "quote", children: parseInline(quoted.join(" ")) });
    } else if (/^[-*] /.test(line)) {
      blocks.push({ t: "list", items: run((l) => /^[-*] /.test(l)).map((l) => parseInline(l.slice(2))) });
    } else if (line.startsWith("|") && /^\|(\s*:?-+:?\s*\|)+\s*$/.test(lines[i + 1] ?? "")) {
      const header = cells(line);
      i += 2;
      blocks.push({ t: "table", header, rows: run((l) => l.startsWith("|")).map(cells) });
    } else {
      const text = run((l) => l.trim() !== "" && !/^(#{1,6} |>|[-*] |`{3}|\|)/.test(l));
      blocks.push({ t: "paragraph", children: parseInline(text.join(" ")) });
    }
  }
  return blocks;
}

// A table row's cells: split on | that is not escaped.
function cells(line: string): Inline[][] {
  const inner = line.trim().replace(/^\|/, "").replace(/\|$/, "");
  const out: string[] = [];
  let cell = "";
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === "\\" && i + 1 < inner.length) {
      cell += inner[i]! + inner[i + 1]!;
      i++;
    } else if (inner[i] === "|") {
      out.push(cell);
      cell = "";
    } else cell += inner[i];
  }
  out.push(cell);
  return out.map((c) => parseInline(c.trim()));
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" };
const PUNCTUATION = /[!-/:-@[-`{-~]/;

/** Inline Markdown: code spans, **bold**, _italics_ and *italics*, backslash escapes, a few entities, and <br>. */
export function parseInline(text: string): Inline[] {
  const out: Inline[] = [];
  const push = (s: string) => {
    const last = out[out.length - 1];
    if (last?.t === "text") last.text += s;
    else out.push({ t: "text", text: s });
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\\" && PUNCTUATION.test(text[i + 1] ?? "")) {
      push(text[i + 1]!);
      i += 2;
      continue;
    }
    if (c === "&") {
      const m = /^&(amp|lt|gt|quot|#39);/.exec(text.slice(i));
      if (m) {
        push(ENTITIES[m[1]!]!);
        i += m[0].length;
        continue;
      }
    }
    if (c === "<" && /^<br\s*\/?>/i.test(text.slice(i))) {
      out.push({ t: "br" });
      i += /^<br\s*\/?>/i.exec(text.slice(i))![0].length;
      continue;
    }
    if (c === "`") {
      const ticks = /^`+/.exec(text.slice(i))![0];
      const end = text.indexOf(ticks, i + ticks.length);
      if (end > 0) {
        out.push({ t: "code", text: text.slice(i + ticks.length, end).replace(/^ (.*) $/, "$1") });
        i = end + ticks.length;
        continue;
      }
      push(ticks);
      i += ticks.length;
      continue;
    }
    if (text.startsWith("**", i)) {
      const end = closing(text, "**", i + 2);
      if (end > i + 2) {
        out.push({ t: "strong", children: parseInline(text.slice(i + 2, end)) });
        i = end + 2;
        continue;
      }
    }
    if ((c === "_" || c === "*") && !/\w/.test(text[i - 1] ?? "")) {
      const end = closing(text, c, i + 1);
      if (end > i + 1 && !/\w/.test(text[end + 1] ?? "")) {
        out.push({ t: "em", children: parseInline(text.slice(i + 1, end)) });
        i = end + 1;
        continue;
      }
    }
    push(c);
    i++;
  }
  return out;
}

// Where an unescaped `marker` closes, from `from` on; -1 when it does not.
function closing(text: string, marker: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === "`") {
      const ticks = /^`+/.exec(text.slice(i))![0];
      const end = text.indexOf(ticks, i + ticks.length);
      if (end > 0) i = end + ticks.length - 1;
    } else if (text.startsWith(marker, i)) return i;
  }
  return -1;
}

/** The plain text of inline content (for titles and tests). */
export function inlineText(parts: Inline[]): string {
  return parts.map((p) => (p.t === "text" || p.t === "code" ? p.text : p.t === "br" ? "\n" : inlineText(p.children))).join("");
}
