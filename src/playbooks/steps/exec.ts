import { resolve } from "node:path";
import { z } from "zod";
import { argv } from "../../config/fields.js";
import { formatDuration } from "../../lib/duration.js";
import { describeError } from "../../lib/errors.js";
import { runCommand, type CommandResult } from "../../lib/exec.js";
import type { StepKind, StepResult } from "../types.js";

const schema = z.strictObject({
  // The program is fixed by the operator: a template there could let an outside value choose what runs.
  argv: argv()
    .refine((a) => !a[0]?.includes("{{"), { message: "the program (argv[0]) may not use {{ }} templates; template its arguments instead" })
    .meta({ description: "The program and its arguments; arguments may use {{ }} and each stays one argument" }),
  cwd: z.string().min(1).optional().meta({ description: "Working directory (relative to the config file; default: its directory)" }),
  env: z
    .record(z.string(), z.string())
    .optional()
    .meta({
      description:
        "Environment variables for the program, added to PATH, HOME, USER, LOGNAME, LANG, LANGUAGE, LC_*, TZ " + "and TMPDIR from medic's",
    }),
  inheritEnv: z
    .boolean()
    .optional()
    .meta({
      description:
        "Give the program all of medic's environment (its secrets too) instead of only PATH, HOME, LANG " + "and the like (default false)",
    }),
  expectExit: z.array(z.number().int()).min(1).default([0]).meta({ description: "Exit codes that count as success" }),
});

type Params = z.output<typeof schema>;

const DETAIL_CHARS = 200;

/** `exec`: run a program (argv, never a shell) and check its exit code. */
export const execStep: StepKind<typeof schema, Params> = {
  schema,
  defaultTimeoutMs: 60_000,
  idempotent: false,
  needsService: false,
  local: () => true,
  render: (p, r) => ({
    ...p,
    argv: p.argv.map((a) => r.arg(a)),
    ...(p.cwd === undefined ? {} : { cwd: r.arg(p.cwd) }),
    ...(p.env === undefined ? {} : { env: Object.fromEntries(Object.entries(p.env).map(([k, v]) => [k, r.text(v)])) }),
  }),
  describe: (p) => `run ${JSON.stringify(p.argv)}${p.cwd ? ` in ${p.cwd}` : ""}${p.inheritEnv ? " with all of medic's environment" : ""}`,
  async run(p, ctx): Promise<StepResult> {
    const t0 = performance.now();
    try {
      const res = await runCommand(p.argv[0]!, p.argv.slice(1), {
        cwd: resolve(ctx.baseDir, p.cwd ?? "."),
        env: p.env,
        inheritEnv: p.inheritEnv,
        timeoutMs: ctx.timeoutMs,
        signal: ctx.signal,
      });
      const ok = res.error === undefined && !res.timedOut && !res.aborted && res.exitCode !== null && p.expectExit.includes(res.exitCode);
      return { ok, detail: describeRun(res, ctx.timeoutMs, ok), durationMs: res.durationMs };
    } catch (err) {
      return { ok: false, detail: `exec failed: ${describeError(err)}`, durationMs: performance.now() - t0 };
    }
  },
};

function describeRun(res: CommandResult, timeoutMs: number, ok: boolean): string {
  if (res.error) return res.error.message;
  const line = lastLine(ok ? [res.stdout, res.stderr] : [res.stderr, res.stdout]);
  const said = line ? `: ${line}` : "";
  if (res.timedOut) return `timed out after ${formatDuration(timeoutMs)}${said}`;
  if (res.aborted) return `aborted after ${formatDuration(res.durationMs)}${said}`;
  const how = res.exitCode !== null ? `exit ${res.exitCode}` : `killed by ${res.signal}`;
  return `${how} in ${formatDuration(res.durationMs)}${said}`;
}

/** The last non-blank line of the first output that has one, one line, capped. */
function lastLine(outputs: string[]): string {
  for (const out of outputs) {
    const line = out
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l.length > 0)
      .at(-1);
    if (line === undefined) continue;
    // Program output may echo hostile input: no terminal escapes or control characters in a timeline.
    const clean = line.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
    return clean.length > DETAIL_CHARS ? `${clean.slice(0, DETAIL_CHARS - 1)}…` : clean;
  }
  return "";
}
