import { monitorEventLoopDelay, performance, type IntervalHistogram } from "node:perf_hooks";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Finding } from "../classify/types.js";
import type { Target } from "../config/types.js";
import type { ReadPort, TargetStatus } from "../daemon/ports.js";
import { isOpen, type Incident, type JournalRecord } from "../incidents/types.js";
import type { Logger } from "../lib/log.js";
import type { Observation } from "../probes/types.js";
import { registerClusterGauges, type ClusterGauges } from "./cluster.js";
import { recordEffects } from "./records.js";

/** What the gauges read at scrape time: the running daemon. */
export type MetricsSource = Pick<ReadPort, "targetsStatus" | "liveIncidents" | "channels"> & {
  /** A cluster node's gauges (absent on a single node). */
  clusterGauges?(): ClusterGauges;
};

const PROBE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const LATE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2.5, 5, 10];
const STEP_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
// 20 ms: fine enough for a 250 ms drift budget, and one cheap libuv timer wakeup per 20 ms when idle.
const LOOP_RESOLUTION_MS = 20;
/** How long one render of /metrics answers further scrapes (Prometheus scrapes every 15 s or so). */
const RENDER_REUSE_MS = 1000;
const RECOVERY_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];

/**
 * medic's Prometheus metrics, in a registry of their own. Counters and histograms are fed by the
 * daemon's hooks (`onRecord`, `onRound`); gauges read the daemon when scraped, so a target that
 * is no longer watched or an incident that closed leaves no stale series.
 */
export class Metrics {
  readonly registry = new Registry();
  private source: MetricsSource | undefined;
  private readonly probeDuration: Histogram;
  private readonly probeRounds: Counter<"target" | "result">;
  private readonly roundLate: Histogram;
  private readonly opened: Counter<"kind" | "severity">;
  private readonly runs: Counter<"playbook" | "outcome">;
  private readonly stepDuration: Histogram<"kind" | "outcome">;
  private readonly recovery: Histogram<"kind" | "remediated">;
  private readonly sent: Counter<"channel">;
  private readonly failed: Counter<"channel" | "reason">;
  private readonly trips: Counter<"guard" | "target">;
  private readonly held: Counter<"by">;
  private readonly alerts: Counter<"status" | "outcome">;
  private readonly requests: Counter<"route" | "code">;
  private readonly log: Logger | undefined;
  private readonly loopDelay: IntervalHistogram;
  private rendered: { at: number; text: Promise<string> } | undefined;
  private targetsOfRender: TargetStatus[] | undefined;
  private readonly reuseMs: number;

