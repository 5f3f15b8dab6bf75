import { lstat, readdir, readFile, readlink, realpath } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { duration } from "../../config/fields.js";
import type { Target } from "../../config/types.js";
import { sleep } from "../../lib/clock.js";
import { dockerClient } from "../../lib/docker.js";
import { formatDuration } from "../../lib/duration.js";
import { describeError } from "../../lib/errors.js";
import { signalProcess } from "../../lib/exec.js";
import { stillRunning } from "../../lib/process-identity.js";
import { withDeadline } from "../../lib/signals.js";
import { locateService } from "../../services/process-locate.js";
import type { PreviewContext, StepContext, StepKind, StepResult } from "../types.js";
import { captureResult, keptDetail, noSink } from "./capture-kept.js";
import { resolveContainer } from "./docker.js";

// `- capture.signal: { signal: SIGUSR2, pattern: "Heap.*.heapsnapshot" }`: ask the service for a dump
// (Node's --heapsnapshot-signal, the JVM's SIGQUIT), wait for the new file to settle, and keep it.

const SIGNALS = ["SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGHUP"] as const;
const GLOB = /^[A-Za-z0-9_.*?-]{1,128}$/;
const POLL_MS = 100;

const schema = z
  .strictObject({
    signal: z.enum(SIGNALS).meta({ description: "The signal the service answers with a dump (Node: --heapsnapshot-signal=SIGUSR2)" }),
    pattern: z
      .string()
      .regex(GLOB, 'must be a file name glob with * and ?, no "/" (hint: like Heap.*.heapsnapshot)')
      .meta({ description: "The dump's file name, as a glob: Heap.*.heapsnapshot" }),
    dir: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "Where the dump appears, relative to the config file (default: a process service's cwd)" }),
    settle: duration().default(2000).meta({
      description:
        "The dump counts as written once it is not empty, no process of the service holds it open, and its size has not changed for this long (default 2s)",
    }),
    redact: z
      .boolean()
      .default(true)
      .meta({ description: "Redact secrets from a dump that is text (a V8 heap snapshot is JSON); binary ones are kept as written" }),
  })
  .meta({ description: "Send a signal the service answers by writing a dump, wait for the new file, and keep it as evidence" });

type Params = z.output<typeof schema>;

/** Whom the signal would go to, proven to be the service, and where its dump appears. */
type Recipient =
  | { kind: "process"; pid: number; startTicks: number; dir: string; who: string }
  | { kind: "docker"; name: string; conn: { socketPath?: string; host?: string }; dir: string; who: string }
  | { refused: string };

/** Only a process medic can prove is the service's (its identity record, or its exact start command) gets the signal. */
async function recipientOf(p: Params, target: Target, baseDir: string): Promise<Recipient> {
  const service = target.service;
  if (service?.kind === "process") {
    const s = service.params as { pidFile: string; start: string[]; cwd?: string };
    const pidFile = resolve(baseDir, s.pidFile);
    const dir = resolve(baseDir, p.dir ?? s.cwd ?? ".");
    const found = await locateService(pidFile, s.start);
    if (found.kind === "service") return { kind: "process", pid: found.pid, startTicks: found.startTicks, dir, who: `pid ${found.pid}` };
    if (found.kind === "foreign") return { refused: `not signalling pid ${found.pid}: ${found.reason}` };
    return { refused: `no process to signal: ${found.kind === "gone" ? `pid ${found.pid} is gone` : `pid file ${pidFile} names none`}` };
  }
  if (service?.kind === "docker") {
    if (p.dir === undefined) return { refused: "a container's dump needs dir: (the host side of a volume it writes to)" };
    const r = resolveContainer({}, target);
    if ("error" in r) return { refused: r.error };
    // The signal would cross the network but the dump lands on that host's disk, where medic cannot wait for it.
    if (r.conn.host !== undefined)
      return { refused: `container ${r.name} runs on a remote engine (${r.conn.host}): its dump would land on that host` };
    // The engine knows its container by name: the signal goes to that container's main process, no pid is guessed.
    return { kind: "docker", name: r.name, conn: r.conn, dir: resolve(baseDir, p.dir), who: `container ${r.name}` };
  }
  return { refused: `${target.name} has no process or docker service: medic cannot prove which process to signal` };
}

/** `capture.signal`: a dump the service writes on a signal, kept under the incident before the fix. */
export const captureSignal: StepKind<typeof schema> = {
  schema,
  defaultTimeoutMs: 60_000,
  // Asking twice for a dump does no harm: a second one is only more evidence.
  idempotent: true,
  needsService: true,
  capture: true,
  local: (p, target) => target.service?.kind !== "docker" || (target.service.params as { host?: string }).host === undefined,
  render: (p) => p,
  describe: (p) =>
    `capture a dump: send ${p.signal} to the service, keep the new ${p.pattern}${p.dir ? ` in ${p.dir}` : ""} once it settles`,
  async preview(p, ctx: PreviewContext) {
    const r = await recipientOf(p, ctx.target, ctx.baseDir);
    if ("refused" in r) return [`would not signal: ${r.refused}`];
    return [`would capture: send ${p.signal} to ${r.who} and keep the new ${p.pattern} in ${r.dir} (nothing is sent in a dry run)`];
  },
  run: (p, ctx) => runCapture(p, ctx),
};

