import { ApiProblem, getBlob } from "./api.js";
import { h } from "./preact.js";
import { useState } from "./preact-hooks.js";
import type { Artifact, IncidentDetail } from "./types.js";

/** The evidence capture steps kept for an incident: each with its size, hash and a download button. */
export function Artifacts({ d }: { d: IncidentDetail }) {
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const list = d.artifacts ?? [];
  if (list.length === 0) return <p class="muted">No evidence captured.</p>;
  return (
    <div data-testid="artifacts">
      {problem && <p class="error">{problem}</p>}
      <ul class="artifacts">
        {list.map((a) => (
          <li data-name={a.name}>
            <button type="button" onClick={() => void save(a).catch((err: unknown) => setProblem(describe(err)))}>
              Download {a.name}
            </button>{" "}
            <span class="detail">
              {sizeOf(a.bytes)}
              {a.truncated ? " (cut at the cap)" : ""}, {a.step}, sha256 <code>{a.sha256.slice(0, 16)}…</code>
            </span>
            {a.excerpt && <pre class="excerpt">{a.excerpt}</pre>}
          </li>
        ))}
      </ul>
    </div>
  );
}

// A link cannot send the token header: the bytes are fetched, then saved from memory.
async function save(a: Artifact): Promise<void> {
  const blob = await getBlob(a.download.replace(/^\//, ""));
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = a.name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function describe(err: unknown): string {
  return err instanceof ApiProblem ? `${err.message}${err.hint ? ` (${err.hint})` : ""}` : String(err);
}

function sizeOf(bytes: number): string {
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}
