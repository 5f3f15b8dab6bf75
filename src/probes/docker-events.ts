import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import type Docker from "dockerode";
import { dockerClient, engineKey, type DockerConnection } from "../lib/docker.js";

// Engine events (newline-delimited JSON): https://docs.docker.com/engine/api/v1.41/#tag/System/operation/SystemEvents

/** A container event from the engine. Names and labels come from the engine: data, never commands. */
export interface ContainerEvent {
  /** die, oom, kill, health_status, start, restart, stop, create, destroy, rename. */
  action: string;
  id: string;
  name: string;
  /** die: the container's exit code. */
  exitCode?: number;
  /** health_status: "healthy", "unhealthy" or "starting". */
  healthStatus?: string;
  /** kill: the signal number sent. */
  signal?: number;
  /** The container's labels (the event's attributes less the engine's own keys). */
  labels: Record<string, string>;
  /** Epoch ms on the engine's clock. */
  at: number;
}

/** One engine's shared stream, for tests and metrics. `connects` counts successful connections. */
export interface StreamStatus {
  connected: boolean;
  reconnects: number;
  connects: number;
  subscribers: number;
}

const ACTIONS = ["create", "start", "restart", "kill", "die", "oom", "stop", "destroy", "rename", "health_status"];
// Attributes the engine adds itself; the rest of an event's attributes are the container's labels.
const ENGINE_ATTRIBUTES = new Set(["name", "image", "exitCode", "signal", "oldName"]);
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;
// An event is a few hundred bytes plus labels; a longer line is not an event and is skipped, not buffered.
const MAX_LINE_CHARS = 1 << 20;
// Keys of recent events: a reconnect asks to replay from the last event's second, so drop what was seen.
const RECENT_KEYS = 256;

const streams = new Map<string, EngineStream>();

/**
 * Calls `onEvent` for every container event of the engine `conn` names. All subscribers of one
 * engine share one stream, reconnected with backoff when it ends; the last unsubscribe closes it.
 * Never throws; a throwing listener is ignored. Returns the unsubscribe (idempotent).
 */
export function subscribeContainerEvents(conn: DockerConnection, onEvent: (event: ContainerEvent) => void): () => void {
  const key = engineKey(conn);
  let stream = streams.get(key);
  if (!stream) {
    const created = new EngineStream({ socketPath: conn.socketPath, host: conn.host }, () => {
      if (streams.get(key) === created) streams.delete(key);
    });
    streams.set(key, created);
    stream = created;
  }
  return stream.add(onEvent);
}

/** The state of the shared stream for `conn`'s engine (all zero when nobody subscribes). */
export function streamStatus(conn: DockerConnection): StreamStatus {
  const stream = streams.get(engineKey(conn));
  if (!stream) return { connected: false, reconnects: 0, connects: 0, subscribers: 0 };
  return { connected: stream.connected, reconnects: Math.max(0, stream.connects - 1), connects: stream.connects, subscribers: stream.size };
}

class EngineStream {
  connected = false;
  connects = 0;
  private readonly entries = new Set<{ onEvent: (event: ContainerEvent) => void }>();
  private backoffMs = FIRST_BACKOFF_MS;
  private timer: NodeJS.Timeout | undefined;
  // The live attempt: its abort and, once connected, its response. Undefined while waiting to retry.
  private attempt: { abort: AbortController; response?: Readable } | undefined;
  private since: number | undefined;
  private readonly recent = new Set<string>();

