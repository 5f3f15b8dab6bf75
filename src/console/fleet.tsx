import { clock } from "./format.js";
import { targetState, type TargetState } from "./fleet-state.js";
import type { Fleet } from "./model.js";
import { Component, h } from "./preact.js";
import { useState } from "./preact-hooks.js";
import { Sparkline } from "./sparkline.js";
import type { Target } from "./types.js";

/** The glyph beside each state's word: colour is never the only sign. */
export const STATE_ICON: Record<TargetState["key"], string> = {
  approval: "⚑",
  incident: "⚠",
  held: "◔",
  failing: "✗",
  suppressed: "↓",
  paused: "‖",
  unknown: "○",
  healthy: "✓",
};

const ORDER: TargetState["key"][] = ["approval", "incident", "held", "failing", "suppressed", "paused", "unknown", "healthy"];

/** Every watched target with its state, latest round and evidence, and its latency sparkline; live. */
export function FleetView({ fleet, now }: { fleet: Fleet; now: number }) {
  const [query, setQuery] = useState("");
  const [only, setOnly] = useState<TargetState["key"] | "">("");
  const rows = [...fleet.targets.values()].map((t) => ({ t, s: targetState(t, fleet.incidents, now) }));
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.s.key, (counts.get(r.s.key) ?? 0) + 1);
  const q = query.trim().toLowerCase();
  const shown = rows
    .filter((r) => (!only || r.s.key === only) && (!q || searchText(r.t).includes(q)))
    .sort((a, b) => a.s.rank - b.s.rank || (a.t.name < b.t.name ? -1 : a.t.name > b.t.name ? 1 : 0));
  return (
    <section aria-labelledby="fleet-title">
      <h1 id="fleet-title">Fleet</h1>
      <div class="toolbar">
        <div role="group" aria-label="Show targets by state" class="chips">
          <button type="button" aria-pressed={only === ""} onClick={() => setOnly("")}>
            all <b>{rows.length}</b>
          </button>
          {ORDER.filter((k) => counts.has(k)).map((k) => (
            <button type="button" class={`chip state-${k}`} aria-pressed={only === k} onClick={() => setOnly(only === k ? "" : k)}>
              <span aria-hidden="true">{STATE_ICON[k]}</span> {k} <b>{counts.get(k)}</b>
            </button>
          ))}
        </div>
        <label class="search">
          Find{" "}
          <input
            type="search"
            value={query}
            placeholder="name, label, evidence"
            onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
          />
        </label>
      </div>
      {rows.length === 0 ? (
        <p class="muted">No targets yet: the live stream has not said anything, or medic watches nothing.</p>
      ) : (
        <table class="fleet" data-testid="fleet">
          <caption class="sr-only">Watched targets, the ones that need a person first</caption>
          <thead>
            <tr>
              <th scope="col">Target</th>
              <th scope="col">State</th>
              <th scope="col">Last round</th>
              <th scope="col">Probe and evidence</th>
              <th scope="col">Latency, recent rounds</th>
            </tr>
          </thead>
          <tbody>
            {shown.map(({ t, s }) => (
              <Row key={t.name} t={t} stateKey={s.key} label={s.label} detail={s.detail} incident={s.incident} />
            ))}
          </tbody>
        </table>
      )}
      {rows.length > 0 && shown.length === 0 && <p class="muted">No target matches.</p>}
    </section>
  );
}

function searchText(t: Target): string {
  return [t.name, t.probe, ...Object.entries(t.labels).map(([k, v]) => `${k}=${v}`), t.finding?.evidence ?? ""].join(" ").toLowerCase();
}

interface RowProps {
  t: Target;
  stateKey: TargetState["key"];
  label: string;
  detail: string;
  incident: string | undefined;
}

// A row is drawn again only when its target or its state changed: with 1,000 targets an update
// touches the rows that changed, not all of them.
class Row extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    const p = this.props;
    return (
      next.t !== p.t || next.stateKey !== p.stateKey || next.label !== p.label || next.detail !== p.detail || next.incident !== p.incident
    );
  }

  override render({ t, stateKey, label, detail, incident }: RowProps) {
    const labels = Object.entries(t.labels);
    return (
      <tr data-target={t.name} class={`row-${stateKey}`}>
        <th scope="row">
          <span class="name">{t.name}</span>
          {labels.length > 0 && (
            <span class="labels">
              {labels.map(([k, v]) => (
                <span class="label">
                  {k}={v}
                </span>
              ))}
            </span>
          )}
        </th>
        <td>
          <span class={`state state-${stateKey}`} data-state={stateKey}>
            <span aria-hidden="true">{STATE_ICON[stateKey]}</span> {label}
          </span>
          {detail && <span class="detail">{detail}</span>}
          {incident && (
            <a class="open" href={`#/incidents/${encodeURIComponent(incident)}`}>
              incident {incident}
            </a>
          )}
        </td>
        <td>
          {t.lastRoundAt === undefined ? (
            <span class="muted">none yet</span>
          ) : (
            <span>
              <time dateTime={new Date(t.lastRoundAt).toISOString()}>{clock(t.lastRoundAt)}</time>
              {t.latencyMs !== undefined && <span class="num"> {Math.round(t.latencyMs)} ms</span>}
            </span>
          )}
        </td>
        <td>
          <span class="probe">{t.probe}</span>
          {t.finding && <span class="evidence">{t.finding.evidence}</span>}
        </td>
        <td>
          <Sparkline values={t.recent} />
        </td>
      </tr>
    );
  }
}
