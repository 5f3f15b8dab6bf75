import { ApiProblem, getJson } from "./api.js";
import { AckControl, ApprovalControl, GuardResetControl, PauseControl, ResumeControl } from "./controls.js";
import { dateTime, formatDuration, ms } from "./format.js";
import { guardDecisions } from "./guards.js";
import type { Fleet } from "./model.js";
import { Fragment, h } from "./preact.js";
import { useEffect, useState } from "./preact-hooks.js";
import { Postmortem } from "./postmortem.js";
import { Artifacts } from "./artifacts.js";
import { may } from "./roles.js";
import { StateBadge } from "./state-badge.js";
import { TimelineChart } from "./timeline-chart.js";
import type { Identity, IncidentDetail, IncidentSummary } from "./types.js";

// While an incident is open its page asks again this often, besides whenever the live stream
// says it changed (an incident that left the stream's window changes no more).
const POLL_MS = 5_000;

/** One incident: the timeline picture, evidence, steps, guard decisions, notifications, the postmortem draft, and the controls a role allows. */
export function IncidentView({
  id,
  summary,
  fleet,
  who,
  now,
}: {
  id: string;
  summary: IncidentSummary | undefined;
  fleet: Fleet;
  who: Identity | undefined;
  now: number;
}) {
  const [detail, setDetail] = useState<IncidentDetail | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [asked, setAsked] = useState(0);
  const reload = () => setAsked((n) => n + 1);
  useEffect(() => {
    const abort = new AbortController();
    getJson<IncidentDetail>(`api/incidents/${encodeURIComponent(id)}`, { signal: abort.signal }).then(
      (d) => {
        setDetail(d);
        setProblem(undefined);
      },
      (err: unknown) => {
        if (err instanceof ApiProblem) setProblem(`${err.message}${err.hint ? ` (${err.hint})` : ""}`);
      },
    );
    return () => abort.abort();
  }, [id, summary?.updatedAt, summary?.state, asked]);
  useEffect(() => {
    if (detail?.state === "resolved") return;
    const timer = setInterval(reload, POLL_MS);
    return () => clearInterval(timer);
  }, [detail?.state]);

  if (!detail || (detail.id !== id && !detail.id.startsWith(id))) {
    return (
      <section>
        <h1>Incident {id}</h1>
        {problem ? (
          <p class="error" role="alert">
            {problem}
          </p>
        ) : (
          <p class="muted">Loading…</p>
        )}
      </section>
    );
  }
  const d = detail;
  const target = fleet.targets.get(d.target);
  const open = d.state !== "resolved";
  const lasted = (d.resolvedAt ? ms(d.resolvedAt) : now) - ms(d.openedAt);
  const approval = d.approval && !d.approval.answer && d.state === "awaiting_approval" ? d.approval : undefined;
  const controls = open && (may(who, "ack") || may(who, "pause") || may(who, "guard") || (approval && may(who, "approve")));
  return (
    <article aria-labelledby="incident-title" data-incident={d.id}>
      <p class="crumbs">
        <a href="#/incidents">Incidents</a> › {d.id}
      </p>
      <h1 id="incident-title">
        {d.kind} on {d.target}
      </h1>
      <p class="facts">
        <StateBadge state={d.state} /> <span class={`sev sev-${d.severity}`}>{d.severity}</span> opened {dateTime(d.openedAt)},{" "}
        {open ? `open for ${formatDuration(lasted)}` : `lasted ${formatDuration(lasted)}`}
        {d.acknowledged && ` · acknowledged by ${d.acknowledged.by}`}
        {d.dryRun && " · dry run"}
      </p>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      {approval && may(who, "approve") && <ApprovalControl id={d.id} approval={approval} onDone={reload} />}
      {approval && !may(who, "approve") && (
        <p class="notice">
          <span aria-hidden="true">⚑</span> Step {approval.step + 1} ({approval.stepName}) waits for an approver's yes until{" "}
          {dateTime(approval.expiresAt)}.
        </p>
      )}
      {controls && (
        <section class="controls" aria-labelledby="controls-title" data-testid="controls">
          <h2 id="controls-title">Act</h2>
          {may(who, "ack") && !d.acknowledged && <AckControl id={d.id} onDone={reload} />}
          {may(who, "pause") && !target?.paused && <PauseControl target={d.target} onDone={reload} />}
          {may(who, "resume") && target?.paused?.source === "pause" && <ResumeControl target={d.target} onDone={reload} />}
          {may(who, "guard") && <GuardResetControl target={d.target} onDone={reload} />}
        </section>
      )}
      <section aria-labelledby="picture-title">
        <h2 id="picture-title">Timeline</h2>
        <TimelineChart detail={d} now={now} />
      </section>
      <div class="columns">
        <section aria-labelledby="evidence-title">
          <h2 id="evidence-title">Evidence</h2>
          <Evidence d={d} />
        </section>
        <section aria-labelledby="why-title">
          <h2 id="why-title">Why medic acted or held back</h2>
          <Decisions d={d} />
        </section>
      </div>
      <section aria-labelledby="steps-title">
        <h2 id="steps-title">Steps</h2>
        <Steps d={d} />
      </section>
      <section aria-labelledby="artifacts-title">
        <h2 id="artifacts-title">Captured evidence</h2>
        <Artifacts d={d} />
      </section>
      <section aria-labelledby="notify-title">
        <h2 id="notify-title">Notifications</h2>
        <Notifications d={d} />
      </section>
      <section aria-labelledby="records-title">
        <h2 id="records-title">Journal</h2>
        <ol class="records" data-testid="records">
          {d.timeline.map((r) => (
            <li data-type={r.type}>
              <span class="offset">+{formatDuration(ms(r.at) - ms(d.openedAt))}</span> <span class="text">{r.text}</span>
            </li>
          ))}
        </ol>
      </section>
      <Postmortem id={d.id} version={`${d.updatedAt}/${d.state}`} />
    </article>
  );
}

