/** True under `npm run chaos` (chaos/run.mjs): the chaos tests run their full counts. */
export const FULL = process.env.MEDIC_CHAOS_FULL === "1";

/** `fast` cases in `npm test`, `full` under `npm run chaos`. */
export function cases(fast: number, full: number): number {
  return FULL ? full : fast;
}

/** The seed of this run: MEDIC_CHAOS_SEED to replay one, else random (printed by the tests that fail). */
export const SEED = Number(process.env.MEDIC_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** A small seeded PRNG (mulberry32), so a failing case can be replayed from its seed. */
export function rng(seed: number): { next: () => number; int: (n: number) => number; pick: <T>(xs: readonly T[]) => T } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)]! };
}

/** Resolves `p`, or rejects naming `what` after `ms` (a hang is a failure, not a stuck suite). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>(
    (_ok, fail) => (timer = setTimeout(() => fail(new Error(`${what}: no answer within ${ms}ms (hang)`)), ms)),
  );
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
