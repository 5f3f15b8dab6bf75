import { resolve } from "node:path";
import { z } from "zod";
import { bytes } from "../../config/fields.js";
import type { Target } from "../../config/types.js";
import { dockerClient, dockerConnectionShape, engineKey } from "../../lib/docker.js";
import { demuxDockerLog, looksMultiplexed } from "../../lib/docker-logs.js";
import { formatDuration } from "../../lib/duration.js";
import { describeError } from "../../lib/errors.js";
import { runCommand } from "../../lib/exec.js";
import { withDeadline } from "../../lib/signals.js";
import { unitName } from "../../lib/systemctl.js";
import { readTail } from "../../lib/tail.js";
import { TemplateError, type Renderer } from "../template.js";
import type { PreviewContext, StepContext, StepKind, StepResult } from "../types.js";
import { captureResult, keptDetail, noSink } from "./capture-kept.js";
import { resolveContainer } from "./docker.js";

// `- capture.logs: { lines: 200 }`: the tail of the target's log, before a restart rotates it away.
// journalctl: https://www.freedesktop.org/software/systemd/man/latest/journalctl.html
// docker logs: https://docs.docker.com/engine/api/v1.41/#tag/Container/operation/ContainerLogs

const MAX_LINES = 100_000;
const ANY_UNIT = ["service", "socket", "timer", "mount", "scope", "slice", "path", "target", "swap", "automount", "device"];

const schema = z
  .strictObject({
    file: z.string().min(1).optional().meta({ description: "A log file, relative to the config file; read from its end" }),
    unit: unitName(ANY_UNIT).optional().meta({ description: "A systemd unit whose journal to read (journalctl -u UNIT)" }),
    container: z.string().min(1).optional().meta({ description: "A container whose log to read through the engine API (docker logs)" }),
    ...dockerConnectionShape,
    lines: z.number().int().min(1).max(MAX_LINES).default(200).meta({ description: "How many of the last lines to keep (default 200)" }),
    maxBytes: bytes()
      .optional()
      .meta({ description: "At most this many bytes (default and ceiling: artifacts.maxBytes); the tail is kept" }),
  })
  .nullish()
  .transform((v) => v ?? { lines: 200 })
  .superRefine((p, ctx) => {
    const given = [p.file, p.unit, p.container].filter((x) => x !== undefined).length;
    if (given > 1)
      ctx.addIssue({
        code: "custom",
        input: p,
        message: "give one of file, unit or container (hint: or none, to read the log of the target's service)",
      });
  })
  .meta({ description: "Keep the last lines of the service's log (a file, the journal, or docker logs) as evidence" });

type Params = z.output<typeof schema>;

/** Where the lines come from, resolved against the target. */
type Source =
  | { kind: "file"; path: string }
  | { kind: "journal"; unit: string }
  | { kind: "docker"; name: string; conn: { socketPath?: string; host?: string }; engine: string }
  | { error: string };

function sourceOf(p: Params, target: Target, baseDir: string): Source {
  if (p.file !== undefined) return { kind: "file", path: resolve(baseDir, p.file) };
  if (p.unit !== undefined) return { kind: "journal", unit: p.unit };
  const service = target.service;
  if (p.container !== undefined || service?.kind === "docker" || (service === undefined && target.probe.kind === "docker")) {
    const r = resolveContainer(p, target);
    if ("error" in r) return r;
    return { kind: "docker", name: r.name, conn: r.conn, engine: engineKey(r.conn) };
  }
  if (service?.kind === "systemd") return { kind: "journal", unit: (service.params as { unit: string }).unit };
  const logFile = service?.kind === "process" ? (service.params as { logFile?: string }).logFile : undefined;
  if (logFile !== undefined) return { kind: "file", path: resolve(baseDir, logFile) };
  return {
    error: `no log to read: ${target.name}'s service keeps none medic knows of (hint: give file:, unit: or container: to the step)`,
  };
}

function describeSource(s: Exclude<Source, { error: string }>): string {
  if (s.kind === "file") return `log file ${s.path}`;
  if (s.kind === "journal") return `journalctl -u ${s.unit}`;
  return `docker logs of ${s.name} on ${s.engine}`;
}

