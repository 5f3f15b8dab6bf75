import { z } from "zod";
import { formatDuration } from "./duration.js";
import { runCommand, type CommandResult } from "./exec.js";

// systemctl(1) with argv only. Unit names follow systemd.unit(5) "Description": letters, digits and
// ":-_.\" with at most one "@", then a type suffix; medic also refuses a leading "-".

/** Unit types a start, stop or restart makes sense for. */
export const LIFECYCLE_TYPES = ["service", "socket", "target", "timer", "path", "mount", "automount", "swap"] as const;
/** Unit types with resource-control properties (`systemctl set-property`). */
export const RESOURCE_TYPES = ["service", "socket", "mount", "swap", "slice", "scope"] as const;

const UNIT_NAME_MAX = 255;
const UNIT_NAME = /^([A-Za-z0-9:_.\\][A-Za-z0-9:_.\\-]*)(?:@([A-Za-z0-9:_.\\-]*))?\.([a-z]+)$/;

/** Why `name` is not a unit name medic may pass to systemctl, or undefined when it is one. */
export function checkUnitName(name: string, types: readonly string[] = LIFECYCLE_TYPES): string | undefined {
  const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 57)}...` : name);
  if (name.length === 0 || name.length > UNIT_NAME_MAX) return `unit name must be 1-${UNIT_NAME_MAX} characters (got ${name.length})`;
  const m = UNIT_NAME.exec(name);
  if (!m) {
    return `${shown} is not a unit name: letters, digits and :_.\\- , at most one @, not starting with -, and a type suffix (hint: like orders-api.service)`;
  }
  if (!types.includes(m[3]!)) return `${shown} is a .${m[3]} unit; this takes ${types.map((t) => `.${t}`).join(", ")}`;
  if (m[2] === "") return `${shown} is a template (hint: give an instance, like ${m[1]}@main.${m[3]})`;
  return undefined;
}

/** A unit name field: templates (`{{ }}`) are checked when rendered, literal names now. */
export const unitName = (types: readonly string[] = LIFECYCLE_TYPES) =>
  z.string().superRefine((s, ctx) => {
    if (s.includes("{{")) return;
    const problem = checkUnitName(s, types);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/** Options of one systemctl call: every call is bounded. */
export interface SystemctlOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** The argv medic runs for `systemctl VERB [options] -- UNIT [after…]`: never asks for a password, `--` before the unit. */
export function systemctlArgv(verb: string, unit: string, options: string[] = [], after: string[] = []): string[] {
  return ["systemctl", "--no-ask-password", verb, ...options, "--", unit, ...after];
}

/** `systemctl daemon-reload`: systemd reads unit files and drop-ins again. */
export const DAEMON_RELOAD_ARGV: readonly string[] = ["systemctl", "--no-ask-password", "daemon-reload"];

/** Runs `systemctl args…` (argv[0] is `systemctl`) in the C locale, so what it says can be matched. */
export function runSystemctl(argv: string[], opts: SystemctlOptions): Promise<CommandResult> {
  return runCommand(argv[0]!, argv.slice(1), { timeoutMs: opts.timeoutMs, signal: opts.signal, env: { LC_ALL: "C", SYSTEMD_COLORS: "0" } });
}

/** Properties as `systemctl show` prints them, by name. */
export type UnitProperties = Record<string, string>;

/** `Key=Value` lines to a map (a value may itself contain `=`). Pure. */
export function parseShow(text: string): UnitProperties {
  const props: UnitProperties = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) props[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return props;
}

/** Reads `props` of a unit with `systemctl show` (read-only; any user may). A unit systemd does not know is an error. */
export async function showUnit(
  unit: string,
  props: string[],
  opts: SystemctlOptions,
): Promise<{ props: UnitProperties } | { error: string }> {
  const wanted = [...new Set(["LoadState", ...props])];
  const argv = systemctlArgv(
    "show",
    unit,
    wanted.flatMap((p) => ["-p", p]),
  );
  const res = await runSystemctl(argv, opts);
  const failed = describeFailure(res, `systemctl show ${unit}`, opts.timeoutMs);
  if (failed) return { error: failed };
  const values = parseShow(res.stdout);
  // systemctl show answers 0 for a unit it has never heard of; LoadState says so.
  if (values.LoadState === "not-found") return { error: `unit ${unit} not found (hint: check the name with systemctl list-units --all)` };
  return { props: values };
}

/** One line saying why a systemctl call failed, with what to do; undefined when it succeeded. Pure. */
export function describeFailure(res: CommandResult, what: string, timeoutMs: number): string | undefined {
  if (res.error) {
    const hint = res.error.code === "ENOENT" ? " (hint: medic needs systemctl on its PATH: is this a systemd host?)" : "";
    return `cannot run systemctl: ${res.error.message}${hint}`;
  }
  if (res.timedOut) return `${what} timed out after ${formatDuration(timeoutMs)} (the job may still finish: see systemctl list-jobs)`;
  if (res.aborted) return `${what} aborted after ${formatDuration(res.durationMs)}`;
  if (res.exitCode === 0) return undefined;
  const said = lastLine(res.stderr) || lastLine(res.stdout) || (res.exitCode === null ? `killed by ${res.signal}` : `exit ${res.exitCode}`);
  return `${what} failed: ${said}${hintFor(said)}`;
}

function hintFor(said: string): string {
  if (/Interactive authentication required|Access denied|not authorized/i.test(said)) {
    return " (hint: medic's user is not allowed this: list the unit in the polkit rule, see systemd/medic.rules)";
  }
  if (/not found|not loaded|does not exist/i.test(said)) return " (hint: check the unit name with systemctl list-units --all)";
  if (/Failed to connect to bus|System has not been booted with systemd/i.test(said))
    return " (hint: systemd does not run this host, or its bus is out of reach)";
  return "";
}

const LINE_CHARS = 200;

/** The last non-blank line, without control characters, capped: systemctl may echo unit output. */
function lastLine(text: string): string {
  const line =
    text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.length > 0 && !/^See (system logs|"systemctl status)/.test(l))
      .at(-1) ?? "";
  const clean = line.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
  return clean.length > LINE_CHARS ? `${clean.slice(0, LINE_CHARS - 1)}…` : clean;
}
