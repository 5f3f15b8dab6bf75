import type Docker from "dockerode";
import { z } from "zod";
import { duration } from "../../config/fields.js";
import type { Target } from "../../config/types.js";
import { CONTAINER_NAME, dockerClient, dockerConnectionShape, engineKey, type DockerConnection } from "../../lib/docker.js";
import { formatDuration } from "../../lib/duration.js";
import { withDeadline } from "../../lib/signals.js";
import { createDockerDriver, describeEngineError, describeState, type DockerServiceParams } from "../../services/docker.js";
import { TemplateError, type Renderer } from "../template.js";
import type { PreviewContext, StepContext, StepKind, StepResult } from "../types.js";
import { describeLimits, describeUpdate, planUpdate, updateShape } from "./docker-update.js";

// Engine API (v1.41) kill and update: https://docs.docker.com/engine/api/v1.41/#tag/Container

/** The optional `container` param of a docker step: a name, or a template that renders to one. */
export const containerParam = () =>
  z
    .string()
    .refine((s) => s.includes("{{") || CONTAINER_NAME.test(s), {
      message:
        "container must be a name or id: letters, digits and _.- , not starting with - (hint: like orders-api, or {{ target.labels.container }})",
    })
    .optional()
    .meta({ description: "Container name or id; may use {{ }} (default: the target's docker service, else its docker probe)" });

const targetShape = { container: containerParam(), ...dockerConnectionShape };
const stopTimeout = () =>
  duration()
    .optional()
    .meta({ description: "How long the engine waits after the stop signal before it kills (default: the docker service's, else 10s)" });
