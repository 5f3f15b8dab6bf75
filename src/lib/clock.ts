/**
 * Where time comes from: what time it is, and a timer. Injected, so the daemon's decisions and
 * schedules can run in-process on a manual clock (lib/manual-clock.ts), not only in real time.
 */
export interface Clock {
  now(): number;
  /** Calls `fn` once, `ms` from now (never sooner); returns its cancel. `unref`: the timer alone keeps no process alive. */
  timer(fn: () => void, ms: number, opts?: { unref?: boolean }): () => void;
}

/** Wall-clock time and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  timer(fn, ms, opts) {
    const t = setTimeout(fn, Math.max(0, ms));
    if (opts?.unref) t.unref();
    return () => clearTimeout(t);
  },
};

/** Calls `fn` every `ms` until the returned stop is called (each call counted from the one before). */
export function repeat(clock: Clock, ms: number, fn: () => void, opts?: { unref?: boolean }): () => void {
  let cancel = (): void => {};
  let stopped = false;
  const arm = (): void => {
    cancel = clock.timer(
      () => {
        if (stopped) return;
        arm();
        fn();
      },
      ms,
      opts,
    );
  };
  arm();
  return () => {
    stopped = true;
    cancel();
  };
}

/** Resolves after `ms`, or rejects with the signal's reason when aborted first. */
export function sleep(ms: number, signal?: AbortSignal, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const cancel = clock.timer(done, ms);
    function onAbort(): void {
      cancel();
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
export async function settles(promises: Promise<unknown>[], ms: number, clock: Clock = systemClock): Promise<boolean> {
  if (promises.length === 0) return true;
  const timeout = new AbortController();
  const done = Promise.allSettled(promises).then(() => true);
  const late = sleep(ms, timeout.signal, clock).then(
    () => false,
    () => true,
  );
  const result = await Promise.race([done, late]);
  timeout.abort();
  return result;
}