function Evidence({ d }: { d: IncidentDetail }) {
  const first = d.timeline.find((r) => r.type === "opened");
  const firstEvidence = typeof first?.evidence === "string" ? first.evidence : undefined;
  return (
    <dl class="evidence-list">
      <dt>First seen</dt>
      <dd class="evidence">{firstEvidence ?? d.evidence}</dd>
      {firstEvidence !== undefined && firstEvidence !== d.evidence && (
        <Fragment>
          <dt>Latest</dt>
          <dd class="evidence">{d.evidence}</dd>
        </Fragment>
      )}
      <dt>Failing rounds</dt>
      <dd>{d.occurrences}</dd>
      {d.source && (
        <Fragment>
          <dt>Raised by</dt>
          <dd>{d.source}</dd>
        </Fragment>
      )}
      {d.root && (
        <Fragment>
          <dt>Suppressed under</dt>
          <dd>
            <a href={`#/incidents/${encodeURIComponent(d.root)}`}>incident {d.root}</a>
          </dd>
        </Fragment>
      )}
    </dl>
  );
}

function Decisions({ d }: { d: IncidentDetail }) {
  const decisions = guardDecisions(d);
  if (decisions.length === 0) return <p class="muted">No guard stepped in.</p>;
  return (
    <ul class="decisions" data-testid="decisions">
      {decisions.map((x) => (
        <li class={`tone-${x.tone}`}>
          <span class="offset">+{formatDuration(ms(x.at) - ms(d.openedAt))}</span> <strong>{x.what}</strong>: {x.why}
        </li>
      ))}
    </ul>
  );
}

function Steps({ d }: { d: IncidentDetail }) {
  if (d.runs.length === 0) return <p class="muted">No playbook ran.</p>;
  return (
    <Fragment>
      {d.runs.map((run, i) => (
        <div class="run">
          <h3>
            Run {i + 1}: playbook {run.playbook}, started {dateTime(run.startedAt)}
          </h3>
          <ol class="steps">
            {run.steps.map((s) => (
              <li data-status={s.status}>
                <p>
                  <strong>{s.name}</strong> <StepStatus status={s.status} />
                  {s.durationMs !== undefined && ` in ${formatDuration(s.durationMs)}`}
                </p>
                <p>
                  <code class="command">{s.description}</code>
                </p>
                {s.detail && <pre class="output">{s.detail}</pre>}
              </li>
            ))}
          </ol>
        </div>
      ))}
    </Fragment>
  );
}

const STEP_ICON: Record<string, string> = { ok: "✓", failed: "✗", skipped: "–", abandoned: "✗", running: "↻", pending: "○" };

function StepStatus({ status }: { status: string }) {
  return (
    <span class={`state step-${status}`}>
      <span aria-hidden="true">{STEP_ICON[status] ?? "•"}</span> {status}
    </span>
  );
}

const DELIVERY_ICON: Record<string, string> = { sent: "✓", failed: "✗", queued: "…", superseded: "–" };

function Notifications({ d }: { d: IncidentDetail }) {
  if (d.notifications.length === 0) return <p class="muted">None queued.</p>;
  return (
    <table class="notifications">
      <thead>
        <tr>
          <th scope="col">Channel</th>
          <th scope="col">Event</th>
          <th scope="col">Queued</th>
          <th scope="col">Delivery</th>
        </tr>
      </thead>
      <tbody>
        {d.notifications.map((n) => (
          <tr data-status={n.status}>
            <td>{n.channel}</td>
            <td>{n.event}</td>
            <td>+{formatDuration(ms(n.queuedAt) - ms(d.openedAt))}</td>
            <td>
              <span class={`state delivery-${n.status}`}>
                <span aria-hidden="true">{DELIVERY_ICON[n.status] ?? "•"}</span>{" "}
                {n.status === "failed" ? "NOT delivered" : n.status === "sent" ? "delivered" : n.status}
              </span>
              {n.detail && <span class="detail">{n.detail}</span>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
