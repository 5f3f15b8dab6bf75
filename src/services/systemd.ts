import { z } from "zod";
import { formatDuration } from "../lib/duration.js";
import {
  describeFailure,
  runSystemctl,
  showUnit,
  systemctlArgv,
  unitName,
  type SystemctlOptions,
  type UnitProperties,
} from "../lib/systemctl.js";
import type { StepResult } from "../playbooks/types.js";
import type { ServiceDriver, ServiceKind } from "./types.js";

// systemctl(1) start/stop/restart/show: https://www.freedesktop.org/software/systemd/man/latest/systemctl.html

const schema = z.strictObject({
  unit: unitName().meta({ description: "The unit systemctl acts on, with its suffix, like orders-api.service" }),
});

/** Validated params of a systemd service. */
export type SystemdServiceParams = z.output<typeof schema>;

/** A unit's state in a few properties, as `systemctl show` reports them. */
export const STATUS_PROPERTIES = ["ActiveState", "SubState", "MainPID", "NRestarts", "Result"];

/** A unit systemd runs: `service: { systemd: { unit: orders-api.service } }`. */
export const systemdService: ServiceKind<typeof schema> = {
  schema,
  create: (params) => createSystemdDriver(params.unit),
  describe: (p) => `systemd unit ${p.unit}`,
};

/** Systemd bounds its own jobs; this bounds the call when medic's signal has no deadline. */
const CALL_TIMEOUT_MS = 120_000;

/** What a lifecycle verb runs and says. */
type Verb = "start" | "stop" | "restart";
const DONE: Record<Verb, string> = { start: "started", stop: "stopped", restart: "restarted" };

/** A systemd unit's driver, plus a read-only status; also what the systemd.* steps act through. */
export interface SystemdDriver extends ServiceDriver {
  status(opts: SystemctlOptions): Promise<{ props: UnitProperties } | { error: string }>;
}

/** A driver for one unit (already validated): systemctl as argv, never a shell. */
export function createSystemdDriver(unit: string): SystemdDriver {
  async function act(verb: Verb, signal: AbortSignal): Promise<StepResult> {
    const t0 = performance.now();
    const done = (ok: boolean, detail: string): StepResult => ({ ok, detail, durationMs: performance.now() - t0 });
    if (signal.aborted) return done(false, `aborted before ${verb} ${unit}`);
    const opts = { timeoutMs: CALL_TIMEOUT_MS, signal };
    const before = await showUnit(unit, STATUS_PROPERTIES, opts);
    if ("error" in before) return done(false, before.error);
    const res = await runSystemctl(systemctlArgv(verb, unit), opts);
    const failed = describeFailure(res, `systemctl ${verb} ${unit}`, CALL_TIMEOUT_MS);
    if (failed) return done(false, failed);
    const after = await showUnit(unit, STATUS_PROPERTIES, opts);
    const now = "error" in after ? `state unknown: ${after.error}` : `now ${describeUnit(after.props)}`;
    const took = formatDuration(performance.now() - t0);
    // A start job that ends with the unit failed did not bring it back; the verify phase would say so later.
    const ok = !("error" in after) && after.props.ActiveState !== "failed";
    return done(ok, `${DONE[verb]} ${unit} (was ${describeUnit(before.props)}, ${now}) in ${took}`);
  }

  return {
    describe: () => `systemd unit ${unit}`,
    start: (signal) => act("start", signal),
    stop: (signal) => act("stop", signal),
    restart: (signal) => act("restart", signal),
    status: (opts) => showUnit(unit, STATUS_PROPERTIES, opts),
  };
}

/** `active (running), main pid 123, 2 automatic restarts` or `failed (signal)`. Pure. */
export function describeUnit(p: UnitProperties): string {
  const state = p.SubState ? `${p.ActiveState ?? "?"} (${p.SubState})` : (p.ActiveState ?? "unknown");
  const parts = [p.ActiveState === "failed" && p.Result && p.Result !== "success" ? `failed (${p.Result})` : state];
  if (p.MainPID && p.MainPID !== "0") parts.push(`main pid ${p.MainPID}`);
  if (p.NRestarts && p.NRestarts !== "0") parts.push(`${p.NRestarts} automatic restarts`);
  return parts.join(", ");
}
