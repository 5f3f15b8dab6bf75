import type { Identity, Role } from "./types.js";

/** A control the console can show. */
export type Control = "ack" | "pause" | "resume" | "guard" | "approve";

// What each role may do, as the API allows it: viewers look, operators act on incidents and
// pauses, approvers also answer approval gates.
const ALLOWED: Record<Role, readonly Control[]> = {
  viewer: [],
  operator: ["ack", "pause", "resume", "guard"],
  approver: ["ack", "pause", "resume", "guard", "approve"],
};

/** Whether whoever holds the token may use a control; nobody known (no token, or an API without identities) may use none. */
export function may(who: Identity | undefined, control: Control): boolean {
  return who !== undefined && (ALLOWED[who.role] ?? []).includes(control);
}
