import type { LiveState } from "./live.js";
import type { Fleet } from "./model.js";
import { parseRoute, type Route } from "./route.js";
import type { Identity } from "./types.js";

/** Everything the console shows that is not a page's own: the page, the live fleet, who is looking. */
export interface AppState {
  route: Route;
  fleet: Fleet;
  live: LiveState;
  /** Who the token belongs to; undefined: no token, or an API that does not say (then no control is shown). */
  who?: Identity;
  /** The token prompt is open. */
  asking: boolean;
}

/** The one state of the page. */
export const state: AppState = {
  route: parseRoute(location.hash),
  fleet: { targets: new Map(), incidents: new Map() },
  live: "connecting",
  asking: false,
};

let draw: () => void = () => {};
let pending = false;

/** Sets what redraws the page (main.tsx). */
export function onRedraw(fn: () => void): void {
  draw = fn;
}

/** Asks for a redraw at the next frame: a burst of changes is drawn once. */
export function redraw(): void {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    draw();
  });
}