async function runCapture(p: Params, ctx: StepContext): Promise<StepResult> {
  const done = captureResult();
  if (!ctx.artifacts) return done(false, noSink());
  const r = await recipientOf(p, ctx.target, ctx.baseDir);
  if ("refused" in r) return done(false, r.refused);
  const match = globToRegExp(p.pattern);
  return withDeadline(ctx.signal, ctx.timeoutMs, async (signal) => {
    try {
      const before = await listMatching(r.dir, match);
      if (r.kind === "process") {
        // Proven a moment ago; proven again now, so a pid reused in between is never signalled.
        const refusal = await signalRefusal(r.pid, p.signal);
        if (refusal) return done(false, refusal);
        if (!stillRunning(r.pid, r.startTicks)) return done(false, `pid ${r.pid} ended before ${p.signal} could be sent`);
        if (!signalProcess(r.pid, p.signal)) return done(false, `pid ${r.pid} was gone when ${p.signal} was sent`);
      } else await dockerClient(r.conn, ctx.timeoutMs).getContainer(r.name).kill({ signal: p.signal, abortSignal: signal });
      const file = await waitForDump(r.dir, match, before, p.settle, signal, r.kind === "process" ? r.pid : undefined);
      if (file === undefined) {
        return done(false, `sent ${p.signal} to ${r.who}; no new ${p.pattern} settled in ${r.dir} within ${formatDuration(ctx.timeoutMs)}`);
      }
      const ext = /\.([a-z0-9]{1,16})$/i.exec(file)?.[1]?.toLowerCase() ?? "bin";
      const ref = await ctx.artifacts!.adopt("dump", join(r.dir, file), { ext, redact: p.redact });
      return done(true, keptDetail(ref, `${file} that ${r.who} wrote on ${p.signal}`), [ref]);
    } catch (err) {
      if (signal.aborted) return done(false, `sent ${p.signal} to ${r.who}; no dump within ${formatDuration(ctx.timeoutMs)}`);
      return done(false, `${r.who}: ${describeError(err)}`);
    }
  });
}

/** Sizes and mtimes of the files matching in `dir` (none when it does not exist yet). */
async function listMatching(dir: string, match: RegExp): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return out;
    throw err;
  }
  for (const name of names) {
    if (!match.test(name)) continue;
    const st = await lstat(join(dir, name)).catch(() => undefined);
    if (st?.isFile()) out.set(name, `${st.size}:${st.mtimeMs}:${st.uid}`);
  }
  return out;
}

/** The first file that is new (or rewritten) since `before` and whose size then holds for `settleMs`; undefined when aborted. */
async function waitForDump(
  dir: string,
  match: RegExp,
  before: Map<string, string>,
  settleMs: number,
  signal: AbortSignal,
  pid: number | undefined,
): Promise<string | undefined> {
  let candidate: { name: string; size: number; since: number } | undefined;
  const owner = pid === undefined ? undefined : await uidOf(pid);
  while (!signal.aborted) {
    const now = await listMatching(dir, match);
    // Node creates its snapshot file empty and fills it for seconds: an empty file is not a dump yet.
    const fresh = [...now.entries()]
      .filter(
        ([name, sig]) =>
          before.get(name) !== sig && Number(sig.split(":")[0]) > 0 && (owner === undefined || Number(sig.split(":")[2]) === owner),
      )
      .map(([name]) => name);
    if (fresh.length > 0) {
      const name = candidate && fresh.includes(candidate.name) ? candidate.name : fresh.sort()[0]!;
      const size = Number(now.get(name)!.split(":")[0]);
      const at = performance.now();
      if (!candidate || candidate.name !== name || candidate.size !== size) candidate = { name, size, since: at };
      // Still open for writing by the service (a long snapshot that paused): not done yet.
      else if (at - candidate.since >= settleMs && !(pid !== undefined && (await holdsOpen(pid, join(dir, name))))) return name;
    }
    try {
      await sleep(POLL_MS, signal);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/**
 * Why a signal must not go to this process, or undefined: a signal it does not catch would kill it
 * (SIGUSR2 to a Node started without --heapsnapshot-signal), and SIGUSR1 opens Node's inspector.
 */
async function signalRefusal(pid: number, name: (typeof SIGNALS)[number]): Promise<string | undefined> {
  const number = osConstants.signals[name];
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, "utf8");
  } catch {
    return `cannot read /proc/${pid}/status to see whether pid ${pid} catches ${name}; not sending it`;
  }
  const caught = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (caught === undefined || ((BigInt(`0x${caught}`) >> BigInt(number - 1)) & 1n) === 0n)
    return `pid ${pid} does not catch ${name}: it would end the process, not dump (hint: start a Node service with --heapsnapshot-signal=${name})`;
  const exe = await readlink(`/proc/${pid}/exe`).catch(() => "");
  if (name === "SIGUSR1" && /(^|\/)node[^/]*$/.test(exe))
    return `pid ${pid} is Node, which answers SIGUSR1 by opening its inspector to local users; use --heapsnapshot-signal=SIGUSR2`;
  return undefined;
}

/** The real uid a process runs as: a dump it wrote is owned by it. */
async function uidOf(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const uid = /^Uid:\s*(\d+)/m.exec(status)?.[1];
  return uid === undefined ? undefined : Number(uid);
}

/** Whether the process has `file` open (any of its descriptors points at it). */
async function holdsOpen(pid: number, file: string): Promise<boolean> {
  const paths = new Set([file, await realpath(file).catch(() => file)]);
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) if (paths.has(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ""))) return true;
  return false;
}
