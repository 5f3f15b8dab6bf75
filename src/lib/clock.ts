/** Where time comes from; injected so decisions can be tested with an explicit `now`. */
export interface Clock {
  now(): number;
}

/** Wall-clock time. */
export const systemClock: Clock = { now: () => Date.now() };

/** Resolves after `ms`, or rejects with the signal's reason when aborted first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function onAbort(): void {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    function done(): void {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** True when every promise settled within `ms`. */
export async function settles(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  if (promises.length === 0) return true;
  const timeout = new AbortController();
  const done = Promise.allSettled(promises).then(() => true);
  const late = sleep(ms, timeout.signal).then(
    () => false,
    () => true,
  );
  const result = await Promise.race([done, late]);
  timeout.abort();
  return result;
}
