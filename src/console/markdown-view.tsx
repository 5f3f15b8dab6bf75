import { parseMarkdown, type Block, type Inline } from "./markdown.js";
import { h } from "./preact.js";

/** A Markdown document (a postmortem draft) drawn as elements with text in them: nothing in it is taken as HTML. */
export function MarkdownView({ source }: { source: string }) {
  return <div class="markdown">{parseMarkdown(source).map(block)}</div>;
}

function block(b: Block) {
  switch (b.t) {
    case "heading": {
      // The page has its own h1 and h2: the draft's headings sit below them.
      const Tag = (["h3", "h3", "h4", "h5", "h6", "h6"] as const)[b.level - 1]!;
      return <Tag>{inline(b.children)}</Tag>;
    }
    case "paragraph":
      return <p>{inline(b.children)}</p>;
    case "quote":
      return <blockquote>{inline(b.children)}</blockquote>;
    case "list":
      return (
        <ul>
          {b.items.map((item) => (
            <li>{inline(item)}</li>
          ))}
        </ul>
      );
    case "table":
      return (
        <table>
          <thead>
            <tr>
              {b.header.map((c) => (
                <th scope="col">{inline(c)}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {b.rows.map((r) => (
              <tr>
                {r.map((c) => (
                  <td>{inline(c)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      );
    case "code":
      return (
        <pre>
          <code>{b.text}</code>
        </pre>
      );
  }
}

function inline(parts: Inline[]) {
  return parts.map((p) => {
    switch (p.t) {
      case "text":
        return p.text;
      case "code":
        return <code>{p.text}</code>;
      case "strong":
        return <strong>{inline(p.children)}</strong>;
      case "em":
        return <em>{inline(p.children)}</em>;
      case "br":
        return <br />;
    }
  });
}