  // prom-client's default process metrics are left out: some (nodejs_active_handles_total, a gauge) fail `promtool check metrics`.
  constructor(opts: { log?: Logger; renderReuseMs?: number } = {}) {
    const registers = [this.registry];
    this.log = opts.log;
    this.reuseMs = opts.renderReuseMs ?? RENDER_REUSE_MS;
    const source = () => this.source;
    // Read once per render: two gauges walk every target, and at 10,000 targets that walk is not free.
    const targets = () => (this.targetsOfRender ??= this.source?.targetsStatus() ?? []);
    // One histogram for all targets and one gauge per target: a histogram per target is 15 series
    // each, and at 10,000 targets a scrape of those held medic's event loop for hundreds of ms.
    this.probeDuration = new Histogram({
      name: "medic_probe_duration_seconds",
      help: "How long probe rounds took, all targets together.",
      buckets: PROBE_BUCKETS,
      registers,
    });
    new Gauge({
      name: "medic_probe_last_duration_seconds",
      help: "How long the target's latest probe round took (absent before the first round).",
      labelNames: ["target"],
      registers,
      collect() {
        this.reset();
        for (const t of targets())
          if (t.latencyMs !== undefined && Number.isFinite(t.latencyMs)) this.set({ target: t.name }, Math.max(0, t.latencyMs) / 1000);
      },
    });
    this.probeRounds = new Counter({
      name: "medic_probe_rounds_total",
      help: "Probe rounds per target and result (healthy, or the incident kind found).",
      labelNames: ["target", "result"],
      registers,
    });
    this.roundLate = new Histogram({
      name: "medic_probe_schedule_delay_seconds",
      help: "How late scheduled probe rounds started against their slot (all targets together); medic falls behind when this grows.",
      buckets: LATE_BUCKETS,
      registers,
    });
    new Gauge({
      name: "medic_target_up",
      help: "1 when the target's latest probe round was healthy, 0 when it found a problem (absent before the first round).",
      labelNames: ["target"],
      registers,
      collect() {
        this.reset();
        for (const t of targets()) if (t.up !== null) this.set({ target: t.name }, t.up ? 1 : 0);
      },
    });
    this.opened = new Counter({
      name: "medic_incidents_opened_total",
      help: "Incidents opened, by kind and severity.",
      labelNames: ["kind", "severity"],
      registers,
    });
    new Gauge({
      name: "medic_incidents_open",
      help: "Incidents not resolved, by kind, severity and state.",
      labelNames: ["kind", "severity", "state"],
      registers,
      collect() {
        this.reset();
        for (const i of source()?.liveIncidents().values() ?? [])
          if (isOpen(i)) this.inc({ kind: i.kind, severity: i.severity, state: i.state });
      },
    });
    this.runs = new Counter({
      name: "medic_playbook_runs_total",
      help: "Playbook runs that ended, by outcome: recovered (verified) or failed (escalated).",
      labelNames: ["playbook", "outcome"],
      registers,
    });
    this.stepDuration = new Histogram({
      name: "medic_step_duration_seconds",
      help: "How long playbook steps took, by step kind and outcome.",
      labelNames: ["kind", "outcome"],
      buckets: STEP_BUCKETS,
      registers,
    });
    this.recovery = new Histogram({
      name: "medic_recovery_seconds",
      help: "Time from an incident opening to its verified recovery; remediated says whether a playbook run brought it back.",
      labelNames: ["kind", "remediated"],
      buckets: RECOVERY_BUCKETS,
      registers,
    });
    this.sent = new Counter({
      name: "medic_notifications_sent_total",
      help: "Notifications a channel's receiver accepted.",
      labelNames: ["channel"],
      registers,
    });
    this.failed = new Counter({
      name: "medic_notifications_failed_total",
      help: "Notifications given up on, by channel and reason.",
      labelNames: ["channel", "reason"],
      registers,
    });
    new Gauge({
      name: "medic_outbox_depth",
      help: "Notifications waiting to be delivered, per channel.",
      labelNames: ["channel"],
      registers,
      collect() {
        this.reset();
        for (const [channel, s] of Object.entries(source()?.channels() ?? {})) this.set({ channel }, s.queued);
      },
    });
    new Gauge({
      name: "medic_notify_breaker_open",
      help: "1 while a channel's circuit breaker is open (or half-open), else 0.",
      labelNames: ["channel"],
      registers,
      collect() {
        this.reset();
        for (const [channel, s] of Object.entries(source()?.channels() ?? {})) this.set({ channel }, s.breaker === "closed" ? 0 : 1);
      },
    });
    this.trips = new Counter({
      name: "medic_guard_trips_total",
      help: "Safety guards that stopped automatic action: flap_guard per target, blast_radius (target medic).",
      labelNames: ["guard", "target"],
      registers,
    });
    this.held = new Counter({
      name: "medic_incidents_held_total",
      help: "Playbooks held back, by what held them (backoff, blast_radius, maintenance).",
      labelNames: ["by"],
      registers,
    });
    this.alerts = new Counter({
      name: "medic_alertmanager_alerts_total",
      help: "Alerts received from Alertmanager, by status and what medic did with them.",
      labelNames: ["status", "outcome"],
      registers,
    });
    this.requests = new Counter({
      name: "medic_api_requests_total",
      help: "HTTP API requests, by route and status code.",
      labelNames: ["route", "code"],
      registers,
    });
    registerClusterGauges(this.registry, () => this.source?.clusterGauges?.());
    this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    const loop = this.loopDelay;
    new Gauge({
      name: "medic_event_loop_delay_seconds",
      help: `How late medic's event loop ran timers since the previous scrape (p50, p99, max; sampled every ${LOOP_RESOLUTION_MS}ms from the first scrape on). Probes start late by about this much.`,
      labelNames: ["stat"],
      registers,
      collect() {
        this.reset();
        // The histogram counts the whole timer period; the delay is what exceeds it. Empty before the first sample.
        const late = (ns: number) => (loop.count === 0 ? 0 : Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS) / 1000);
        this.set({ stat: "p50" }, late(loop.percentile(50)));
        this.set({ stat: "p99" }, late(loop.percentile(99)));
        this.set({ stat: "max" }, late(loop.max));
        loop.reset();
      },
    });
  }

  /** Stops sampling the event loop (a scrape starts it). */
  stop(): void {
    this.loopDelay.disable();
  }

  /** Lets the gauges read the running daemon at scrape time. */
  bind(source: MetricsSource): void {
    this.source = source;
  }

  /** The daemon's onRecord hook; never throws into the daemon. */
  readonly onRecord = (record: JournalRecord, incident: Incident | undefined): void => {
    try {
      for (const e of recordEffects(record, incident)) {
        switch (e.metric) {
          case "opened":
            this.opened.inc({ kind: e.kind, severity: e.severity });
            break;
          case "run":
            this.runs.inc({ playbook: e.playbook, outcome: e.outcome });
            break;
          case "step":
            this.stepDuration.observe({ kind: e.kind, outcome: e.outcome }, e.seconds);
            break;
          case "recovery":
            this.recovery.observe({ kind: e.kind, remediated: String(e.remediated) }, e.seconds);
            break;
          case "sent":
            this.sent.inc({ channel: e.channel });
            break;
          case "failed":
            this.failed.inc({ channel: e.channel, reason: e.reason });
            break;
          case "trip":
            this.trips.inc({ guard: e.guard, target: e.target });
            break;
          case "held":
            this.held.inc({ by: e.by });
            break;
        }
      }
    } catch (err) {
      this.log?.warn({ err: String(err), record: record.type }, "metrics: could not count a journal record");
    }
  };

  /** The daemon's onRound hook (nothing in it can throw). */
  readonly onRound = (target: Target, observation: Observation, finding: Finding | undefined): void => {
    if (Number.isFinite(observation.latencyMs)) this.probeDuration.observe(Math.max(0, observation.latencyMs) / 1000);
    this.probeRounds.inc({ target: target.name, result: finding?.kind ?? "healthy" });
  };

  /** The daemon's onRoundStart hook. */
  readonly onRoundStart = (_target: Target, lateMs: number): void => {
    if (Number.isFinite(lateMs)) this.roundLate.observe(Math.max(0, lateMs) / 1000);
  };

  /** Counts one alert from Alertmanager and what became of it. */
  alert(status: string, outcome: string): void {
    this.alerts.inc({ status, outcome });
  }

  /** Counts one API request. */
  request(route: string, code: number): void {
    this.requests.inc({ route, code: String(code) });
  }

  /**
   * The exposition text, for GET /metrics. Scrapes within `renderReuseMs` (default 1 s) of a render share it: a
   * burst of scrapes costs one render, not one each, so it cannot hold up the probes' timers.
   */
  text(): Promise<string> {
    // The event loop is sampled from the first scrape on: 50 timer wakeups a second are most of an
    // idle medic's CPU, and nobody reads them until something scrapes.
    this.loopDelay.enable();
    const now = performance.now();
    if (this.rendered && now - this.rendered.at < this.reuseMs) return this.rendered.text;
    this.targetsOfRender = undefined;
    const text = this.registry.metrics();
    this.rendered = { at: now, text };
    void text.finally(() => (this.targetsOfRender = undefined)).catch(() => {});
    // A failed render is not kept for the next scrape.
    text.catch(() => {
      if (this.rendered?.text === text) this.rendered = undefined;
    });
    return text;
  }

  /** The Content-Type of text(). */
  get contentType(): string {
    return this.registry.contentType;
  }
}
