import { ApiProblem, getJson } from "./api.js";
import { clock, dateTime, formatDuration, ms } from "./format.js";
import { mergeIncidents, SEVERITIES, STATE_CHOICES } from "./incident-list.js";
import { h } from "./preact.js";
import { useEffect, useState } from "./preact-hooks.js";
import { routeHash, type IncidentFilters } from "./route.js";
import { StateBadge } from "./state-badge.js";
import type { IncidentSummary } from "./types.js";

const PAGE = 200;

interface Loaded {
  items: IncidentSummary[];
  next?: string;
  error?: string;
  loading: boolean;
}

/** Open and recent incidents, filtered by state, target and severity; the live stream keeps it current. */
export function IncidentsView({
  filters,
  live,
  targets,
}: {
  filters: IncidentFilters;
  live: Map<string, IncidentSummary>;
  targets: string[];
}) {
  const [page, setPage] = useState<Loaded>({ items: [], loading: true });
  const load = async (cursor?: string, before: IncidentSummary[] = []) => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (filters.state) q.set("state", filters.state);
    if (filters.target) q.set("target", filters.target);
    if (cursor) q.set("cursor", cursor);
    setPage({ items: before, loading: true });
    try {
      const got = await getJson<{ incidents: IncidentSummary[]; next?: string }>(`api/incidents?${q}`);
      setPage({ items: [...before, ...got.incidents], ...(got.next && { next: got.next }), loading: false });
    } catch (err) {
      setPage({
        items: before,
        loading: false,
        error: err instanceof ApiProblem ? `${err.message}${err.hint ? ` (${err.hint})` : ""}` : String(err),
      });
    }
  };
  useEffect(() => void load(), [filters.state, filters.target]);
  // What is being typed in the target box is its own: a live update redraws the page every second
  // and must not put back the filter in force over it. It takes effect on change (Enter, or leaving the box).
  const [draft, setDraft] = useState(filters.target);
  useEffect(() => setDraft(filters.target), [filters.target]);
  const shown = mergeIncidents(page.items, live.values(), filters);
  const set = (change: Partial<IncidentFilters>) => (location.hash = routeHash({ page: "incidents", filters: { ...filters, ...change } }));
  const now = Date.now();
  return (
    <section aria-labelledby="incidents-title">
      <h1 id="incidents-title">Incidents</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter incidents">
        <label>
          State{" "}
          <select value={filters.state} onChange={(e) => set({ state: (e.target as HTMLSelectElement).value })} name="state">
            {STATE_CHOICES.map((s) => (
              <option value={s}>{s ? s.replace(/_/g, " ") : "any"}</option>
            ))}
          </select>
        </label>
        <label>
          Target{" "}
          <input
            name="target"
            list="target-names"
            value={draft}
            placeholder="any"
            onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
            onChange={(e) => set({ target: (e.target as HTMLInputElement).value.trim() })}
          />
          <datalist id="target-names">
            {targets.map((t) => (
              <option value={t} />
            ))}
          </datalist>
        </label>
        <label>
          Severity{" "}
          <select value={filters.severity} onChange={(e) => set({ severity: (e.target as HTMLSelectElement).value })} name="severity">
            <option value="">any</option>
            {SEVERITIES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
      </form>
      {page.error && (
        <p class="error" role="alert">
          {page.error}
        </p>
      )}
      {shown.length === 0 && !page.loading && !page.error && <p class="muted">No incident matches.</p>}
      {shown.length > 0 && (
        <table class="incidents" data-testid="incidents">
          <thead>
            <tr>
              <th scope="col">Incident</th>
              <th scope="col">State</th>
              <th scope="col">Severity</th>
              <th scope="col">Target</th>
              <th scope="col">Kind</th>
              <th scope="col">Opened</th>
              <th scope="col">Lasted</th>
              <th scope="col">Evidence</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((i) => (
              <tr key={i.id} data-incident={i.id}>
                <th scope="row">
                  <a href={`#/incidents/${encodeURIComponent(i.id)}`}>{i.id}</a>
                </th>
                <td>
                  <StateBadge state={i.state} />
                  {i.acknowledged && <span class="detail">ack by {i.acknowledged.by}</span>}
                </td>
                <td>
                  <span class={`sev sev-${i.severity}`}>{i.severity}</span>
                </td>
                <td>{i.target}</td>
                <td>{i.kind}</td>
                <td>
                  <time dateTime={i.openedAt} title={dateTime(i.openedAt)}>
                    {clock(i.openedAt)}
                  </time>
                </td>
                <td class="num">{formatDuration((i.resolvedAt ? ms(i.resolvedAt) : now) - ms(i.openedAt))}</td>
                <td class="evidence">{i.evidence}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {page.loading && <p class="muted">Loading…</p>}
      {page.next && !page.loading && (
        <button type="button" onClick={() => void load(page.next, page.items)}>
          Load older incidents
        </button>
      )}
    </section>
  );
}
