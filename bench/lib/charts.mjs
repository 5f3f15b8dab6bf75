import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { percentile } from "./stats.mjs";
import { figure, lineChart, stripChart, PALETTE } from "./svg.mjs";

// The bench's charts, drawn from result rows (one run's, or several runs' put together). Each chart is a file name and an
// SVG document; rows of a kind that is missing simply yield no chart of that kind:
//   recovery-<scenario>-<break>.svg  break → healthy and detection per repetition, medic beside Monit (rows with `break`)
//   scale-drift.svg, scale-cpu.svg, scale-rss.svg  against the number of targets (scale rows)
//   soak.svg                        RSS and heap used, event-loop delay p99 and CPU over the soak (soak rows' samples)
//   failover.svg                    kill -9 and SIGSTOP of the cluster's leader → new leader elected, first action

const TOOL_COLOR = { medic: PALETTE[0], monit: PALETTE[1] };
const TOOL_NAME = { medic: "medic", monit: "Monit" };
const finite = (values) => values.filter(Number.isFinite);
const stats = (values) => ({ median: percentile(values, 50), p95: percentile(values, 95) });
/** A group's axis label: its name, then n and how many repetitions have no value (a failed or timed-out one). */
const groupLabel = (name, values) => {
  const missing = values.length - finite(values).length;
  return `${name}\nn = ${finite(values).length}${missing ? `, ${missing} without a value` : ""}`;
};
const slug = (s) =>
  String(s)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
const ms = (v) => `${Math.round(v).toLocaleString("en")} ms`;

/** All the charts the rows allow: [{name, svg}]. */
export function drawCharts(rows) {
  return [...recoveryCharts(rows.filter((r) => r.break)), ...scaleCharts(rows), ...soakCharts(rows), ...failoverCharts(rows)];
}

/** Writes the charts into `dir` (created if need be); returns the paths written. */
export function writeCharts(rows, dir) {
  const charts = drawCharts(rows);
  if (charts.length) mkdirSync(dir, { recursive: true });
  return charts.map(({ name, svg }) => {
    const path = join(dir, name);
    writeFileSync(path, svg);
    return path;
  });
}

/** One figure per scenario and break: break → healthy, and detection, each with medic's and Monit's strip side by side. */
function recoveryCharts(rows) {
  const keys = [...new Set(rows.map((r) => `${r.scenario}\u0000${r.break}`))];
  return keys.map((key) => {
    const [scenario, brk] = key.split("\u0000");
    const mine = rows.filter((r) => r.scenario === scenario && r.break === brk);
    const tools = ["medic", "monit"].filter((t) => mine.some((r) => r.tool === t));
    const of = (tool, metric) => mine.filter((r) => r.tool === tool).map((r) => r[metric]);
    const panel = (metric, title) => (box) =>
      stripChart({
        box,
        title,
        yLabel: "milliseconds after the break",
        groups: tools.map((t) => ({
          label: groupLabel(TOOL_NAME[t], of(t, metric)),
          color: TOOL_COLOR[t],
          values: of(t, metric),
          stats: stats(of(t, metric)),
        })),
        yMax: scaleTop(mine.map((r) => r[metric])),
        format: ms,
      });
    const counts = tools.map((t) => `${finite(of(t, "healthyMs")).length} ${TOOL_NAME[t]}`).join(", ");
    return {
      name: `recovery-${slug(scenario)}-${slug(brk)}.svg`,
      svg: figure({
        title: `${scenario}, ${brk}: ${tools.map((t) => TOOL_NAME[t]).join(" against ")} (n = ${counts})`,
        subtitle: ratioNote(mine),
        panels: [panel("healthyMs", "break → healthy (seen from outside)"), panel("detectMs", "break → detected")],
      }),
    };
  });
}

/**
 * Where a strip's scale ends: at the largest value, unless that is over 4 × the 90th percentile of all of them (a hung or
 * timed-out repetition), when it ends at 2 × that percentile and the values above are marked (stripChart's yMax).
 */
function scaleTop(values) {
  const q = percentile(values, 90);
  return Math.max(...finite(values)) > 4 * q ? 2 * q : Infinity;
}

/** medic ÷ Monit per pair (same run, same repetition), as recoveryTable computes it; empty when there are no pairs. */
function ratioNote(rows) {
  const ratios = rows
    .filter((r) => r.tool === "medic")
    .map((m) => m.healthyMs / (rows.find((x) => x.tool === "monit" && x.source === m.source && x.rep === m.rep)?.healthyMs ?? NaN))
    .filter(Number.isFinite);
  if (!ratios.length) return "";
  const x = (v) => `${v.toFixed(2)}×`;
  const [median, worst] = [x(percentile(ratios, 50)), x(Math.max(...ratios))];
  return (
    `Break → healthy, medic ÷ Monit per repetition (${ratios.length} pairs): median ${median}, worst ${worst}. ` +
    "Medians and p95 are nearest-rank, as in the tables."
  );
}

