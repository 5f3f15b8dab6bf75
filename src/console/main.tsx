import { ApiProblem, getJson, onUnauthorized, setToken } from "./api.js";
import { App } from "./app.js";
import { connectLive } from "./live.js";
import { applyEvent } from "./model.js";
import { h, render } from "./preact.js";
import { parseRoute } from "./route.js";
import { onRedraw, redraw, state } from "./state.js";
import type { Identity } from "./types.js";

// The console's start: draw the page, follow the hash, open the live stream, learn who is looking.

const root = document.getElementById("app")!;
let renders = 0;

// Each draw is timed (performance.measure "medic:render", with the number of targets): the browser
// test reads these to report how long 1,000 targets take to draw and to update.
onRedraw(() => {
  const start = performance.now();
  render(<App state={state} onAsk={ask} onToken={answered} />, root);
  performance.measure("medic:render", { start, end: performance.now(), detail: { targets: state.fleet.targets.size } });
  // A console left open for days must not keep every measure.
  if (++renders % 5_000 === 0) performance.clearMeasures("medic:render");
});

addEventListener("hashchange", () => {
  state.route = parseRoute(location.hash);
  redraw();
  document.getElementById("main")?.focus({ preventScroll: true });
});

function ask(): void {
  state.asking = true;
  redraw();
}
onUnauthorized.add(ask);

/** Asks the API who the token belongs to; an API without identities (404), or no token, means no controls. */
async function learnWho(): Promise<void> {
  try {
    state.who = await getJson<Identity>("api/whoami", { quiet: true });
  } catch (err) {
    state.who = undefined;
    if (!(err instanceof ApiProblem)) throw err;
  }
  redraw();
}

const live = connectLive(
  (e) => {
    if (applyEvent(state.fleet, e)) redraw();
  },
  (s) => {
    state.live = s;
    redraw();
  },
);

// The prompt closed: with a new token (or null, none), ask again who it is and reopen the stream with it.
function answered(token: string | null | undefined): void {
  state.asking = false;
  if (token !== undefined) {
    setToken(token);
    live.restart();
    void learnWho();
  }
  redraw();
}

void learnWho();
redraw();
