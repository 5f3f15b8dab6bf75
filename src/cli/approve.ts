import { answerApproval } from "../approvals/answer.js";
import type { ApprovalAnswer } from "../approvals/types.js";
import { describeError } from "../lib/errors.js";
import { isRefusal } from "../safety/operator.js";
import { viewOrReport, type GlobalOptions } from "./config.js";
import { findOrSay, openHistory } from "./incidents.js";
import { EXIT, print, printError } from "./output.js";
import { whoAmI } from "./pause.js";

/**
 * `medic approve ID [--note …]` and `medic reject ID --reason …`: answers the approval an incident
 * waits on, as the user running it, through this host's controls file; the daemon acts on it within
 * a second (a cluster's leader, wherever it runs).
 */
export async function answerCommand(
  id: string,
  decision: ApprovalAnswer["decision"],
  opts: GlobalOptions & { reason?: string },
): Promise<number> {
  const config = await viewOrReport(opts);
  if (!config) return EXIT.badConfig;
  const store = await openHistory(opts);
  if (!store) return EXIT.badConfig;
  try {
    const incident = await findOrSay(store, id);
    if (!incident) return EXIT.unhealthy;
    const written = answerApproval(config.stateDir, incident, { decision, by: whoAmI(), reason: opts.reason }, Date.now());
    if (isRefusal(written)) {
      printError(`${written.message} (hint: ${written.hint})\n`);
      return EXIT.unhealthy;
    }
    const step = `step ${written.index + 1} (${incident.approval!.step})`;
    print(`${decision} ${step} of incident ${incident.id} as ${written.by}; medic acts on it within a second\n`);
    return EXIT.ok;
  } catch (err) {
    printError(describeError(err) + "\n");
    return EXIT.unhealthy;
  } finally {
    await store.close();
  }
}
