import type { ArtifactRef } from "../../services/types.js";

/** The timeline line for a kept artifact: what, as which name, how big, and the start of its hash. */
export function keptDetail(ref: ArtifactRef, what: string): string {
  const cut = ref.truncated ? ", cut at the cap" : "";
  return `kept ${what} as ${ref.name} (${ref.bytes} bytes${cut}, sha256 ${ref.sha256.slice(0, 12)}…)`;
}

/** Why a capture ran without a place to keep what it captured. */
export function noSink(): string {
  return "nowhere to keep evidence here (no artifact store for this run); nothing was captured";
}