const KILL_SIGNALS = ["SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;
/** Signals that end a container: one that has already ended got what the step wanted. */
const ENDING = new Set<string>(["SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT"]);

/** `- docker.restart:` is null in YAML; null means "no params", with the schema's defaults. */
export function orEmpty<T extends z.ZodObject>(object: T) {
  return object.nullish().transform((v): z.output<T> => v ?? object.parse({}));
}

const startSchema = orEmpty(z.strictObject(targetShape));
const stopSchema = orEmpty(z.strictObject({ ...targetShape, stopTimeout: stopTimeout() }));
const killSchema = orEmpty(
  z.strictObject({
    ...targetShape,
    signal: z.enum(KILL_SIGNALS).default("SIGKILL").meta({ description: "Signal to send (default SIGKILL)" }),
  }),
);
const updateSchema = z
  .strictObject({ container: containerParam(), ...dockerConnectionShape, ...updateShape })
  .refine((p) => p.memory !== undefined || p.memorySwap !== undefined || p.cpus !== undefined, {
    message: "nothing to update (hint: give memory, memorySwap or cpus, like memory: { factor: 2, max: 1GiB })",
  })
  .refine((p) => typeof p.memory !== "number" || typeof p.memorySwap !== "number" || p.memorySwap >= p.memory, {
    message: "memorySwap is memory plus swap, so it may not be below memory (hint: memorySwap: same)",
    path: ["memorySwap"],
  });

/** A docker step's params that say which container, on which engine. */
export type Targeted = { container?: string } & DockerConnection;
type KillParams = z.output<typeof killSchema>;
type Action = "restart" | "start" | "stop";

/** Fills a template in `container`; what it renders to must be a container name, or nothing runs. */
export function renderContainer<P extends Targeted>(p: P, r: Renderer): P {
  if (p.container === undefined) return p;
  const name = r.text(p.container);
  if (!CONTAINER_NAME.test(name)) {
    throw new TemplateError(
      "TEMPLATE_UNSAFE_VALUE",
      `container ${JSON.stringify(p.container)} renders to ${JSON.stringify(name.slice(0, 60))}, which is not a container name`,
      "a container name is letters, digits and _.- and may not start with - ; check the label or value the template uses",
    );
  }
  return { ...p, container: name };
}

/** Which container a step acts on, on which engine, and why that one. */
type Resolved = { name: string; conn: DockerConnection; via: string; stopTimeoutMs?: number } | { error: string };

/** The step's container, else the target's docker service's, else its docker probe's; the connection likewise. */
export function resolveContainer(p: Targeted, target: Target): Resolved {
  const source = containerSource(target);
  const name = p.container ?? source?.name;
  if (name === undefined) {
    return {
      error: `no container to act on: ${target.name} has neither a docker service nor a docker probe (hint: add container: NAME to the step)`,
    };
  }
  // Service and probe params were validated by their own schemas; checked again, since this name becomes a URL path.
  if (!CONTAINER_NAME.test(name)) return { error: `refusing container ${JSON.stringify(name.slice(0, 60))}: not a container name` };
  const own = p.socketPath !== undefined || p.host !== undefined;
  const conn = own ? { socketPath: p.socketPath, host: p.host } : (source?.conn ?? {});
  const via = p.container !== undefined ? "the step" : source!.via;
  return { name, conn, via, ...(source?.stopTimeoutMs !== undefined && { stopTimeoutMs: source.stopTimeoutMs }) };
}

function containerSource(target: Target): { name: string; conn: DockerConnection; via: string; stopTimeoutMs?: number } | undefined {
  if (target.service?.kind === "docker") {
    const s = target.service.params as DockerServiceParams;
    return {
      name: s.container,
      conn: { socketPath: s.socketPath, host: s.host },
      via: `${target.name}'s docker service`,
      stopTimeoutMs: s.stopTimeout,
    };
  }
  if (target.probe.kind === "docker") {
    const p = target.probe.params as { container?: unknown } & DockerConnection;
    if (typeof p.container !== "string") return undefined;
    return { name: p.container, conn: { socketPath: p.socketPath, host: p.host }, via: `${target.name}'s docker probe` };
  }
  return undefined;
}

/** Whether the step's engine is this host's (a socket, the default) rather than one reached over TCP. */
export function onLocalEngine(p: Targeted, target: Target): boolean {
  const resolved = resolveContainer(p, target);
  return !("conn" in resolved) || resolved.conn.host === undefined;
}

const who = (p: Targeted): string => (p.container === undefined ? "the target's container" : `container ${p.container}`);

/** A step that starts, stops or restarts a container through the docker service driver. */
function lifecycleStep<S extends typeof startSchema | typeof stopSchema>(action: Action, schema: S, defaultTimeoutMs: number): StepKind<S> {
  return {
    schema,
    defaultTimeoutMs,
    idempotent: true,
    // It acts on a container, which need not be the target's service.
    needsService: false,
    local: onLocalEngine,
    render: (p, r) => renderContainer(p, r),
    describe: (p) => {
      const t = "stopTimeout" in p && p.stopTimeout !== undefined ? ` (stop timeout ${formatDuration(p.stopTimeout)})` : "";
      return `${action} ${who(p)}${t}`;
    },
    run: (p, ctx) => runLifecycle(action, p, ctx),
    preview: (p, ctx) => previewContainer(p, ctx),
  };
}

async function runLifecycle(action: Action, p: Targeted & { stopTimeout?: number }, ctx: StepContext): Promise<StepResult> {
  const r = resolveContainer(p, ctx.target);
  if ("error" in r) return { ok: false, detail: r.error, durationMs: 0 };
  const driver = createDockerDriver({ container: r.name, ...r.conn, stopTimeout: p.stopTimeout ?? r.stopTimeoutMs ?? 10_000 });
  return withDeadline(ctx.signal, ctx.timeoutMs, async (signal) => {
    const result = await driver[action](signal);
    if (!result.ok && signal.aborted && !ctx.signal.aborted) {
      return { ...result, detail: `${action} timed out after ${formatDuration(ctx.timeoutMs)}: ${result.detail}` };
    }
    return result;
  });
}

/** Runs `act` on the resolved container; every failure, abort and timeout becomes a failed result. */
async function onContainer(
  p: Targeted,
  ctx: StepContext,
  act: (c: Docker.Container, name: string, signal: AbortSignal) => Promise<string | StepResult>,
): Promise<StepResult> {
  const t0 = performance.now();
  const r = resolveContainer(p, ctx.target);
  if ("error" in r) return { ok: false, detail: r.error, durationMs: 0 };
  if (ctx.signal.aborted) return { ok: false, detail: `aborted before acting on ${r.name}`, durationMs: 0 };
  return withDeadline(ctx.signal, ctx.timeoutMs, async (signal) => {
    try {
      const out = await act(dockerClient(r.conn, ctx.timeoutMs).getContainer(r.name), r.name, signal);
      return typeof out === "string"
        ? { ok: true, detail: out, durationMs: performance.now() - t0 }
        : { ...out, durationMs: performance.now() - t0 };
    } catch (err) {
      const detail = ctx.signal.aborted
        ? `aborted after ${formatDuration(performance.now() - t0)} on ${r.name}`
        : signal.aborted
          ? `timed out after ${formatDuration(ctx.timeoutMs)} on ${r.name}`
          : describeEngineError(err, r.name, r.conn);
      return { ok: false, detail, durationMs: performance.now() - t0 };
    }
  });
}

const stateOf = async (c: Docker.Container, signal: AbortSignal): Promise<Docker.ContainerInspectInfo> =>
  c.inspect({ abortSignal: signal });

/** Read-only: which container the step would touch, and how it is right now. */
async function previewContainer(
  p: Targeted,
  ctx: PreviewContext,
  more?: (info: Docker.ContainerInspectInfo) => string[],
): Promise<string[]> {
  const r = resolveContainer(p, ctx.target);
  if ("error" in r) return [r.error];
  const head = `container ${r.name} (${r.via}) on ${engineKey(r.conn)}`;
  return withDeadline(ctx.signal, ctx.timeoutMs, async (signal) => {
    try {
      const info = await stateOf(dockerClient(r.conn, ctx.timeoutMs).getContainer(r.name), signal);
      return [`${head}: ${describeState(info.State)}, ${describeLimits(info.HostConfig)}`, ...(more?.(info) ?? [])];
    } catch (err) {
      return [`${head}: cannot look right now: ${signal.aborted ? "timed out" : describeEngineError(err, r.name, r.conn)}`];
    }
  });
}

/** `docker.restart`: restart a container (stop with stopTimeout, then start). */
export const dockerRestart = lifecycleStep("restart", stopSchema, 90_000);
/** `docker.start`: start a container unless it runs. */
export const dockerStart = lifecycleStep("start", startSchema, 30_000);
/** `docker.stop`: stop a container (SIGTERM, then SIGKILL after stopTimeout). */
export const dockerStop = lifecycleStep("stop", stopSchema, 60_000);

/** `docker.kill`: send a signal to a container's main process (SIGKILL by default). */
export const dockerKill: StepKind<typeof killSchema, KillParams> = {
  schema: killSchema,
  defaultTimeoutMs: 15_000,
  // A second SIGHUP reloads twice; a second SIGKILL may hit the container a restart policy brought back.
  idempotent: false,
  needsService: false,
  local: onLocalEngine,
  render: (p, r) => renderContainer(p, r),
  describe: (p) => `send ${p.signal} to ${who(p)}`,
  run: (p, ctx) =>
    onContainer(p, ctx, async (c, name, signal) => {
      const before = (await stateOf(c, signal)).State;
      if (!before.Running) {
        return { ok: ENDING.has(p.signal), detail: `${name} not running (${describeState(before)}); did not send ${p.signal}` };
      }
      await c.kill({ signal: p.signal, abortSignal: signal });
      const after = (await stateOf(c, signal)).State;
      return after.Running
        ? `sent ${p.signal} to ${name} (still running)`
        : `killed ${name} with ${p.signal} (now ${describeState(after)})`;
    }),
  preview: (p, ctx) => previewContainer(p, ctx),
};

type UpdateStepParams = z.output<typeof updateSchema>;

/** `docker.update`: change a running container's memory, swap or CPU limits, e.g. double memory up to a ceiling. */
export const dockerUpdate: StepKind<typeof updateSchema, UpdateStepParams> = {
  schema: updateSchema,
  defaultTimeoutMs: 30_000,
  // A factor applied twice doubles twice.
  idempotent: false,
  needsService: false,
  local: onLocalEngine,
  render: (p, r) => renderContainer(p, r),
  describe: (p) => describeUpdate(p, p.container ?? "the target's container"),
  run: (p, ctx) =>
    onContainer(p, ctx, async (c, name, signal) => {
      const plan = planUpdate(p, (await stateOf(c, signal)).HostConfig);
      if ("refuse" in plan) return { ok: false, detail: `${name}: ${plan.refuse}` };
      await c.update({ ...plan.body, abortSignal: signal });
      return `${name}: ${plan.detail}`;
    }),
  preview: (p, ctx) =>
    previewContainer(p, ctx, (info) => {
      const plan = planUpdate(p, info.HostConfig);
      return ["refuse" in plan ? `would not update: ${plan.refuse}` : `would set ${plan.detail}`];
    }),
};
