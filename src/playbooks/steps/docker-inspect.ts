import { z } from "zod";
import { dockerClient, dockerConnectionShape, engineKey } from "../../lib/docker.js";
import { formatDuration } from "../../lib/duration.js";
import { describeError } from "../../lib/errors.js";
import { withDeadline } from "../../lib/signals.js";
import { describeEngineError } from "../../services/docker.js";
import type { ArtifactRef } from "../../services/types.js";
import type { StepKind, StepResult } from "../types.js";
import { captureResult, noSink } from "./capture-kept.js";
import { containerParam, onLocalEngine, orEmpty, renderContainer, resolveContainer, type Targeted } from "./docker.js";
import { formatInspect, inspectSchema, keptInspect } from "./docker-inspect-view.js";

// Engine API (v1.41) inspect: https://docs.docker.com/engine/api/v1.41/#tag/Container/operation/ContainerInspect

const schema = orEmpty(z.strictObject({ container: containerParam(), ...dockerConnectionShape }));
type Params = z.output<typeof schema>;

const STEM = "docker-inspect";
const who = (p: Targeted): string => (p.container === undefined ? "the target's container" : `container ${p.container}`);

/** `docker.inspect`: keep a container's state, exit, OOM kill, restarts and last healthchecks before a restart replaces them. */
export const dockerInspect: StepKind<typeof schema, Params> = {
  schema,
  defaultTimeoutMs: 15_000,
  idempotent: true,
  needsService: false,
  capture: true,
  // A socket is this host's engine; one over TCP can be asked from any node.
  local: onLocalEngine,
  render: (p, r) => renderContainer(p, r),
  describe: (p) => `capture the state and healthcheck log of ${who(p)}`,
  preview: (p, ctx) => {
    const r = resolveContainer(p, ctx.target);
    if ("error" in r) return Promise.resolve([r.error]);
    return Promise.resolve([`would capture the state and last healthchecks of container ${r.name} (${r.via}) on ${engineKey(r.conn)}`]);
  },
  async run(p, ctx): Promise<StepResult> {
    const t0 = performance.now();
    const done = captureResult();
    const r = resolveContainer(p, ctx.target);
    if ("error" in r) return done(false, r.error);
    if (!ctx.artifacts) return done(false, `${noSink()} (would inspect ${r.name})`);
    const sink = ctx.artifacts;
    const got = await withDeadline(ctx.signal, ctx.timeoutMs, async (signal) => {
      try {
        const raw: unknown = await dockerClient(r.conn, ctx.timeoutMs).getContainer(r.name).inspect({ abortSignal: signal });
        return { info: keptInspect(inspectSchema.parse(raw)) };
      } catch (err) {
        const failed = ctx.signal.aborted
          ? `aborted after ${formatDuration(performance.now() - t0)} on ${r.name}`
          : signal.aborted
            ? `timed out after ${formatDuration(ctx.timeoutMs)} on ${r.name}`
            : describeEngineError(err, r.name, r.conn);
        return { failed };
      }
    });
    if ("failed" in got) return done(false, `inspect failed: ${got.failed}`);
    const info = got.info;
    const refs: ArtifactRef[] = [];
    try {
      refs.push(await sink.save(STEM, formatInspect(info, engineKey(r.conn), new Date().toISOString()), { ext: "txt" }));
      refs.push(await sink.save(STEM, `${JSON.stringify(info, null, 2)}\n`, { ext: "json" }));
    } catch (err) {
      return done(false, `inspected ${r.name}, but could not keep it: ${describeError(err)}`, refs.length > 0 ? refs : undefined);
    }
    const s = info.State;
    const health = s.Health ? `, ${s.Health.Status} (failing streak ${s.Health.FailingStreak})` : "";
    const exit = s.Running ? "" : ` exit ${s.ExitCode}${s.OOMKilled ? ", OOM killed" : ""}`;
    const state = `${s.Status}${exit}${health}, ${info.RestartCount} restarts`;
    return done(true, `inspected ${r.name}: ${state}; kept ${refs.map((x) => x.name).join(", ")}`, refs);
  },
};