/** `capture.logs`: the last lines of the service's log, kept under the incident before the fix. */
export const captureLogs: StepKind<typeof schema> = {
  schema,
  defaultTimeoutMs: 30_000,
  idempotent: true,
  needsService: false,
  capture: true,
  // A file or a journal is on the target's host; an engine over TCP can be read from anywhere.
  local: (p, target) => {
    const s = sourceOf(p, target, "/");
    return !("kind" in s) || s.kind !== "docker" || s.conn.host === undefined;
  },
  render: (p, r: Renderer) => {
    if (p.container === undefined) return p;
    const name = r.text(p.container);
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name))
      throw new TemplateError("TEMPLATE_UNSAFE_VALUE", `container renders to ${JSON.stringify(name.slice(0, 60))}`, "like orders-api");
    return { ...p, container: name };
  },
  describe: (p) => {
    const what = p.file
      ? `log file ${p.file}`
      : p.unit
        ? `journalctl -u ${p.unit}`
        : p.container
          ? `docker logs of ${p.container}`
          : "the service's log";
    return `capture the last ${p.lines} lines of ${what}${p.maxBytes !== undefined ? ` (at most ${p.maxBytes} bytes)` : ""}`;
  },
  async preview(p, ctx: PreviewContext) {
    const s = sourceOf(p, ctx.target, ctx.baseDir);
    if ("error" in s) return [s.error];
    return [`would capture the last ${p.lines} lines of ${describeSource(s)} (nothing is captured in a dry run)`];
  },
  run: (p, ctx) => runCapture(p, ctx),
};

async function runCapture(p: Params, ctx: StepContext): Promise<StepResult> {
  const done = captureResult();
  if (!ctx.artifacts) return done(false, noSink());
  const s = sourceOf(p, ctx.target, ctx.baseDir);
  if ("error" in s) return done(false, s.error);
  const cap = Math.min(p.maxBytes ?? ctx.artifacts.maxBytes, ctx.artifacts.maxBytes);
  return withDeadline(ctx.signal, ctx.timeoutMs, async (signal) => {
    try {
      const read = await readSource(s, p.lines, cap, ctx.timeoutMs, signal);
      if ("failed" in read) return done(false, `${describeSource(s)}: ${read.failed}`);
      if (signal.aborted) return done(false, `timed out after ${formatDuration(ctx.timeoutMs)} reading ${describeSource(s)}`);
      const ref = await ctx.artifacts!.save("logs", read.text, { keep: "tail", ext: "txt" });
      const lines = ref.bytes === 0 ? 0 : (read.text.match(/\n/g)?.length ?? 0);
      return done(true, keptDetail(ref, `the last ${Math.min(lines, p.lines)} lines of ${describeSource(s)}`), [ref]);
    } catch (err) {
      if (signal.aborted) return done(false, `timed out after ${formatDuration(ctx.timeoutMs)} reading ${describeSource(s)}`);
      return done(false, `${describeSource(s)}: ${describeError(err)}`);
    }
  });
}

async function readSource(
  s: Exclude<Source, { error: string }>,
  lines: number,
  cap: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ text: string } | { failed: string }> {
  if (s.kind === "file") return { text: (await readTail(s.path, lines, cap)).data.toString("utf8") };
  if (s.kind === "journal") {
    // --unit=: the unit is one argv item however it is spelled (it was checked against the unit pattern too).
    const argv = [`--unit=${s.unit}`, "-n", String(lines), "--no-pager", "-o", "short-iso", "--quiet"];
    const r = await runCommand("journalctl", argv, { timeoutMs, signal, maxOutputBytes: cap });
    if (r.error) return { failed: r.error.message };
    if (r.timedOut || r.aborted) return { failed: `journalctl did not answer within ${formatDuration(timeoutMs)}` };
    if (r.exitCode !== 0) return { failed: `journalctl exited ${r.exitCode ?? r.signal}: ${r.stderr.trim().slice(-300) || "no output"}` };
    return { text: r.stdout };
  }
  const container = dockerClient(s.conn, timeoutMs).getContainer(s.name);
  const raw = (await container.logs({
    stdout: true,
    stderr: true,
    tail: lines,
    timestamps: true,
    follow: false,
    abortSignal: signal,
  })) as unknown;
  const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw));
  // The engine sends the whole tail at once; only what the cap allows is kept of it.
  const text = looksMultiplexed(buf) ? demuxDockerLog(buf) : buf.toString("utf8");
  return { text };
}
