import { createArtifactSink } from "../artifacts/store.js";
import type { Config } from "../config/types.js";
import type { Clock } from "../lib/clock.js";
import { redactor } from "../lib/redact.js";
import { planRemediation } from "../playbooks/plan.js";
import { runStep } from "../playbooks/run.js";
import type { StepResult } from "../services/types.js";
import type { StepTask } from "./ports.js";
import type { Watchers } from "./watchers.js";

/** What carrying out another node's step needs of the daemon. */
export interface CarryOutDeps {
  config: () => Config;
  watchers: Watchers;
  clock: Clock;
}

/**
 * Carries out a step another node decided on (a cluster's leader, for a target on this host). The
 * step is planned again from this node's own config and run only if it comes out the same as the
 * decider rendered it: a node whose config differs, or that does not watch the target, runs
 * nothing and says why. Guards and the journal are the decider's; this only runs the step.
 */
export async function carryOut(deps: CarryOutDeps, task: StepTask, signal: AbortSignal): Promise<StepResult> {
  const refuse = (why: string): StepResult => ({ ok: false, detail: `${why}; nothing was run` });
  const name = task.incident.target;
  const w = deps.watchers.get(name);
  if (!w) return refuse(`this node does not watch ${name}`);
  const plan = planRemediation({ incident: task.incident, target: w.target, playbooks: deps.config().playbooks });
  if (plan.action === "escalate") return refuse(`this node would not run a playbook: ${plan.reason}`);
  if (plan.playbook.name !== task.playbook) return refuse(`this node's config picks playbook ${plan.playbook.name}, not ${task.playbook}`);
  const step = plan.steps[task.index];
  const label = `step ${task.index + 1}`;
  if (!step) return refuse(`this node's playbook ${task.playbook} has no ${label}: the nodes' configs differ`);
  // The leader's rendering reaches this node redacted (the store holds no secret): compared as such.
  if (redactor.text(step.description) !== redactor.text(task.description) || step.timeoutMs !== task.timeoutMs)
    return refuse(
      `this node renders ${label} as "${step.description}" (timeout ${step.timeoutMs} ms), not "${task.description}" (timeout ${task.timeoutMs} ms): the nodes' configs differ`,
    );
  const config = deps.config();
  const result = await runStep(step, {
    target: w.target,
    service: w.live.service,
    signal,
    baseDir: config.baseDir,
    targets: deps.watchers.targets(),
    clock: deps.clock,
    artifacts: createArtifactSink({ stateDir: config.stateDir, incident: task.incident.id, limits: config.artifacts }),
  });
  if (!result.artifacts?.length) return result;
  // A task reports only its outcome and detail to the leader: the detail says where the evidence stayed, with its hash.
  const kept = result.artifacts.map((a) => `${a.path} (${a.bytes} bytes, sha256 ${a.sha256})`).join(", ");
  return { ...result, detail: `${result.detail}; kept in this node's state dir: ${kept}` };
}
