import { ApiProblem, getJson } from "./api.js";
import { GuardResetControl, PauseControl, ResumeControl } from "./controls.js";
import { dateTime, formatDuration } from "./format.js";
import { Fragment, h } from "./preact.js";
import { useEffect, useState } from "./preact-hooks.js";
import { may } from "./roles.js";
import type { ClusterStatus, Identity, Status } from "./types.js";

const POLL_MS = 5_000;

/** medic itself: its health checks, the outbox per channel, pauses and maintenance windows, and the cluster when there is one. */
export function StatusView({ who, targets }: { who: Identity | undefined; targets: string[] }) {
  const [status, setStatus] = useState<Status | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [asked, setAsked] = useState(0);
  const reload = () => setAsked((n) => n + 1);
  useEffect(() => {
    const abort = new AbortController();
    const load = () =>
      getJson<Status>("api/status", { signal: abort.signal }).then(
        (s) => {
          setStatus(s);
          setProblem(undefined);
        },
        (err: unknown) => {
          if (err instanceof ApiProblem) setProblem(`${err.message}${err.hint ? ` (${err.hint})` : ""}`);
        },
      );
    void load();
    const timer = setInterval(() => void load(), POLL_MS);
    return () => {
      clearInterval(timer);
      abort.abort();
    };
  }, [asked]);
  return (
    <section aria-labelledby="status-title">
      <h1 id="status-title">medic itself</h1>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      {!status ? (
        !problem && <p class="muted">Loading…</p>
      ) : (
        <Fragment>
          <section aria-labelledby="health-title">
            <h2 id="health-title">
              Health:{" "}
              <span class={`state ${status.health.ok ? "state-healthy" : "state-failing"}`} data-testid="health">
                <span aria-hidden="true">{status.health.ok ? "✓" : "✗"}</span> {status.health.ok ? "ok" : "not ok"}
              </span>
            </h2>
            <ul class="checks">
              {status.health.checks.map((c) => (
                <li class={c.ok ? "tone-ok" : "tone-bad"}>
                  <span aria-hidden="true">{c.ok ? "✓" : "✗"}</span> <strong>{c.name}</strong> {c.ok ? "ok" : "failing"}: {c.detail}
                </li>
              ))}
            </ul>
          </section>
          <section aria-labelledby="outbox-title">
            <h2 id="outbox-title">Outbox</h2>
            {Object.keys(status.channels).length === 0 ? (
              <p class="muted">No notification channel is configured.</p>
            ) : (
              <table class="channels" data-testid="channels">
                <thead>
                  <tr>
                    <th scope="col">Channel</th>
                    <th scope="col">Queued</th>
                    <th scope="col">Failures in a row</th>
                    <th scope="col">Breaker</th>
                  </tr>
                </thead>
                <tbody>
                  {Object.entries(status.channels).map(([name, c]) => (
                    <tr>
                      <th scope="row">{name}</th>
                      <td class="num">{c.queued}</td>
                      <td class="num">{c.failures}</td>
                      <td>
                        <span class={`state ${c.breaker === "closed" ? "state-healthy" : "state-failing"}`}>
                          <span aria-hidden="true">{c.breaker === "closed" ? "✓" : "✗"}</span> {c.breaker}
                        </span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
          <section aria-labelledby="pauses-title">
            <h2 id="pauses-title">Pauses and maintenance windows</h2>
            {status.pauses.length === 0 ? (
              <p class="muted">No pause is in force.</p>
            ) : (
              <ul class="pauses" data-testid="pauses">
                {status.pauses.map((p) => (
                  <li>
                    <span aria-hidden="true">‖</span> <strong>{p.target === "*" ? "every target" : p.target}</strong> paused until{" "}
                    {dateTime(p.until)} by {p.by}: {p.reason} {may(who, "resume") && <ResumeControl id={p.id} onDone={reload} />}
                  </li>
                ))}
              </ul>
            )}
            {status.maintenance.length > 0 && (
              <ul class="windows">
                {status.maintenance.map((w) => (
                  <li>
                    <strong>{w.name}</strong>: <code>{w.cron}</code> ({w.timezone}) for {formatDuration(w.durationMs)} on{" "}
                    {w.targets.join(", ")}
                    {w.activeUntil ? `: holding now, until ${dateTime(w.activeUntil)}` : ""}
                  </li>
                ))}
              </ul>
            )}
            {may(who, "pause") && <PauseTargets targets={targets} onDone={reload} />}
          </section>
          {may(who, "guard") && targets.length > 0 && <GuardTargets targets={targets} onDone={reload} />}
          <Cluster cluster={status.cluster} />
        </Fragment>
      )}
    </section>
  );
}

function PauseTargets({ targets, onDone }: { targets: string[]; onDone: () => void }) {
  const [target, setTarget] = useState("*");
  return (
    <div class="pause-any">
      <label>
        Pause{" "}
        <select value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
          <option value="*">every target</option>
          {targets.map((t) => (
            <option value={t}>{t}</option>
          ))}
        </select>
      </label>
      <PauseControl key={target} target={target} onDone={onDone} />
    </div>
  );
}

function GuardTargets({ targets, onDone }: { targets: string[]; onDone: () => void }) {
  const [target, setTarget] = useState(targets[0]!);
  return (
    <section aria-labelledby="guard-title">
      <h2 id="guard-title">Flap guard</h2>
      <label>
        Target{" "}
        <select value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
          {targets.map((t) => (
            <option value={t}>{t}</option>
          ))}
        </select>
      </label>{" "}
      <GuardResetControl key={target} target={target} onDone={onDone} />
    </section>
  );
}

function Cluster({ cluster }: { cluster: Status["cluster"] }) {
  if (!cluster) {
    return (
      <section aria-labelledby="cluster-title">
        <h2 id="cluster-title">Cluster</h2>
        <p class="muted">A single medic: no cluster.</p>
      </section>
    );
  }
  if ("error" in cluster) {
    return (
      <section aria-labelledby="cluster-title">
        <h2 id="cluster-title">Cluster</h2>
        <p class="error">{cluster.error}</p>
      </section>
    );
  }
  const c: ClusterStatus = cluster;
  return (
    <section aria-labelledby="cluster-title" data-testid="cluster">
      <h2 id="cluster-title">Cluster {c.cluster}</h2>
      <p>
        Leader:{" "}
        {c.leader?.node
          ? `${c.leader.node} (epoch ${c.leader.epoch}, lease ${c.leader.leaseLeftMs > 0 ? `${formatDuration(c.leader.leaseLeftMs)} left` : "lapsed"})`
          : "none"}
        {c.self && ` · this node: ${c.self.node}, ${c.self.mode}`}
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Mode</th>
            <th scope="col">Last heartbeat</th>
            <th scope="col">Version</th>
            <th scope="col">Problem</th>
          </tr>
        </thead>
        <tbody>
          {c.nodes.map((n) => (
            <tr>
              <th scope="row">
                {n.node}
                {n.node === c.leader?.node && " (leader)"}
              </th>
              <td>{n.detail.mode ?? "–"}</td>
              <td>{formatDuration(n.silentMs)} ago</td>
              <td>{n.version}</td>
              <td>{n.detail.problem ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