  constructor(
    private readonly conn: DockerConnection,
    private readonly onIdle: () => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  add(onEvent: (event: ContainerEvent) => void): () => void {
    const entry = { onEvent };
    this.entries.add(entry);
    if (this.entries.size === 1) this.connect();
    return () => {
      if (this.entries.delete(entry) && this.entries.size === 0) this.stop();
    };
  }

  private connect(): void {
    this.timer = undefined;
    const attempt: { abort: AbortController; response?: Readable } = { abort: new AbortController() };
    this.attempt = attempt;
    const options = {
      filters: { type: ["container"], event: ACTIONS },
      ...(this.since !== undefined && { since: this.since }),
      abortSignal: attempt.abort.signal,
    };
    // No timeout: the stream is quiet for as long as nothing happens to a container.
    dockerClient(this.conn)
      .getEvents(options as Docker.GetEventsOptions)
      .then(
        (stream) => this.attach(attempt, stream as Readable),
        () => this.lost(attempt),
      );
  }

  private attach(attempt: { abort: AbortController; response?: Readable }, response: Readable): void {
    if (this.attempt !== attempt) {
      response.destroy();
      return;
    }
    attempt.response = response;
    this.connected = true;
    this.connects += 1;
    this.backoffMs = FIRST_BACKOFF_MS;
    const split = splitLines((line) => this.dispatch(line));
    response.on("data", (chunk: Buffer | string) => split(chunk));
    const end = (): void => {
      response.destroy();
      this.lost(attempt);
    };
    // `on`, not `once`: a second "error" after a destroy must still find a listener.
    response.on("end", end);
    response.on("error", end);
    response.on("close", end);
  }

  // The stream ended or never started: try again after a growing pause, unless this attempt was superseded.
  private lost(attempt: { abort: AbortController }): void {
    if (this.attempt !== attempt) return;
    this.attempt = undefined;
    this.connected = false;
    this.timer = setTimeout(() => this.connect(), this.backoffMs);
    // A subscriber keeps the stream, not the process: the daemon's own timers keep it alive.
    this.timer.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
  }

  private stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const attempt = this.attempt;
    this.attempt = undefined;
    attempt?.abort.abort();
    attempt?.response?.destroy();
    this.connected = false;
    this.onIdle();
  }

  private dispatch(line: string): void {
    const parsed = parseEvent(line);
    if (!parsed) return;
    if (this.recent.has(parsed.key)) return;
    this.recent.add(parsed.key);
    if (this.recent.size > RECENT_KEYS) this.recent.delete(this.recent.values().next().value as string);
    this.since = Math.floor(parsed.event.at / 1000);
    for (const entry of [...this.entries]) {
      try {
        entry.onEvent(parsed.event);
      } catch {
        // A listener's bug must not cost the other listeners their events or the stream its life.
      }
    }
  }
}

// Newline-delimited: a chunk may end mid-line or mid-character.
function splitLines(onLine: (line: string) => void): (chunk: Buffer | string) => void {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  let skipping = false;
  return (chunk) => {
    pending += typeof chunk === "string" ? chunk : decoder.write(chunk);
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!skipping && line.trim() !== "") onLine(line);
      skipping = false;
    }
    if (pending.length > MAX_LINE_CHARS) {
      pending = "";
      skipping = true;
    }
  };
}

function parseEvent(line: string): { event: ContainerEvent; key: string } | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isRecord(raw) || (raw.Type !== undefined && raw.Type !== "container")) return undefined;
  const actor = isRecord(raw.Actor) ? raw.Actor : {};
  const attributes = isRecord(actor.Attributes) ? actor.Attributes : {};
  const fullAction = typeof raw.Action === "string" ? raw.Action : typeof raw.status === "string" ? raw.status : undefined;
  const id = typeof actor.ID === "string" ? actor.ID : typeof raw.id === "string" ? raw.id : undefined;
  if (fullAction === undefined || id === undefined) return undefined;

  const [action = "", detail] = fullAction.split(/:\s*/, 2);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(attributes)) if (typeof v === "string" && !ENGINE_ATTRIBUTES.has(k)) labels[k] = v;
  const timeNano = typeof raw.timeNano === "number" ? raw.timeNano : undefined;
  const at = timeNano !== undefined ? Math.floor(timeNano / 1e6) : typeof raw.time === "number" ? raw.time * 1000 : Date.now();
  const event: ContainerEvent = {
    action: action.slice(0, 64),
    id: id.slice(0, 128),
    name: stringOf(attributes.name).slice(0, 128),
    labels,
    at,
  };
  const exitCode = integerOf(attributes.exitCode);
  if (exitCode !== undefined) event.exitCode = exitCode;
  const signal = integerOf(attributes.signal);
  if (signal !== undefined) event.signal = signal;
  if (action === "health_status" && detail) event.healthStatus = detail.trim().slice(0, 32);
  return { event, key: `${timeNano ?? at}|${id}|${fullAction}` };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringOf(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function integerOf(value: unknown): number | undefined {
  return typeof value === "string" && /^-?\d{1,10}$/.test(value) ? Number(value) : undefined;
}
