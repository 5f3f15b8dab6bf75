import { describe, expect, it } from "vitest";
import { inlineText, parseMarkdown } from "../src/console/markdown.js";
import { incidentReport } from "../src/incidents/report.js";
import type { Incident } from "../src/incidents/types.js";

// The console draws a postmortem draft from its Markdown: outside text that went through the
// server's escaping (src/incidents/markdown.ts) must come back out of the console's reader as the
// same literal text, never as markup.

const HOSTILE = '<img src=x onerror="alert(1)"> **not bold** [link](http://evil) | cell `tick` &amp; \\';

describe("a postmortem draft in the console", () => {
  it("keeps hostile outside text literal when it goes through a real postmortem draft", () => {
    const incident: Incident = {
      id: "abcd1234",
      target: "web",
      kind: "server_down",
      severity: "P1",
      state: "open",
      openedAt: 0,
      updatedAt: 0,
      evidence: HOSTILE,
      occurrences: 1,
      runs: [],
      timeline: [{ type: "opened", target: "web", kind: "server_down", severity: "P1", evidence: HOSTILE, at: 0, incident: "abcd1234" }],
      notifications: [],
      dryRun: false,
    };
    const blocks = parseMarkdown(incidentReport(incident, [], 60_000));
    const texts = JSON.stringify(blocks);
    const all = blocks.flatMap((b) =>
      "children" in b
        ? [inlineText(b.children)]
        : b.t === "table"
          ? b.rows.flat().map(inlineText)
          : b.t === "list"
            ? b.items.map(inlineText)
            : [],
    );
    expect(all.some((t) => t.includes(HOSTILE))).toBe(true);
    // Only the kinds of node a renderer turns into elements: never a link or raw HTML.
    expect(
      [...texts.matchAll(/"t":"(\w+)"/g)].every((m) =>
        ["heading", "paragraph", "quote", "list", "table", "code", "text", "strong", "em", "br"].includes(m[1]!),
      ),
    ).toBe(true);
  });
});
