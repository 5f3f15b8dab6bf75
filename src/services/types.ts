import type { z } from "zod";
import type { WatchEvent } from "../probes/types.js";

/** The outcome of one action on the world (a step, a service action), as recorded in the timeline. */
export interface StepResult {
  ok: boolean;
  /** One line: what happened ("restarted pid 123 -> 456", "exit 1: permission denied"). */
  detail: string;
  durationMs?: number;
  /** false: the step ran but found nothing to act on (no session matched); the timeline records it as skipped. */
  changed?: false;
  /** What a capture step kept, in the state dir under the incident: the journal lists each with its hash. */
  artifacts?: ArtifactRef[];
}

/** One piece of evidence a capture step kept: a file under the incident's directory in the state dir. */
export interface ArtifactRef {
  /** Unique within the incident: "logs-1.txt", "heap-2.heapsnapshot". */
  name: string;
  /** Path relative to the state dir: artifacts/<incident>/<name>. */
  path: string;
  bytes: number;
  /** Hex SHA-256 of the kept bytes. */
  sha256: string;
  /** The source was longer than the per-artifact cap: only its first (or, for logs, last) bytes were kept. */
  truncated: boolean;
  /** A few redacted lines for the postmortem and the console, at most 1 KiB; absent for binary data. */
  excerpt?: string;
}

/** The thing playbooks act on for a target: start, stop and restart it. */
export interface ServiceDriver {
  /** One line for plans and timelines, e.g. `process (pid file /run/web.pid)`. */
  describe(): string;
  start(signal: AbortSignal): Promise<StepResult>;
  stop(signal: AbortSignal): Promise<StepResult>;
  restart(signal: AbortSignal): Promise<StepResult>;
  /** Calls `onEvent` when the service is seen to die between probe rounds; returns the unwatch. */
  watch?(onEvent: (event: WatchEvent) => void): () => void;
}

/** What a service needs besides its own params. */
export interface ServiceContext {
  target: string;
  /** Resolves config-relative paths (pid files, cwd, log files). */
  baseDir: string;
}

/** One service kind: its YAML schema and how to build a driver from validated params. */
export interface ServiceKind<S extends z.ZodType = z.ZodType> {
  schema: S;
  create(params: z.output<S>, ctx: ServiceContext): ServiceDriver;
  describe(params: z.output<S>): string;
}
