import { getToken } from "./api.js";
import { FleetView } from "./fleet.js";
import { IncidentView } from "./incident.js";
import { IncidentsView } from "./incidents.js";
import { Fragment, h } from "./preact.js";
import { useEffect, useRef, useState } from "./preact-hooks.js";
import type { AppState } from "./state.js";
import { StatusView } from "./status.js";

const LIVE_TEXT: Record<AppState["live"], string> = {
  connecting: "connecting…",
  live: "live",
  retrying: "reconnecting…",
  unauthorized: "needs a token",
};

/**
 * The whole page: the header, the page the hash names, and the token prompt when it is open.
 * `onAsk` opens the prompt; `onToken` closes it with a new token, null (forget it) or undefined (no change).
 */
export function App({
  state,
  onAsk,
  onToken,
}: {
  state: AppState;
  onAsk: () => void;
  onToken: (token: string | null | undefined) => void;
}) {
  const { route, fleet, who } = state;
  const now = Date.now();
  const page = route.page;
  return (
    <Fragment>
      <a class="skip" href="#main" onClick={skipToMain}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          medic
        </a>
        <nav aria-label="Pages">
          <a href="#/" aria-current={page === "fleet" ? "page" : undefined}>
            Fleet
          </a>
          <a href="#/incidents" aria-current={page === "incidents" || page === "incident" ? "page" : undefined}>
            Incidents
          </a>
          <a href="#/status" aria-current={page === "status" ? "page" : undefined}>
            Status
          </a>
        </nav>
        <span class={`live live-${state.live}`} role="status" data-testid="live" data-state={state.live}>
          <span aria-hidden="true">{state.live === "live" ? "●" : "○"}</span> {LIVE_TEXT[state.live]}
        </span>
        <span class="who" data-testid="who">
          {who ? `${who.name} (${who.role})` : "read-only"}
        </span>
        <button type="button" class="link" onClick={onAsk}>
          {getToken() ? "Change token" : "Enter token"}
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {page === "fleet" && <FleetView fleet={fleet} now={now} />}
        {page === "incidents" && <IncidentsView filters={route.filters} live={fleet.incidents} targets={[...fleet.targets.keys()]} />}
        {page === "incident" && <IncidentView id={route.id} summary={fleet.incidents.get(route.id)} fleet={fleet} who={who} now={now} />}
        {page === "status" && <StatusView who={who} targets={[...fleet.targets.keys()]} />}
      </main>
      {state.asking && <TokenPrompt onDone={onToken} />}
    </Fragment>
  );
}

function skipToMain(e: Event): void {
  e.preventDefault();
  document.getElementById("main")?.focus();
}

/**
 * Asks for the API token once; it is kept in this tab's sessionStorage (gone when the tab closes)
 * and sent in the Authorization header only, never as a cookie.
 */
function TokenPrompt({ onDone }: { onDone: (token: string | null | undefined) => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [value, setValue] = useState("");
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog ref={dialog} aria-labelledby="token-title" onCancel={() => onDone(undefined)}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) onDone(value.trim());
        }}
      >
        <h2 id="token-title">API token</h2>
        <p>
          This medic wants a token for what you asked. It is kept in this tab only (sessionStorage) and sent as an{" "}
          <code>Authorization: Bearer</code> header, never as a cookie.
        </p>
        <label>
          Token{" "}
          <input
            type="password"
            name="token"
            autoComplete="off"
            autoFocus
            value={value}
            onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          />
        </label>
        <div class="actions">
          <button type="submit">Use token</button>
          {getToken() && (
            <button type="button" onClick={() => onDone(null)}>
              Forget token
            </button>
          )}
          <button type="button" onClick={() => onDone(undefined)}>
            Cancel
          </button>
        </div>
      </form>
    </dialog>
  );
}
