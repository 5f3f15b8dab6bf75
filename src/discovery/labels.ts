import { z } from "zod";
import { SAFE_NAME } from "../config/fields.js";
import type { DockerDiscoveryConfig, KindRef, Target, TargetDefaults } from "../config/types.js";
import { CONTAINER_NAME } from "../lib/docker.js";
import { parseDuration } from "../lib/duration.js";
import { probeKinds } from "../probes/registry.js";
import { serviceKinds } from "../services/registry.js";

/**
 * A container's labels, as its owner may set them. They come from whoever started the container:
 * untrusted, so every value is checked here and nothing from them reaches a path or argv raw.
 *   medic.interval, medic.timeout            durations (10s, 500ms)
 *   medic.failure-threshold, medic.success-threshold   whole numbers 1..100
 *   medic.memory-threshold                   a fraction in (0, 1]
 *   medic.health-url                         probe this http(s) URL instead of the engine
 *   medic.playbook                           only this playbook acts on the container
 */
const durationLabel = z
  .string()
  .transform((s, ctx) => parseDuration(s) ?? (ctx.addIssue({ code: "custom", message: "not a duration" }), z.NEVER))
  .pipe(z.number().positive().max(86_400_000));
const roundsLabel = z
  .string()
  .regex(/^\d{1,3}$/, "not a whole number")
  .transform(Number)
  .pipe(z.number().int().min(1).max(100));
const labelSchema = z.object({
  "medic.interval": durationLabel.optional(),
  "medic.timeout": durationLabel.optional(),
  "medic.failure-threshold": roundsLabel.optional(),
  "medic.success-threshold": roundsLabel.optional(),
  "medic.memory-threshold": z
    .string()
    .regex(/^(0(\.\d+)?|1(\.0+)?)$/, "not a fraction")
    .transform(Number)
    .pipe(z.number().gt(0))
    .optional(),
  "medic.health-url": z
    .string()
    .max(2048)
    .refine((s) => /^https?:\/\/[^\s/]+/i.test(s) && URL.canParse(s), "not an http(s) URL")
    .optional(),
  "medic.playbook": z.string().regex(SAFE_NAME, "not a playbook name").optional(),
});

/** The target a labelled container becomes, or why it cannot be watched. */
export function targetFromContainer(
  name: string,
  labels: Record<string, string>,
  defaults: TargetDefaults,
  engine: DockerDiscoveryConfig,
): { target: Target } | { error: string } {
  if (!CONTAINER_NAME.test(name) || !SAFE_NAME.test(name))
    return { error: `container name ${JSON.stringify(name.slice(0, 80))} cannot be a target name` };
  const parsed = labelSchema.safeParse(labels);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join("; ");
    return { error: `container ${name} has bad medic labels (${problems})` };
  }
  const l = parsed.data;
  const connection = { ...(engine.socketPath && { socketPath: engine.socketPath }), ...(engine.host && { host: engine.host }) };
  const url = l["medic.health-url"];
  // Params go through the kinds' own schemas, so a discovered target is exactly what config would give.
  const probe = url ? kindRef(probeKinds, "http", { url }) : kindRef(probeKinds, "docker", { container: name, ...connection });
  const service = kindRef(serviceKinds, "docker", { container: name, ...connection });
  if ("error" in probe) return probe;
  if ("error" in service) return service;
  return {
    target: {
      name,
      labels: { runtime: "docker", discovered: "true" },
      probe,
      service,
      intervalMs: l["medic.interval"] ?? defaults.intervalMs,
      timeoutMs: l["medic.timeout"] ?? defaults.timeoutMs,
      failureThreshold: l["medic.failure-threshold"] ?? defaults.failureThreshold,
      successThreshold: l["medic.success-threshold"] ?? defaults.successThreshold,
      thresholds: { ...defaults.thresholds, ...(l["medic.memory-threshold"] && { memoryUtilization: l["medic.memory-threshold"] }) },
      dependsOn: [],
      ...(l["medic.playbook"] && { playbook: l["medic.playbook"] }),
    },
  };
}

function kindRef(registry: ReadonlyMap<string, { schema: z.ZodType }>, kind: string, input: unknown): KindRef | { error: string } {
  const parsed = registry.get(kind)?.schema.safeParse(input);
  if (!parsed?.success) return { error: `cannot watch it as ${kind}: ${parsed?.error.issues[0]?.message ?? "kind not registered"}` };
  return { kind, params: parsed.data };
}
