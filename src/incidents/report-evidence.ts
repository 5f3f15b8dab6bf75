import { formatBytes } from "../lib/size.js";
import { code, fenced, inline, mdTable } from "./markdown.js";
import type { Incident } from "./types.js";

/**
 * The postmortem's evidence: each artifact capture steps kept, with its size and hash (so a copy can
 * be checked against the journal) and, for text, a short redacted excerpt.
 */
export function evidenceSection(incident: Incident): string {
  const artifacts = incident.artifacts ?? [];
  if (artifacts.length === 0) return "No evidence was captured.";
  const table = mdTable(
    ["Artifact", "Step", "Size", "SHA-256", "Path (in the state dir)"],
    artifacts.map((a) => [
      code(a.name),
      inline(a.step),
      `${formatBytes(a.bytes)}${a.truncated ? " (cut at the cap)" : ""}`,
      code(a.sha256),
      code(a.path),
    ]),
  );
  const excerpts = artifacts.filter((a) => a.excerpt).map((a) => `Excerpt of ${code(a.name)}:\n\n${fenced(a.excerpt!)}`);
  return [table, ...excerpts].join("\n\n");
}
