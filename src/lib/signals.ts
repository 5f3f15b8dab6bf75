// A deadline for one operation under a long-lived signal (the daemon's stop signal). Not
// AbortSignal.any: on Node 20 every signal it makes stays reachable from its long-lived input, about
// 60 bytes per call for the life of the daemon (nodejs/node#55351). Here the link is a plain
// listener that is removed when the operation ends, so nothing is left behind on the parent.

/** A signal that aborts when `parent` does or `timeoutMs` passes; `dispose()` unhooks it from `parent` and stops its timer. */
export interface LinkedSignal {
  signal: AbortSignal;
  dispose(): void;
}

/** Links a new signal to `parent` with a timeout of its own; call `dispose()` when the operation ends. */
export function linkSignal(parent: AbortSignal, timeoutMs: number): LinkedSignal {
  const controller = new AbortController();
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { signal: controller.signal, dispose: () => {} };
  }
  const abort = () => controller.abort(parent.reason);
  const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, "TimeoutError")), timeoutMs);
  timer.unref();
  parent.addEventListener("abort", abort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      parent.removeEventListener("abort", abort);
    },
  };
}

/** Runs `fn` with a signal linked to `parent` and a timeout; unlinks it however `fn` ends. */
export async function withDeadline<T>(parent: AbortSignal, timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const linked = linkSignal(parent, timeoutMs);
  try {
    return await fn(linked.signal);
  } finally {
    linked.dispose();
  }
}

// The operations following each long-lived signal: one listener per signal rather than one per
// operation, since an EventTarget's add and remove walk its whole list of listeners.
const following = new WeakMap<AbortSignal, Set<(reason: unknown) => void>>();

/**
 * Calls `fn` with the reason when `signal` aborts (at once when it has); returns the unfollow. Many
 * followers of one signal (every probe in flight under medic's stop) share one listener on it.
 */
export function onAbort(signal: AbortSignal, fn: (reason: unknown) => void): () => void {
  if (signal.aborted) {
    fn(signal.reason);
    return () => {};
  }
  let followers = following.get(signal);
  if (!followers) {
    const all = (followers = new Set());
    following.set(signal, all);
    signal.addEventListener("abort", () => [...all].forEach((follower) => follower(signal.reason)), { once: true });
  }
  followers.add(fn);
  return () => void followers.delete(fn);
}
