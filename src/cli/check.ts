import { checkTarget, liveTarget } from "../targets.js";
import { probeKinds } from "../probes/registry.js";
import { loadOrReport, NOT_NOTIFYING, type GlobalOptions } from "./config.js";
import { cell, EXIT, print, table } from "./output.js";

/** `medic check`: one probe round of every target, concurrently; exit 0 all healthy, 1 not, 2 bad config. */
export async function checkCommand(opts: GlobalOptions & { json?: boolean }): Promise<number> {
  const config = await loadOrReport(opts, [...NOT_NOTIFYING, "playbooks"]);
  if (!config) return EXIT.badConfig;
  const results = await Promise.all(
    config.targets.map(async (target) => {
      const { observation, finding } = await checkTarget(config, liveTarget(target, config.baseDir));
      return { target, observation, finding };
    }),
  );
  if (opts.json) {
    const out = results.map(({ target, observation: o, finding: f }) => ({
      target: target.name,
      healthy: !f,
      kind: f?.kind ?? null,
      severity: f?.severity ?? null,
      evidence: f?.evidence ?? null,
      latencyMs: Math.round(o.latencyMs),
      error: o.error ?? null,
      status: o.facts.status ?? null,
      // What the probe learned, without the raw body (it is untrusted and may be large).
      facts: { ...o.facts, body: undefined },
    }));
    print(JSON.stringify(out, null, 2) + "\n");
  } else {
    const rows = results.map(({ target, observation: o, finding: f }) => [
      target.name,
      probeKinds.get(target.probe.kind)!.describe(target.probe.params as never),
      f ? `${f.kind} ${f.severity}` : "healthy",
      `${Math.round(o.latencyMs)}ms`,
      f ? cell(f.evidence) : "",
    ]);
    print(table(["TARGET", "PROBE", "RESULT", "LATENCY", "EVIDENCE"], rows));
  }
  return results.every((r) => !r.finding) ? EXIT.ok : EXIT.unhealthy;
}
