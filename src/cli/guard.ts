import { viewOrReport, type GlobalOptions } from "./config.js";
import { EXIT, print } from "./output.js";
import { resetGuard } from "../safety/operator.js";
import { knownTarget, update } from "./pause.js";

/** `medic guard reset TARGET`: the flap guard forgets the target's runs so far, so playbooks may run again. */
export async function guardResetCommand(target: string, opts: GlobalOptions): Promise<number> {
  const config = await viewOrReport(opts);
  if (!config) return EXIT.badConfig;
  if (!knownTarget(config, target)) return EXIT.badConfig;
  const now = Date.now();
  if (!update(() => resetGuard(config.stateDir, target, now))) return EXIT.unhealthy;
  print(`flap guard on ${target} reset: runs before ${new Date(now).toISOString()} no longer count\n`);
  return EXIT.ok;
}