/** Per tool: the median of its rows at each target count (`points`) and, where a count has several runs, each run (`scatter`). */
function byTargets(rows, value) {
  return ["medic", "monit"]
    .map((tool) => {
      const mine = rows.filter((r) => r.tool === tool && Number.isFinite(value(r)));
      const xs = [...new Set(mine.map((r) => r.targets))].sort((a, b) => a - b);
      const at = (n) => mine.filter((r) => r.targets === n).map(value);
      const points = xs.map((n) => [n, percentile(at(n), 50)]);
      const scatter = xs.filter((n) => at(n).length > 1).flatMap((n) => at(n).map((v) => [n, v]));
      return { tool, rows: mine, points, scatter };
    })
    .filter((s) => s.points.length);
}

/** Drift, CPU and peak RSS against the number of targets, one figure each. */
function scaleCharts(allRows) {
  const rows = allRows.filter((r) => r.scenario === "scale" && Number.isFinite(r.targets));
  if (!rows.length) return [];
  const xLog = Math.max(...rows.map((r) => r.targets)) / Math.min(...rows.map((r) => r.targets)) >= 10;
  const xLabel = `targets${xLog ? " (log scale)" : ""}`;
  const distinct = (f) => [...new Set(rows.map(f).filter(Boolean))].join(" or ");
  const intervals = distinct((r) => r.intervalMs && `${r.intervalMs / 1000} s`);
  const hanging = distinct((r) => r.hanging && `${Math.round((r.hanging / r.targets) * 100)} %`);
  const setting = [intervals && `every ${intervals}`, hanging && `${hanging} of the targets hanging`].filter(Boolean).join(", ");
  const runsOf = (series) => series.map((s) => `${s.rows.length} ${TOOL_NAME[s.tool]}`).join(", ");
  /** The figure's subtitle: the setting, the runs per tool, and what the rings are when there are any. */
  const subtitle = (series, note = "") =>
    [
      `${setting ? `${setting[0].toUpperCase()}${setting.slice(1)}; runs` : "Runs"}: ${runsOf(series)}.`,
      series.some((s) => s.scatter.length) ? "Where a count has several runs, each is a ring and the line joins their medians." : "",
      note,
    ]
      .filter(Boolean)
      .join(" ");
  const lines = (series, extra = () => ({})) =>
    series.map((s) => ({ label: TOOL_NAME[s.tool], color: TOOL_COLOR[s.tool], points: s.points, scatter: s.scatter, ...extra(s) }));
  const panel = (title, yLabel, series) => (box) => lineChart({ box, title, xLabel, xLog, yLabel, series });
  const charts = [];

  const drift = ["driftP50Ms", "driftP99Ms"].flatMap((k) => byTargets(rows, (r) => r[k]).map((s) => ({ ...s, k })));
  if (drift.length)
    charts.push({
      name: "scale-drift.svg",
      svg: figure({
        title: "Schedule drift against targets",
        subtitle: subtitle(
          drift.filter((s) => s.k === "driftP50Ms"),
          "Arrival drift: how much later than scheduled each check reached its target.",
        ),
        panels: [
          panel(
            "arrival drift p50 and p99",
            "drift (ms)",
            lines(drift, (s) => ({ label: `${TOOL_NAME[s.tool]} ${s.k === "driftP50Ms" ? "p50" : "p99"}`, dash: s.k === "driftP99Ms" })),
          ),
        ],
        columns: 1,
        panelWidth: 720,
      }),
    });

  const cores = byTargets(rows, (r) => r.cpuCores);
  const perCheck = byTargets(rows, (r) => (r.intervalMs ? (r.cpuCores / (r.targets / (r.intervalMs / 1000))) * 1e6 : NaN));
  if (cores.length)
    charts.push({
      name: "scale-cpu.svg",
      svg: figure({
        title: "CPU against targets",
        subtitle: subtitle(cores, "CPU per check: the process's CPU time ÷ the checks it was due to make (targets ÷ interval)."),
        panels: [
          panel("CPU (1 core = one core busy all the time)", "CPU (cores)", lines(cores)),
          ...(perCheck.length ? [panel("CPU per check", "CPU per check (µs)", lines(perCheck))] : []),
        ],
      }),
    });

  const rss = byTargets(rows, (r) => r.peakRssMB);
  if (rss.length)
    charts.push({
      name: "scale-rss.svg",
      svg: figure({
        title: "Peak RSS against targets",
        subtitle: subtitle(rss),
        panels: [panel("peak resident set size", "peak RSS (MB)", lines(rss))],
        columns: 1,
        panelWidth: 720,
      }),
    });
  return charts;
}

