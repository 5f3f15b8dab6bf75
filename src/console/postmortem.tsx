import { ApiProblem, getText } from "./api.js";
import { MarkdownView } from "./markdown-view.js";
import { Fragment, h } from "./preact.js";
import { useEffect, useState } from "./preact-hooks.js";

/** An incident's postmortem draft as `medic incidents show ID --format markdown` writes it: rendered, downloadable, fetched again when `version` changes. */
export function Postmortem({ id, version }: { id: string; version: string }) {
  const [text, setText] = useState<string | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  useEffect(() => {
    const abort = new AbortController();
    getText(`api/incidents/${encodeURIComponent(id)}/postmortem`, abort.signal).then(
      (t) => {
        setText(t);
        setProblem(undefined);
      },
      (err: unknown) => {
        if (err instanceof ApiProblem) setProblem(err.message);
      },
    );
    return () => abort.abort();
  }, [id, version]);
  return (
    <section aria-labelledby="postmortem-title" class="postmortem" data-testid="postmortem">
      <h2 id="postmortem-title">Postmortem draft</h2>
      {problem && <p class="error">{problem}</p>}
      {text !== undefined && (
        <Fragment>
          <p>
            <button type="button" onClick={() => download(`medic-incident-${id}.md`, text)}>
              Download Markdown
            </button>
          </p>
          <details>
            <summary>The draft, rendered</summary>
            <MarkdownView source={text} />
          </details>
        </Fragment>
      )}
    </section>
  );
}

// A link cannot send the token header, so the text already fetched is saved from memory.
function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "text/markdown;charset=utf-8" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name.replace(/[^\w.-]/g, "_");
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
