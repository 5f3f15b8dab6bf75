import type { Incident } from "../incidents/types.js";
import type { Found } from "./types.js";

/** The shortest id prefix a lookup accepts: shorter ones match too much to mean one incident. */
export const MIN_PREFIX = 4;

/** An incident by id, or by a prefix of at least MIN_PREFIX characters that only one id starts with. */
export function findIn(sources: Iterable<Incident>[], id: string): Found {
  const matched = new Map<string, Incident>();
  for (const source of sources) {
    for (const i of source) {
      if (i.id === id) return { found: i };
      if (id.length >= MIN_PREFIX && i.id.startsWith(id)) matched.set(i.id, i);
    }
  }
  if (matched.size === 1) return { found: [...matched.values()][0]! };
  return matched.size > 1 ? { found: undefined, ambiguous: matched.size } : { found: undefined };
}