/** One figure for the soak runs: RSS and heap used over time, event-loop delay p99 over time, CPU over time. */
function soakCharts(allRows) {
  const soaks = allRows.filter((r) => r.scenario === "soak" && r.samples?.length);
  if (!soaks.length) return [];
  const minutes = (s) => s.tMs / 60_000;
  const tag = (r, i) => (soaks.length > 1 ? ` (run ${i + 1}: ${Math.round(r.durationMs / 60_000)} min)` : "");
  const over = (field, scale = 1) =>
    soaks.map((r, i) => ({ r, i, points: r.samples.filter((s) => Number.isFinite(s[field])).map((s) => [minutes(s), s[field] * scale]) }));
  const line = (label, color, dash) => (x) => ({
    label: label + tag(x.r, x.i),
    color,
    dash,
    points: x.points,
    markers: x.points.length <= 20,
  });
  const memory = [
    ...over("rssMB").map((x) => line("RSS", PALETTE[(x.i * 2) % PALETTE.length])(x)),
    ...over("heapUsedMB").map((x) => line("heap used", PALETTE[(x.i * 2 + 1) % PALETTE.length], true)(x)),
  ];
  const loop = over("loopP99Ms").filter((x) => x.points.length);
  const cpu = over("cpuCores", 100).filter((x) => x.points.length);
  const panels = [
    (box) => lineChart({ box, title: "memory of the medic process", xLabel: "minutes since start", xMin: 0, yLabel: "MB", series: memory }),
  ];
  if (loop.length)
    panels.push((box) =>
      lineChart({
        box,
        title: "event-loop delay p99, per sample window",
        xLabel: "minutes since start",
        xMin: 0,
        yLabel: "delay p99 (ms)",
        series: loop.map((x) => line("loop delay p99", PALETTE[x.i % PALETTE.length])(x)),
      }),
    );
  if (cpu.length)
    panels.push((box) =>
      lineChart({
        box,
        title: "CPU, per sample window",
        xLabel: "minutes since start",
        xMin: 0,
        yLabel: "CPU (% of one core)",
        series: cpu.map((x) => line("CPU", PALETTE[x.i % PALETTE.length])(x)),
      }),
    );
  const what = soaks
    .map((r) => `${r.targets} targets, ${r.flapping} flapping, ${Math.round(r.durationMs / 60_000)} min, n = ${r.samples.length} samples`)
    .join("; ");
  const slopes = soaks
    .map((r, i) =>
      [
        Number.isFinite(r.rssSlopeMBPer10Min) && `RSS slope over the second half ${r.rssSlopeMBPer10Min.toFixed(2)} MB / 10 min`,
        Number.isFinite(r.loopP99FirstHalfMs) &&
          Number.isFinite(r.loopP99SecondHalfMs) &&
          `event-loop delay p99 (median of the samples) ${r.loopP99FirstHalfMs.toFixed(1)} ms in the first half, ` +
            `${r.loopP99SecondHalfMs.toFixed(1)} ms in the second`,
      ]
        .filter(Boolean)
        .join(", ")
        .replace(/^(?=.)/, soaks.length > 1 ? `run ${i + 1}: ` : ""),
    )
    .filter(Boolean)
    .join("; ");
  return [
    {
      name: "soak.svg",
      svg: figure({ title: `Soak (${what})`, subtitle: slopes, panels, columns: 1, panelWidth: 900, panelHeight: 300 }),
    },
  ];
}

/** The cluster's failovers: one panel per kind (kill -9, SIGSTOP), the time to a new leader and to its first action. */
function failoverCharts(allRows) {
  const rows = allRows.filter((r) => r.scenario === "cluster" && r.part === "failover");
  const kinds = [
    { kind: "kill", name: "kill -9 of the leader" },
    { kind: "stall", name: "SIGSTOP of the leader" },
  ].filter((k) => rows.some((r) => r.kind === k.kind));
  if (!kinds.length) return [];
  const panels = kinds.map(({ kind, name }) => (box) => {
    const mine = rows.filter((r) => r.kind === kind);
    // The targets clusterTable checks: 2 s after a kill, the lease's TTL + 2 s after a stop.
    const targetMs = kind === "kill" ? 2000 : mine[0].ttlMs + 2000;
    const group = (metric, label, color) => {
      const values = mine.map((r) => r[metric]);
      return { label: groupLabel(label, values), color, values, stats: stats(values) };
    };
    return stripChart({
      box,
      title: `${name} (n = ${mine.length})`,
      yLabel: `milliseconds after the ${kind === "kill" ? "kill" : "SIGSTOP"}`,
      groups: [group("electedMs", "new leader elected", PALETTE[0]), group("firstActionMs", "its first action", PALETTE[2])],
      refLines: [{ value: targetMs, label: `target ≤ ${ms(targetMs)}` }],
      format: ms,
    });
  });
  return [
    {
      name: "failover.svg",
      svg: figure({
        title: `Failover of a cluster of three medic nodes (n = ${rows.length})`,
        subtitle: "Each panel has its own scale: a SIGSTOPped leader keeps its lease until the lease's TTL runs out.",
        panels,
      }),
    },
  ];
}
