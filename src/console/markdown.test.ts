import { describe, expect, it } from "vitest";
import { inlineText, parseInline, parseMarkdown, type Block } from "./markdown.js";

describe("parseMarkdown", () => {
  it("reads the blocks a postmortem draft has", () => {
    const blocks = parseMarkdown(
      [
        "# Title `x`",
        "",
        "> quoted",
        "> more",
        "",
        "| a | b |",
        "| --- | --- |",
        "| 1 \\| 2 | **3** |",
        "",
        "- one",
        "- _two_",
        "",
        "```text",
        "out <b>",
        "```",
        "",
        "plain",
        "text",
      ].join("\n"),
    );
    expect(blocks.map((b) => b.t)).toEqual(["heading", "quote", "table", "list", "code", "paragraph"]);
    const table = blocks[2] as Extract<Block, { t: "table" }>;
    expect(table.rows[0]!.map(inlineText)).toEqual(["1 | 2", "3"]);
    expect(table.rows[0]![1]).toEqual([{ t: "strong", children: [{ t: "text", text: "3" }] }]);
    expect(blocks[4]).toEqual({ t: "code", info: "text", text: "out <b>" });
    expect(blocks[5]).toEqual({ t: "paragraph", children: [{ t: "text", text: "plain text" }] });
  });

  it("turns escapes, entities and <br> into text and breaks, and nothing else into markup", () => {
    expect(parseInline("a \\*b\\* &lt;img&gt; &amp;amp;<br>c <span>d</span>")).toEqual([
      { t: "text", text: "a *b* <img> &amp;" },
      { t: "br" },
      { t: "text", text: "c <span>d</span>" },
    ]);
  });
});
