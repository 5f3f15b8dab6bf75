import type { z } from "zod";
import type { ApprovalSpec } from "../approvals/types.js";
import type { Condition } from "../classify/conditions.js";
import type { Target } from "../config/target.js";
import type { Clock } from "../lib/clock.js";
import type { ArtifactRef, ServiceDriver, StepResult } from "../services/types.js";
import type { Renderer } from "./template.js";

export type { StepResult } from "../services/types.js";

/** One step as written in a playbook: a step kind, its params, and the common fields. */
export interface StepSpec {
  kind: string;
  params: unknown;
  /** Shown in plans and timelines; defaults to the kind. */
  name?: string;
  timeoutMs: number;
  /** Run only when these hold on a fresh probe of the target; otherwise the step is skipped. */
  onlyIf?: Condition[];
  /** Ask an approver before it runs. */
  approval?: ApprovalSpec;
}

/** A validated playbook. */
export interface Playbook {
  name: string;
  /** Absolute path of the file it came from. */
  file: string;
  description?: string;
  /** Incident kinds it handles. */
  on: string[];
  /** Target name globs it applies to. */
  targets: string[];
  /** Target labels that must all match. */
  labels: Record<string, string>;
  steps: StepSpec[];
  verify: { withinMs: number };
  /** Ask an approver once, before the run's first step. */
  approval?: ApprovalSpec;
  onFailure: "escalate";
}

/** What a running step may use. */
export interface StepContext {
  target: Target;
  /** The target's service, when it has one. */
  service?: ServiceDriver;
  signal: AbortSignal;
  timeoutMs: number;
  /** Resolves config-relative paths. */
  baseDir: string;
  /** Every target by name, for steps that act through another one (a database the target depends on). */
  targets: ReadonlyMap<string, Target>;
  /** The daemon's clock, for steps that wait (default: real time). */
  clock?: Clock;
  /** Where capture steps keep evidence (the incident's artifact directory); absent where nothing may be kept. */
  artifacts?: ArtifactSink;
}

/**
 * Where a capture step keeps what it captured: files under the incident in the state dir, each cut
 * at the per-artifact cap, redacted when text, and refused once the incident's total cap is reached.
 */
export interface ArtifactSink {
  /** Keeps `data` as an artifact named after `stem` ("logs" -> "logs-1.txt"); text is redacted first. */
  save(stem: string, data: string | Buffer, opts?: { ext?: string; binary?: boolean; keep?: "head" | "tail" }): Promise<ArtifactRef>;
  /**
   * Moves or copies a file the service wrote (a heap dump) in as an artifact, cut at the cap; binary, not
   * redacted, unless `redact` and the file is UTF-8 text (a V8 heap snapshot is JSON), which is then redacted.
   */
  adopt(stem: string, file: string, opts?: { ext?: string; redact?: boolean }): Promise<ArtifactRef>;
  /** Bytes one artifact may hold (the per-artifact cap), so a step can stop reading early. */
  readonly maxBytes: number;
}

/** What a preview may use: everything a step has but its service (a preview acts on nothing). */
export type PreviewContext = Omit<StepContext, "service">;

/** One step kind: schema, how to render its templates, describe it, and run it. */
export interface StepKind<S extends z.ZodType = z.ZodType, R = z.output<S>> {
  schema: S;
  defaultTimeoutMs: number;
  /** Safe to run again when a daemon restart interrupted it mid-way. */
  idempotent: boolean;
  /** Needs the target to have a service. */
  needsService: boolean;
  /** Keeps evidence (it acts on nothing): its failure is recorded and the run goes on, since capture never blocks the fix. */
  capture?: true;
  /**
   * Acts on the machine it runs on (a command, a unit, a local process, a docker socket), not over
   * the network: in a cluster it may run only on the target's node. Absent: it reaches its target
   * from anywhere (HTTP, SQL, a docker engine over TCP, a wait).
   */
  local?(rendered: R, target: Target): boolean;
  /** Fill templates; throws a TemplateError when a value is missing or unsafe. */
  render(params: z.output<S>, r: Renderer): R;
  /** One line for plans: what it would do, rendered; `service` describes the target's service. */
  describe(rendered: R, service?: string): string;
  run(rendered: R, ctx: StepContext): Promise<StepResult>;
  /** Optional read-only look at what the step would touch right now, for dry-run and `medic plan`. */
  preview?(rendered: R, ctx: PreviewContext): Promise<string[]>;
}
