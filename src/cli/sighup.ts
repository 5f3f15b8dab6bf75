// Node's default action for SIGHUP ends the process (status 129). `medic run` reloads on SIGHUP, and
// a SIGHUP while it starts must wait for it, not kill it. main.ts calls holdSighup() before it loads
// the rest of medic (loading alone takes about half a second); then `run` takes the signal over and
// every other command lets it go. This file imports nothing, so it is in place before anything else.

let handler: (() => void) | undefined;
let early = 0;
let held = false;
const onHup = (): void => {
  if (handler) handler();
  else early++;
};

/** Catches SIGHUP from now on; until a command takes it over, each one is counted. */
export function holdSighup(): void {
  if (held) return;
  held = true;
  process.on("SIGHUP", onHup);
}

/** `medic run`: from now on SIGHUP calls `fn`. Returns how many arrived before, which are for it too. */
export function takeSighup(fn: () => void): number {
  holdSighup();
  handler = fn;
  const before = early;
  early = 0;
  return before;
}

/** Any other command: SIGHUP has its default effect again, and one that arrived while it started takes it now. */
export function releaseSighup(): void {
  if (!held) return;
  held = false;
  process.off("SIGHUP", onHup);
  if (early > 0) process.kill(process.pid, "SIGHUP");
}
