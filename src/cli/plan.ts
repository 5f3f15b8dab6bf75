import { existsSync } from "node:fs";
import { runStarts } from "../incidents/fold.js";
import { readJournal } from "../incidents/journal.js";
import type { Incident } from "../incidents/types.js";
import { planRemediation, renderPlan } from "../playbooks/plan.js";
import { previewPlan } from "../playbooks/preview.js";
import { probeKinds } from "../probes/registry.js";
import { serviceKinds } from "../services/registry.js";
import { loadOrReport, type GlobalOptions } from "./config.js";
import { EXIT } from "./output.js";

/**
 * `medic plan --target T --incident KIND`: the steps that would run, rendered, with what they would
 * touch right now (read-only queries). Touches nothing.
 */
export async function planCommand(opts: GlobalOptions & { target: string; incident: string }): Promise<number> {
  const config = await loadOrReport(opts);
  if (!config) return EXIT.badConfig;
  const target = config.targets.find((t) => t.name === opts.target);
  if (!target) {
    process.stderr.write(`unknown target "${opts.target}" (hint: one of ${config.targets.map((t) => t.name).join(", ")})\n`);
    return EXIT.badConfig;
  }
  const severity = config.severities[opts.incident];
  if (!severity) {
    process.stderr.write(`unknown incident kind "${opts.incident}" (hint: one of ${Object.keys(config.severities).join(", ")})\n`);
    return EXIT.badConfig;
  }
  // The run cap counts real runs, so the plan reads the journal (when there is one) to say what the daemon would do now.
  const history = existsSync(config.stateDir) ? readJournal(config.stateDir) : new Map<string, Incident>();
  const recentRunsAt = runStarts(history.values(), target.name);
  const plan = planRemediation({
    incident: { id: "plan", kind: opts.incident, severity, target: target.name, evidence: "(plan)" },
    target, playbooks: config.playbooks, recentRunsAt, runsPerHour: config.limits.runsPerHour, now: Date.now(),
  });
  const targets = new Map(config.targets.map((t) => [t.name, t]));
  const service = target.service ? serviceKinds.get(target.service.kind)!.describe(target.service.params as never) : "none";
  const out = [
    `target   ${target.name}`,
    `probe    ${probeKinds.get(target.probe.kind)!.describe(target.probe.params as never)}`,
    `service  ${service}`,
    `incident ${opts.incident} (${severity})`,
    "",
    ...renderPlan(plan, await previewPlan(plan, { target, targets, baseDir: config.baseDir, signal: AbortSignal.timeout(15_000) })),
  ];
  process.stdout.write(out.join("\n") + "\n");
  return EXIT.ok;
}
