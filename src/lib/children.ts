// The processes this medic started and that have not exited yet. For them the kernel tells medic of
// the exit (SIGCHLD, then libuv reaps the child and Node emits 'exit'): no poll has to notice. A child
// is known by its pid and its start time in clock ticks since boot: once libuv has reaped it, its pid
// may be handed to another process at once, and that one has another start time.

const live = new Map<string, Set<() => void>>();
const keyOf = (pid: number, startTicks: number): string => `${pid}:${startTicks}`;

/** Records a child that was just started; `onExit` is how its exit will be told (the child's 'exit' event). */
export function trackChild(pid: number, startTicks: number, onExit: (listener: () => void) => void): void {
  const key = keyOf(pid, startTicks);
  const listeners = new Set<() => void>();
  live.set(key, listeners);
  onExit(() => {
    if (live.get(key) === listeners) live.delete(key);
    for (const listener of listeners) listener();
  });
}

/**
 * Calls `listener` once when the child `pid` that started at `startTicks` exits, and returns the
 * unsubscribe; returns undefined when that is not a live child of this medic (started by someone
 * else, by an earlier medic, or already exited): then only a poll can tell.
 */
export function onChildExit(pid: number, startTicks: number, listener: () => void): (() => void) | undefined {
  const listeners = live.get(keyOf(pid, startTicks));
  if (listeners === undefined) return undefined;
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

/** How many listeners wait on children's exits: for tests that check an unwatch left nothing behind. */
export function childExitListenerCount(): number {
  let n = 0;
  for (const listeners of live.values()) n += listeners.size;
  return n;
}
