import { performance } from "node:perf_hooks";
import type Docker from "dockerode";
import { z } from "zod";
import { containerName, dockerClient, dockerConnectionShape, dockerErrorCode, engineKey, type DockerConnection } from "../lib/docker.js";
import { ContainerHistory, type Death } from "./container-history.js";
import { subscribeContainerEvents, type ContainerEvent } from "./docker-events.js";
import type { ContainerFacts, Facts, Observation, Probe, ProbeContext, ProbeKind, WatchEvent } from "./types.js";

// Engine API v1.41 inspect and stats: https://docs.docker.com/engine/api/v1.41/#tag/Container

const schema = z.strictObject({
  container: containerName().meta({ description: "The container's name or id, like orders-api" }),
  ...dockerConnectionShape,
  events: z
    .boolean()
    .default(true)
    .meta({ description: "Follow engine events so a dead container is seen at once, not at the next poll (default true)" }),
});

type DockerProbeParams = z.output<typeof schema>;

const STATES = new Set<string>(["created", "running", "paused", "restarting", "removing", "exited", "dead"]);
const HEALTH = new Set<string>(["starting", "healthy", "unhealthy"]);
const OUTPUT_CHARS = 200;

/** The `docker` probe: healthy while the container runs and its HEALTHCHECK (if any) is not failing. */
export const dockerProbe: ProbeKind<typeof schema> = {
  schema,
  create(params, ctx): Probe {
    const cpu: CpuSample = {};
    const history = new ContainerHistory();
    return {
      run: (signal) => {
        const death = history.takeDeath();
        return death ? Promise.resolve(deathObservation(params, ctx, death)) : probeContainer(params, ctx, signal, cpu);
      },
      watch(onEvent) {
        if (!params.events) return () => {};
        return subscribeContainerEvents(connectionOf(params), (event) => {
          if (!isContainer(event, params.container)) return;
          history.add(event);
          // A kill is a signal sent, not a death: the container may still be running when a round
          // called by it inspects, and that round (stats included) only delays the one `die` calls.
          if (event.action !== "kill") onEvent(watchEventOf(event));
        });
      },
    };
  },
  describe(params) {
    const where = params.socketPath ?? params.host;
    return `docker container ${params.container}${where ? ` on ${shownEngine(where)}` : ""}`;
  },
};

/** The round's answer from a `die` event alone: exited, with its exit code; the restart count stays unknown. */
function deathObservation(params: DockerProbeParams, ctx: ProbeContext, death: Death): Observation {
  const { event } = death;
  const container: ContainerFacts = {
    id: event.id,
    name: plain(event.name, 128) || params.container,
    state: "exited",
    exitCode: event.exitCode,
    oomKilled: death.oom,
  };
  // The engine's clock, as it sent it: only a time a Date can hold.
  if (Math.abs(event.at) < 8.64e15) container.finishedAt = new Date(event.at).toISOString();
  return { target: ctx.target, at: Date.now(), ok: false, latencyMs: 0, facts: { container, alive: false } };
}

/** What an engine event says about the probed container, and whether it proves a failure by itself. */
export function watchEventOf(event: ContainerEvent): WatchEvent {
  switch (event.action) {
    case "die":
      return { what: event.exitCode === undefined ? "die" : `die (exit ${event.exitCode})`, confirmsFailure: true };
    case "kill":
      return { what: event.signal === undefined ? "kill" : `kill (signal ${event.signal})`, confirmsFailure: true };
    case "oom":
      return { what: "oom", confirmsFailure: true };
    case "health_status":
      return { what: `health_status: ${plain(event.healthStatus ?? "unknown", 32)}`, confirmsFailure: event.healthStatus === "unhealthy" };
    default:
      return { what: plain(event.action, 64), confirmsFailure: false };
  }
}

// Previous round's CPU counters: a one-shot stats sample has no earlier sample to diff against.
interface CpuSample {
  id?: string;
  total?: number;
  system?: number;
}

function connectionOf(params: DockerProbeParams): DockerConnection {
  return { socketPath: params.socketPath, host: params.host };
}

// By name or id; a short id (12+ hex digits) matches as a prefix, as the engine accepts it.
function isContainer(event: ContainerEvent, ref: string): boolean {
  if (event.name === ref || event.id === ref) return true;
  return /^[0-9a-f]{12,63}$/.test(ref) && event.id.startsWith(ref);
}

async function probeContainer(params: DockerProbeParams, ctx: ProbeContext, signal: AbortSignal, cpu: CpuSample): Promise<Observation> {
  const at = Date.now();
  const start = performance.now();
  const facts: Facts = {};
  const engine = shownEngine(engineKey(connectionOf(params)));
  const done = (ok: boolean, error?: { code: string; message: string }): Observation => {
    const obs: Observation = { target: ctx.target, at, ok, latencyMs: performance.now() - start, facts };
    if (error) obs.error = error;
    return obs;
  };
  const timedOut = (): Observation =>
    done(false, {
      code: "ETIMEDOUT",
      message: `docker engine ${engine}: no answer about container ${params.container} after ${Math.round(performance.now() - start)} ms`,
    });
  if (signal.aborted) return timedOut();

  const container = dockerClient(connectionOf(params), ctx.timeoutMs).getContainer(params.container);
  let info: Docker.ContainerInspectInfo;
  try {
    info = await container.inspect({ abortSignal: signal });
  } catch (err) {
    if (signal.aborted) return timedOut();
    const code = dockerErrorCode(err);
    const message =
      code === "ENOCONTAINER"
        ? `container ${params.container} does not exist on docker engine ${engine}`
        : `docker engine ${engine}: ${messageOf(err, code)}`;
    return done(false, { code, message });
  }

  const c = factsOf(info);
  facts.container = c;
  facts.alive = c.state === "running";
  if (c.state === "running") {
    try {
      // one-shot (API 1.41+): answer at once instead of waiting ~1 s for a second CPU sample.
      const options = { stream: false, "one-shot": true, abortSignal: signal } as { stream: false; "one-shot": boolean };
      const stats = await container.stats(options);
      addStats(c, stats, info.HostConfig.Memory ?? 0, cpu);
      if (c.memory?.limitBytes) facts.memoryUtilization = c.memory.usageBytes / c.memory.limitBytes;
    } catch {
      // Stats are extra: the inspect answer above stands without them (a timeout included).
    }
  }
  return done(c.state === "running" && c.health?.status !== "unhealthy");
}

