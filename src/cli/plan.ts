import type { Config, Target } from "../config/types.js";
import { describeSkipped } from "../incidents/journal-read.js";
import { isOpen } from "../incidents/types.js";
import { describeError } from "../lib/errors.js";
import { readControls } from "../safety/controls.js";
import { decideSafety, type SafetyDecision } from "../safety/decide.js";
import { findRoot } from "../safety/dependencies.js";
import { MaintenanceCalendar, pausedFor } from "../safety/maintenance.js";
import type { Controls } from "../safety/types.js";
import { planRemediation, renderPlan } from "../playbooks/plan.js";
import { previewPlan } from "../playbooks/preview.js";
import { renderRouting, routeIncident } from "../escalation/route.js";
import { probeKinds } from "../probes/registry.js";
import { serviceKinds } from "../services/registry.js";
import { openReadOnly } from "../store/file/read-only.js";
import { recentWindowMs } from "../store/window.js";
import { loadQuietly, NOT_NOTIFYING, printWarnings, type GlobalOptions } from "./config.js";
import { EXIT, print, printError } from "./output.js";

/**
 * `medic plan --target T --incident KIND`: the steps that would run, rendered, with what they would
 * touch right now (read-only queries). Touches nothing.
 */
export async function planCommand(opts: GlobalOptions & { target: string; incident: string }): Promise<number> {
  const loaded = await loadQuietly(opts, NOT_NOTIFYING);
  if (!loaded) return EXIT.badConfig;
  // The plan is what was asked for: the config's warnings come after it.
  try {
    return await plan(loaded.config, opts);
  } finally {
    printWarnings(loaded.warnings);
  }
}

async function plan(config: Config, opts: { target: string; incident: string }): Promise<number> {
  const target = config.targets.find((t) => t.name === opts.target);
  if (!target) {
    printError(`unknown target "${opts.target}" (hint: one of ${config.targets.map((t) => t.name).join(", ")})\n`);
    return EXIT.badConfig;
  }
  const severity = config.severities[opts.incident];
  if (!severity) {
    printError(`unknown incident kind "${opts.incident}" (hint: one of ${Object.keys(config.severities).join(", ")})\n`);
    return EXIT.badConfig;
  }
  const plan = planRemediation({
    incident: { id: "plan", kind: opts.incident, severity, target: target.name, evidence: "(plan)" },
    target,
    playbooks: config.playbooks,
    approvals: config.approvals,
  });
  const targets = new Map(config.targets.map((t) => [t.name, t]));
  const safety = safetyNow(config, target.name, opts.incident, targets);
  const service = target.service ? serviceKinds.get(target.service.kind)!.describe(target.service.params as never) : "none";
  const out = [
    `target   ${target.name}`,
    `probe    ${probeKinds.get(target.probe.kind)!.describe(target.probe.params as never)}`,
    `service  ${service}`,
    `incident ${opts.incident} (${severity})`,
    "",
    "safety (from the journal and controls in the state dir, now)",
    ...safety.lines.map((l) => `  ${l}`),
    `  => ${describeDecision(safety.decision)}`,
    "",
    ...renderRouting(
      routeIncident({ target: target.name, labels: target.labels, kind: opts.incident, severity }, config.escalation),
      new Set(config.notify.channels.map((c) => c.name)),
    ),
    "",
    ...renderPlan(plan, await previewPlan(plan, { target, targets, baseDir: config.baseDir, signal: AbortSignal.timeout(15_000) })),
  ];
  print(out.join("\n") + "\n");
  return EXIT.ok;
}

// What the daemon's safety checks would decide for a new incident now, from what is on disk: the
// store's live view (open incidents and the recent window the guards look back over), read-only.
function safetyNow(config: Config, target: string, kind: string, targets: ReadonlyMap<string, Target>) {
  const store = openReadOnly(config.stateDir, { recentMs: recentWindowMs(config.safety) });
  if (store.skipped.skipped > 0) printError(`warning: ${describeSkipped(store.skipped.journal, store.skipped)}\n`);
  const live = store.live();
  const incidents = [...live.values()].filter((i) => !i.dryRun);
  let controls: Controls = { pauses: [], guardResets: {}, answers: [] };
  try {
    controls = readControls(config.stateDir);
  } catch (err) {
    printError(`warning: ${describeError(err)}\n`);
  }
  const now = Date.now();
  const root = findRoot(target, {
    dependsOn: (name) => targets.get(name)?.dependsOn ?? [],
    openIncidents: (name) => incidents.filter((i) => i.target === name && isOpen(i)),
    incident: (id) => live.get(id),
  });
  const pause = pausedFor(target, now, new MaintenanceCalendar(config.maintenance), controls);
  const resetAt = controls.guardResets[target];
  return decideSafety({
    incident: { target, kind },
    incidents,
    safety: config.safety,
    now,
    ...(root && { root }),
    ...(pause && { pause }),
    ...(resetAt !== undefined && { guardResetAt: resetAt }),
  });
}

function describeDecision(d: SafetyDecision): string {
  switch (d.action) {
    case "act":
      return "would run the playbook below now";
    case "suppress":
      return `would open the incident suppressed under incident ${d.root}: no playbook, no page of its own until that one is resolved`;
    case "hold":
      return `would hold the playbook below (${d.by.replace("_", " ")}): ${d.reason}`;
    case "trip":
      return `would escalate instead of running the playbook below: ${d.reason}`;
  }
}
