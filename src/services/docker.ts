import type Docker from "dockerode";
import { z } from "zod";
import { duration } from "../config/fields.js";
import { containerName, dockerClient, dockerConnectionShape, dockerErrorCode, engineKey, type DockerConnection } from "../lib/docker.js";
import { formatDuration } from "../lib/duration.js";
import { describeError } from "../lib/errors.js";
import type { StepResult } from "../playbooks/types.js";
import type { ServiceDriver, ServiceKind } from "./types.js";

// Engine API (v1.41) container start/stop/restart: https://docs.docker.com/engine/api/v1.41/#tag/Container

const schema = z.strictObject({
  container: containerName().meta({ description: "The container's name or id" }),
  ...dockerConnectionShape,
  stopTimeout: duration()
    .default(10_000)
    .meta({ description: "How long the engine waits after the stop signal before it kills the container (whole seconds)" }),
});

/** Validated params of a docker service. */
export type DockerServiceParams = z.output<typeof schema>;

/** The engine answers a stop or restart only when it is done: the request may last this long past stopTimeout. */
const START_MARGIN_MS = 30_000;

/** A container the engine runs: `service: { docker: { container: orders-api } }`. */
export const dockerService: ServiceKind<typeof schema> = {
  schema,
  create: (params) => createDockerDriver(params),
  describe: (p) => `docker container ${p.container}`,
};

/** A driver for one container; also what the docker.start/stop/restart steps act through. */
export function createDockerDriver(p: DockerServiceParams): ServiceDriver {
  const name = p.container;
  const conn: DockerConnection = { socketPath: p.socketPath, host: p.host };
  // The engine's `t` is whole seconds; a restart answers after the stop and the start.
  const stopSeconds = Math.ceil(p.stopTimeout / 1000);

  /** Runs `act` with a fresh client; turns every failure (abort, engine, socket) into a result. */
  async function attempt(
    verb: string,
    signal: AbortSignal,
    act: (c: Docker.Container, t0: number) => Promise<StepResult>,
  ): Promise<StepResult> {
    const t0 = performance.now();
    if (signal.aborted) return { ok: false, detail: `aborted before ${verb} ${name}`, durationMs: 0 };
    const container = dockerClient(conn, stopSeconds * 1000 + START_MARGIN_MS).getContainer(name);
    try {
      return await act(container, t0);
    } catch (err) {
      const detail = signal.aborted
        ? `aborted while ${verb} ${name} after ${formatDuration(performance.now() - t0)}`
        : describeEngineError(err, name, conn);
      return { ok: false, detail, durationMs: performance.now() - t0 };
    }
  }
  const inspect = async (c: Docker.Container, signal: AbortSignal): Promise<ContainerState> =>
    (await c.inspect({ abortSignal: signal })).State;
  const took = (t0: number): string => formatDuration(performance.now() - t0);

  return {
    describe: () => `docker container ${name}`,
    start: (signal) =>
      attempt("starting", signal, async (c, t0) => {
        const before = await inspect(c, signal);
        if (before.Paused)
          return {
            ok: false,
            detail: `${name} is paused (hint: unpause it; starting does not resume it)`,
            durationMs: performance.now() - t0,
          };
        if (before.Running) return { ok: true, detail: `${name} already running`, durationMs: performance.now() - t0 };
        await c.start({ abortSignal: signal }).catch(ignoreStatus(304));
        return afterStart(name, await inspect(c, signal), `started ${name} (was ${describeState(before)}) in ${took(t0)}`, t0);
      }),
    stop: (signal) =>
      attempt("stopping", signal, async (c, t0) => {
        const before = await inspect(c, signal);
        if (!before.Running)
          return { ok: true, detail: `${name} not running (${describeState(before)})`, durationMs: performance.now() - t0 };
        await c.stop({ t: stopSeconds, abortSignal: signal }).catch(ignoreStatus(304));
        const after = await inspect(c, signal);
        return {
          ok: !after.Running,
          detail: `stopped ${name} in ${took(t0)} (${describeState(after)})`,
          durationMs: performance.now() - t0,
        };
      }),
    restart: (signal) =>
      attempt("restarting", signal, async (c, t0) => {
        const before = await inspect(c, signal);
        await c.restart({ t: stopSeconds, abortSignal: signal });
        return afterStart(name, await inspect(c, signal), `restarted ${name} (was ${describeState(before)}) in ${took(t0)}`, t0);
      }),
  };
}

/** Success only when the container runs after a start or restart: one that exits at once has not come back. */
function afterStart(name: string, state: ContainerState, detail: string, t0: number): StepResult {
  const durationMs = performance.now() - t0;
  if (state.Running && !state.Restarting) return { ok: true, detail, durationMs };
  return { ok: false, detail: `${name} is ${describeState(state)} right after starting (hint: see docker logs ${name})`, durationMs };
}

/** Swallows an engine answer that means "already so" (304 on start and stop). */
function ignoreStatus(status: number): (err: unknown) => void {
  return (err) => {
    if ((err as { statusCode?: unknown } | null)?.statusCode !== status) throw err;
  };
}

/** The engine's view of a container's state, as inspect reports it. */
export type ContainerState = Docker.ContainerInspectInfo["State"];

/** `running`, `exited 137 (OOM killed)`, `paused`, ...: a state in a few words. */
export function describeState(s: ContainerState): string {
  if (s.Paused) return "paused";
  if (s.Restarting) return `restarting (last exit ${s.ExitCode})`;
  if (s.Running) return "running";
  if (s.Status === "created") return "created, never started";
  return `${s.Status} ${s.ExitCode}${s.OOMKilled ? " (OOM killed)" : ""}`;
}

const SOCKET_CODES = new Set(["ENOENT", "ECONNREFUSED", "EACCES", "EPERM", "EHOSTUNREACH"]);
const ENGINE_MESSAGE_CHARS = 200;

/** One line for a failed engine call: a missing container, an unreachable engine, or what the engine said. */
export function describeEngineError(err: unknown, name: string, conn: DockerConnection): string {
  const code = dockerErrorCode(err);
  if (code === "ENOCONTAINER") return `container ${name} does not exist (hint: check the name with docker ps -a)`;
  if (SOCKET_CODES.has(code)) {
    return `cannot reach the Docker engine at ${engineKey(conn)}: ${code} (hint: is dockerd running, and may medic's user use its socket?)`;
  }
  // The engine's own words are in the body; dockerode's message wraps them in HTTP noise.
  const said = (err as { json?: { message?: unknown } } | null)?.json?.message;
  const text = (typeof said === "string" ? said : describeError(err)).replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
  const capped = text.length > ENGINE_MESSAGE_CHARS ? `${text.slice(0, ENGINE_MESSAGE_CHARS - 1)}…` : text;
  return `${code} on ${name}: ${capped}`;
}
