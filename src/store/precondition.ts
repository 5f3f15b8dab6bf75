import type { AppendOutcome, Precondition } from "./types.js";

/** Why an append's precondition does not hold against the store's seq and epoch, or undefined when it does. */
export function checkPrecondition(expect: Precondition | undefined, seq: number, epoch: number): AppendOutcome | undefined {
  if (expect?.seq !== undefined && expect.seq !== seq)
    return { ok: false, reason: "conflict", detail: `expected seq ${expect.seq}, but the store is at ${seq}: another record came first` };
  if (expect?.epoch !== undefined && expect.epoch < epoch)
    return { ok: false, reason: "conflict", detail: `epoch ${expect.epoch} is over: the store has taken records at epoch ${epoch}` };
  return undefined;
}
