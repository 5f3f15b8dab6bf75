import { globMatches } from "../lib/glob.js";
import type { Target } from "../config/types.js";
import type { Playbook } from "./types.js";

/** How specifically a playbook names a target: -1 not at all, higher is more specific. */
export function specificity(playbook: Playbook, target: Target): number {
  for (const [key, value] of Object.entries(playbook.labels)) {
    if (target.labels[key] !== value) return -1;
  }
  let best = -1;
  for (const glob of playbook.targets) {
    if (!globMatches(glob, target.name)) continue;
    // An exact name beats a pattern, a pattern beats "*"; each label adds weight.
    const score = glob === target.name ? 3 : glob === "*" || glob === "**" ? 1 : 2;
    best = Math.max(best, score);
  }
  return best < 0 ? -1 : best * 100 + Object.keys(playbook.labels).length;
}

/**
 * The playbook for this kind of breakage on this target: the most specific match, first in file
 * order on a tie; only the target's own `playbook` when it names one.
 */
export function matchPlaybook(playbooks: readonly Playbook[], target: Target, kind: string): Playbook | undefined {
  let chosen: Playbook | undefined;
  let chosenScore = -1;
  for (const playbook of playbooks) {
    if (!playbook.on.includes(kind)) continue;
    if (target.playbook !== undefined && playbook.name !== target.playbook) continue;
    const score = specificity(playbook, target);
    if (score > chosenScore) [chosen, chosenScore] = [playbook, score];
  }
  return chosen;
}
