import type { z } from "zod";

/** One probe result. A probe always produces one, even when the target is broken. */
export interface Observation {
  target: string;
  /** Epoch ms when the probe started. */
  at: number;
  /** The probe reached the target and it answered the way the probe expects (status, health body). */
  ok: boolean;
  latencyMs: number;
  /** Why the probe could not get an answer: ECONNREFUSED, ETIMEDOUT, ENOENT, ESRCH, ... */
  error?: { code: string; message: string };
  facts: Facts;
}

/** What a probe learned. Every field is optional; each probe fills what it knows. */
export interface Facts {
  /** http: response status code. */
  status?: number;
  /** http: the parsed JSON body, when the body was JSON. Untrusted: never reaches an argv or URL raw. */
  body?: unknown;
  /** http: the first bytes of the body as text (capped), for evidence. */
  bodyExcerpt?: string;
  /** http: true when the body was larger than the cap and was cut. */
  bodyTruncated?: boolean;
  /** http: what a recognised health body says, normalised. */
  health?: HealthSummary;
  /** process: pid found, alive (a zombie is not alive), resident memory. */
  pid?: number;
  alive?: boolean;
  rssBytes?: number;
  /** Memory use as a fraction of its limit, from any probe that knows both. */
  memoryUtilization?: number;
  /** Connections (or pool slots) in use as a fraction of what is available, from any probe that knows. */
  poolUtilization?: number;
  /** postgres: what the server says about itself. */
  postgres?: PostgresFacts;
  /** docker: what the engine says about the container. */
  container?: ContainerFacts;
  [key: string]: unknown;
}

/** What the docker probe learns about a container. */
export interface ContainerFacts {
  id: string;
  name: string;
  state: "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";
  exitCode: number;
  oomKilled: boolean;
  /** RestartCount from the top level of inspect; absent when the engine's die event alone answered the round. */
  restartCount?: number;
  startedAt?: string;
  finishedAt?: string;
  health?: { status: "starting" | "healthy" | "unhealthy"; failingStreak: number; lastOutput?: string };
  /** Usage minus inactive file cache (as `docker stats`), and the limit when one is set. */
  memory?: { usageBytes: number; limitBytes?: number };
  cpuPercent?: number;
}

/** What the postgres probe learns in one round trip. */
export interface PostgresFacts {
  version: string;
  /** True on a standby. */
  inRecovery: boolean;
  /** Client backends in use, max_connections, superuser_reserved_connections. */
  connections: { used: number; max: number; reserved: number };
  /** Sessions by state; absent when the role cannot see other roles' sessions. */
  states?: { active: number; idle: number; idleInTransaction: number; idleInTransactionAborted: number };
  oldestIdleInTransactionMs?: number;
  longestQueryMs?: number;
  waitingOnLock: number;
  /** partial: the role lacks pg_monitor, so states and ages of other roles' sessions are unknown. */
  visibility: "full" | "partial";
  selectLatencyMs: number;
}

/** A health body reduced to the signals classification uses. */
export interface HealthSummary {
  /** Which convention the body followed. */
  format: "health+json" | "spring-actuator" | "plain";
  status: "pass" | "warn" | "fail";
  /** The raw status word the body used ("UP", "healthy", "fail", ...). */
  rawStatus?: string;
  /** The database as the application sees it, when the body says. */
  database?: "up" | "down";
  /** Connection pool in use / size, 0..1, when the body says. */
  poolUtilization?: number;
  /** Clients waiting for a pooled connection, when the body says. */
  poolWaiting?: number;
  /** Memory used / limit, 0..1, when the body says. */
  memoryUtilization?: number;
  /** Names of failing checks or components, for evidence. */
  failing: string[];
}

/** A configured probe ready to run. Never rejects; honours the signal. */
export interface Probe {
  run(signal: AbortSignal): Promise<Observation>;
  /**
   * Optional push: calls `onEvent` when the target changes (a container died) so a round runs at
   * once instead of at the next tick. Returns the unsubscribe. Polling stays the safety net.
   */
  watch?(onEvent: (event: WatchEvent) => void): () => void;
}

/** What a probe needs besides its own params. */
export interface ProbeContext {
  target: string;
  timeoutMs: number;
  /** Resolves config-relative paths (pid files). */
  baseDir: string;
}

/** One probe kind: its YAML schema and how to build a probe from validated params. */
export interface ProbeKind<S extends z.ZodType = z.ZodType> {
  schema: S;
  create(params: z.output<S>, ctx: ProbeContext): Probe;
  /** One line for `medic plan`/`check`: what is probed. */
  describe(params: z.output<S>): string;
}

/** A change the target's source reported on its own (an engine event). */
export interface WatchEvent {
  /** What happened, e.g. "die (exit 137)", "oom", "health_status: unhealthy". */
  what: string;
  /** The event itself proves the target broke: the round it triggers may open an incident at once. */
  confirmsFailure: boolean;
}
