import { performance } from "node:perf_hooks";
import type { ArtifactRef, StepResult } from "../../services/types.js";

/** A capture's result, timed from when this was called: what it kept, if anything. */
export function captureResult(): (ok: boolean, detail: string, artifacts?: ArtifactRef[]) => StepResult {
  const t0 = performance.now();
  return (ok, detail, artifacts) => ({ ok, detail, durationMs: performance.now() - t0, ...(artifacts && { artifacts }) });
}

/** The timeline line for a kept artifact: what, as which name, how big, and the start of its hash. */
export function keptDetail(ref: ArtifactRef, what: string): string {
  const cut = ref.truncated ? ", cut at the cap" : "";
  return `kept ${what} as ${ref.name} (${ref.bytes} bytes${cut}, sha256 ${ref.sha256.slice(0, 12)}…)`;
}

/** Why a capture ran without a place to keep what it captured. */
export function noSink(): string {
  return "nowhere to keep evidence here (no artifact store for this run); nothing was captured";
}
