import { classify, type ClassifyContext } from "./classify/classify.js";
import type { Finding } from "./classify/types.js";
import type { Config, Target } from "./config/types.js";
import { probeKinds } from "./probes/registry.js";
import { runProbe } from "./probes/run.js";
import type { Observation, Probe } from "./probes/types.js";
import { serviceKinds } from "./services/registry.js";
import type { ServiceDriver } from "./services/types.js";

/** A target's live parts, built from the registries: its probe and, when it has one, its service. */
export interface LiveTarget {
  target: Target;
  probe: Probe;
  service?: ServiceDriver;
}

/** A round's result: what the probe saw and what classification made of it. */
export interface Checked {
  observation: Observation;
  finding: Finding | undefined;
}

/** Builds the probe and service driver of a target from the registries. */
export function liveTarget(target: Target, baseDir: string): LiveTarget {
  const probeKind = probeKinds.get(target.probe.kind)!;
  const probe = probeKind.create(target.probe.params, { target: target.name, timeoutMs: target.timeoutMs, baseDir });
  const serviceKind = target.service && serviceKinds.get(target.service.kind);
  const service = serviceKind?.create(target.service!.params, { target: target.name, baseDir });
  return { target, probe, service };
}

/** One probe round of a target, classified. Never throws. */
export async function checkTarget(
  config: Config,
  w: Pick<LiveTarget, "target" | "probe">,
  signal?: AbortSignal,
  context?: ClassifyContext,
): Promise<Checked> {
  const observation = await runProbe(w.probe, { target: w.target.name, timeoutMs: w.target.timeoutMs, signal });
  return { observation, finding: classify(observation, w.target, config.rules, config.severities, context) };
}