function factsOf(info: Docker.ContainerInspectInfo): ContainerFacts {
  const s = info.State;
  const c: ContainerFacts = {
    id: info.Id,
    name: info.Name.replace(/^\//, ""),
    state: stateOf(s),
    exitCode: s.ExitCode,
    oomKilled: s.OOMKilled === true,
    restartCount: typeof info.RestartCount === "number" ? info.RestartCount : 0,
  };
  if (s.StartedAt && !s.StartedAt.startsWith("0001-")) c.startedAt = s.StartedAt;
  if (s.FinishedAt && !s.FinishedAt.startsWith("0001-")) c.finishedAt = s.FinishedAt;
  if (s.Health && HEALTH.has(s.Health.Status)) {
    c.health = { status: s.Health.Status as "starting" | "healthy" | "unhealthy", failingStreak: s.Health.FailingStreak ?? 0 };
    const output = s.Health.Log?.at(-1)?.Output;
    if (typeof output === "string" && output.trim() !== "") c.health.lastOutput = plain(output, OUTPUT_CHARS);
  }
  return c;
}

function stateOf(s: Docker.ContainerInspectInfo["State"]): ContainerFacts["state"] {
  if (STATES.has(s.Status)) return s.Status as ContainerFacts["state"];
  return s.Running ? "running" : s.Paused ? "paused" : s.Restarting ? "restarting" : s.Dead ? "dead" : "exited";
}

// Memory as `docker stats` shows it: usage less inactive file cache (cgroup v1 total_inactive_file, v2 inactive_file).
// Without HostConfig.Memory the engine reports the host's memory as the limit: that is no limit.
function addStats(c: ContainerFacts, stats: Docker.ContainerStats, configuredLimit: number, cpu: CpuSample): void {
  const mem = stats.memory_stats as { usage?: number; limit?: number; stats?: Record<string, number> } | undefined;
  if (typeof mem?.usage === "number") {
    const inactive = mem.stats?.total_inactive_file ?? mem.stats?.inactive_file;
    const usageBytes = typeof inactive === "number" && inactive < mem.usage ? mem.usage - inactive : mem.usage;
    c.memory = { usageBytes };
    if (configuredLimit > 0)
      c.memory.limitBytes = typeof mem.limit === "number" && mem.limit > 0 ? Math.min(mem.limit, configuredLimit) : configuredLimit;
  }
  const percent = cpuPercent(c.id, stats, cpu);
  if (percent !== undefined) c.cpuPercent = percent;
}

// docker stats' formula: container CPU time over system CPU time, times the CPUs. Diffs against the
// engine's previous sample when it sent one, else against this probe's previous round.
function cpuPercent(id: string, stats: Docker.ContainerStats, prev: CpuSample): number | undefined {
  const now = stats.cpu_stats as Partial<Docker.CPUStats> | undefined;
  const total = now?.cpu_usage?.total_usage;
  const system = now?.system_cpu_usage;
  if (typeof total !== "number" || typeof system !== "number") return undefined;
  const pre = stats.precpu_stats as Partial<Docker.CPUStats> | undefined;
  const engineHasPrevious =
    typeof pre?.system_cpu_usage === "number" && pre.system_cpu_usage > 0 && typeof pre.cpu_usage?.total_usage === "number";
  const before = engineHasPrevious
    ? { total: pre.cpu_usage!.total_usage, system: pre.system_cpu_usage! }
    : prev.id === id
      ? { total: prev.total, system: prev.system }
      : undefined;
  Object.assign(prev, { id, total, system });
  if (before?.total === undefined || before.system === undefined) return undefined;
  const cpuDelta = total - before.total;
  const systemDelta = system - before.system;
  if (systemDelta <= 0 || cpuDelta < 0) return undefined;
  const cpus = now?.online_cpus || now?.cpu_usage?.percpu_usage?.length || 1;
  return Math.round((cpuDelta / systemDelta) * cpus * 100 * 100) / 100;
}

// Health check output and event words come from inside the container: one line, no controls, capped.
function plain(text: string, max: number): string {
  const flat = text
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function messageOf(err: unknown, code: string): string {
  const text = err instanceof Error ? err.message : String(err);
  return plain(text || code, 300);
}

// A tcp:// address may carry credentials in DOCKER_HOST: never show them.
function shownEngine(where: string): string {
  return where.replace(/\/\/[^@/]*@/, "//");
}
