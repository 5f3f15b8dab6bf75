import type { ApiRole, ApiToken } from "../config/types.js";
import { MedicError } from "../lib/errors.js";
import { bearerMatches, readToken } from "./auth.js";

/** Who is calling: the holder of the token the request carries. */
export interface Who {
  name: string;
  role: ApiRole;
}

/** A token read from its file, with its holder. */
export interface Holder extends Who {
  token: string;
}

/** What each role may do beyond reading. */
const RANK: Record<ApiRole, number> = { viewer: 0, operator: 1, approver: 2 };

/** Whether `role` is at least `needed`. */
export function roleAllows(role: ApiRole, needed: ApiRole): boolean {
  return RANK[role] >= RANK[needed];
}

/**
 * Reads every token file; `loose` lists the files others than their owner may read. Two holders
 * with one token could not be told apart in the journal: refused, naming both.
 */
export function readHolders(tokens: readonly ApiToken[]): { holders: Holder[]; loose: string[] } {
  const holders: Holder[] = [];
  const loose: string[] = [];
  for (const t of tokens) {
    const read = readToken(t.tokenFile);
    if (read.loose) loose.push(t.tokenFile);
    const twin = holders.find((h) => h.token === read.token);
    if (twin)
      throw new MedicError("API_TOKEN", `the API tokens of ${twin.name} and ${t.name} are the same`, {
        hint: "give each holder a token of its own: openssl rand -hex 32 > FILE",
      });
    holders.push({ name: t.name, role: t.role, token: read.token });
  }
  return { holders, loose };
}

/** The holder whose token the Authorization header carries; every token is compared, in constant time each. */
export function identify(header: string | undefined, holders: readonly Holder[]): Who | undefined {
  let found: Who | undefined;
  for (const h of holders) if (bearerMatches(header, h.token) && !found) found = { name: h.name, role: h.role };
  return found;
}
