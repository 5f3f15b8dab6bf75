import type { Incident } from "../incidents/types.js";

/** How the dependency graph and the open incidents are looked up. */
export interface DependencyView {
  dependsOn(target: string): readonly string[];
  /** The target's incidents that are not resolved. */
  openIncidents(target: string): readonly Incident[];
  incident(id: string): Incident | undefined;
}

/**
 * The open incident a target's trouble most likely comes from: the deepest dependency (through
 * `dependsOn`, transitively) with an incident open, followed to the root it is itself suppressed
 * under. Undefined when every dependency is fine.
 */
export function findRoot(target: string, view: DependencyView): Incident | undefined {
  const seen = new Set<string>([target]);
  const visit = (name: string): Incident | undefined => {
    for (const dep of view.dependsOn(name)) {
      if (seen.has(dep)) continue;
      seen.add(dep);
      // Deeper first: with db <- api <- web all broken, web's root is db's incident, not api's.
      const deeper = visit(dep);
      if (deeper) return deeper;
      const open = view.openIncidents(dep)[0];
      if (open) return rootOf(open, view);
    }
    return undefined;
  };
  return visit(target);
}

function rootOf(incident: Incident, view: DependencyView): Incident {
  const seen = new Set<string>();
  let current = incident;
  while (current.root && !seen.has(current.id)) {
    seen.add(current.id);
    const parent = view.incident(current.root);
    if (!parent || parent.state === "resolved") break;
    current = parent;
  }
  return current;
}

/** How many `dependsOn` hops lead from `target` to `root` (Infinity if none): dependents are released nearest first. */
export function distance(target: string, root: string, dependsOn: (target: string) => readonly string[]): number {
  let frontier = [target];
  const seen = new Set(frontier);
  for (let hops = 0; frontier.length > 0; hops++) {
    if (frontier.includes(root)) return hops;
    frontier = frontier.flatMap((t) => dependsOn(t)).filter((t) => !seen.has(t) && seen.add(t));
  }
  return Infinity;
}
