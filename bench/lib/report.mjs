import { fmt, percentile, summary } from "./stats.mjs";

const cell = (s, unit = "ms") => `${fmt(s.median, unit)} / ${fmt(s.p95, unit)} / ${fmt(s.min, unit)} / ${fmt(s.max, unit)}`;

/** Markdown table of break-and-recover rows: per scenario and break, medic vs Monit and their ratio per pair. */
export function recoveryTable(rows) {
  const out = [
    "| scenario | break | metric | medic (median / p95 / min / max) | Monit (median / p95 / min / max) | medic ÷ Monit per pair (median, max) | n |",
    "|---|---|---|---|---|---|---|",
  ];
  const keys = [...new Set(rows.map((r) => `${r.scenario}|${r.break}`))];
  for (const key of keys) {
    const [scenario, brk] = key.split("|");
    const of = (tool) => rows.filter((r) => r.scenario === scenario && r.break === brk && r.tool === tool);
    const medic = of("medic"),
      monit = of("monit");
    for (const [metric, label] of [
      ["detectMs", "detect"],
      ["healthyMs", "break → healthy"],
    ]) {
      const ratios = medic.map((m) => m[metric] / (monit.find((x) => x.rep === m.rep)?.[metric] ?? NaN)).filter(Number.isFinite);
      out.push(
        `| ${scenario} | ${brk} | ${label} | ${cell(summary(medic.map((r) => r[metric])))} | ${cell(summary(monit.map((r) => r[metric])))} | ${fmt(percentile(ratios, 50), "x")}, ${fmt(percentile(ratios, 100), "x")} | ${medic.length}+${monit.length} |`,
      );
    }
    const verified = summary(medic.map((r) => r.verifiedMs));
    if (verified.n) out.push(`| ${scenario} | ${brk} | medic: verified resolved | ${cell(verified)} | — | — | ${verified.n} |`);
  }
  return out.join("\n");
}

/** Markdown table of the scale and idle rows. */
export function scaleTable(rows) {
  const out = [];
  const medic = rows.filter((r) => r.scenario === "scale" && r.tool === "medic");
  if (medic.length) {
    out.push(
      "| targets (10 % hang) | interval | rounds started late (medic's histogram) p50 / p99 | arrival drift p50 | arrival drift p99 | arrival drift max | arrival drift p99 incl. first interval | detect (broken mid-run) | event-loop delay p50 / p99 / max | API /healthz p50 / p99 | CPU (cores) | peak RSS | start-up |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    );
    for (const r of medic)
      out.push(
        `| ${r.targets} | ${r.intervalMs / 1000} s | ≤ ${fmt(r.lateP50Ms)} / ≤ ${fmt(r.lateP99Ms)} | ${fmt(r.driftP50Ms)} | ${fmt(r.driftP99Ms)} | ${fmt(r.driftMaxMs)} | ${fmt(r.driftAllP99Ms)} | ${fmt(r.detectMs)} | ${fmt(r.loopP50Ms)} / ${fmt(r.loopP99Ms)} / ${fmt(r.loopMaxMs)} | ${fmt(r.apiP50Ms)} / ${fmt(r.apiP99Ms)} | ${fmt(r.cpuCores, "")} | ${fmt(r.peakRssMB, "MB")} | ${fmt(r.startupMs)} |`,
      );
  }
  const monit = rows.filter((r) => r.scenario === "scale" && r.tool === "monit");
  if (monit.length) {
    out.push(
      "",
      "| Monit targets (10 % hang) | `set daemon` | targets checked | one pass over all targets | cycle (same target twice), median | observed for |",
      "|---|---|---|---|---|---|",
    );
    for (const r of monit)
      out.push(`| ${r.targets} | ${r.daemonS} s | ${r.checkedOnce} | ${fmt(r.passMs)} | ${fmt(r.cycleMedianMs)} | ${fmt(r.observedMs)} |`);
  }
  const idle = rows.filter((r) => r.scenario === "idle");
  if (idle.length) {
    out.push("", "| idle: targets | interval | observed | CPU | RSS median / max | peak RSS |", "|---|---|---|---|---|---|");
    for (const r of idle)
      out.push(
        `| ${r.targets} | ${r.intervalMs / 1000} s | ${fmt(r.durationMs)} | ${fmt(r.cpuPercent, "%")} | ${fmt(r.rssMedianMB, "MB")} / ${fmt(r.rssMaxMB, "MB")} | ${fmt(r.peakRssMB, "MB")} |`,
      );
  }
  return out.join("\n");
}

/** Markdown table of a soak run: RSS and heap at start and every 5 minutes, and the second half's slopes. */
export function soakTable(rows) {
  const out = [];
  for (const r of rows) {
    out.push(
      `soak: ${r.targets} targets at 1 s, ${r.flapping} flapping (${r.breaks} breaks), ${fmt(r.durationMs)}: ${r.records} records written (${r.recordsSecondHalf} in the second half); RSS ${fmt(r.rssStartMB, "MB")} → ${fmt(r.rssEndMB, "MB")}, peak ${fmt(r.peakRssMB, "MB")}; second half: RSS slope ${fmt(r.rssSlopeMBPer10Min, "")} MB / 10 min, ${fmt(r.rssSlopeMBPer10kRecords, "")} MB / 10,000 records; heap used slope ${fmt(r.heapSlopeMBPer10Min, "")} MB / 10 min`,
      "",
      "| minute | RSS | heap used / total | records written |",
      "|---|---|---|---|",
    );
    const marks = r.samples.filter((s, i) => i === 0 || i === r.samples.length - 1 || Math.round(s.tMs / 30_000) % 10 === 0);
    for (const s of marks)
      out.push(
        `| ${(s.tMs / 60_000).toFixed(1)} | ${fmt(s.rssMB, "MB")} | ${fmt(s.heapUsedMB, "MB")} / ${fmt(s.heapTotalMB, "MB")} | ${s.records} |`,
      );
  }
  return out.join("\n");
}

/** Markdown tables of the history rows: start-up, memory and the CLI per history size; the API under load against a quiet window. */
export function historyTable(rows) {
  if (!rows.length) return "";
  const n = (x) => x.toLocaleString("en");
  const cli = (r, args) => {
    const c = r.cli?.find((x) => x.args === args);
    return c ? `${fmt(c.ms)} / ${fmt(c.peakMB, "MB")}` : "—";
  };
  const out = [
    "| records | old journal | first start (migration) to API listening / peak RSS | on disk after | start-up (spawn to API listening) | RSS 2 s after start (heap used) / peak | `medic incidents --since 24h` wall / peak RSS | `medic incidents` | an incident on top: opened after the break / resolved after the mend | `?target=T&limit=50`, T with 100 incidents / with none (3 in a row) |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of rows)
    out.push(
      `| ${n(r.records)} | ${fmt(r.legacyMB, "MB")} | ${fmt(r.migrationMs)} / ${fmt(r.migrationPeakMB, "MB")} | ${r.segments} segments ${fmt(r.segmentsMB, "MB")}, index ${fmt(r.indexMB, "MB")} | ${fmt(r.startupMs)} | ${fmt(r.rssAfterStartMB, "MB")} (${fmt(r.heapAfterStartMB, "MB")}) / ${fmt(r.peakAfterStartMB, "MB")} | ${cli(r, "--since 24h")} | ${cli(r, "")} | ${r.incident ? `${fmt(r.incident.openedMs)} / ${r.incident.state} ${fmt(r.incident.resolvedMs)} (${r.incident.runs} run)` : "—"} | ${r.byTargetMs ? `${r.byTargetMs["svc-1"].map((x) => fmt(x)).join(", ")} / ${r.byTargetMs["flap-1"].map((x) => fmt(x)).join(", ")}` : "—"} |`,
    );
  const loaded = rows.filter((r) => r.loaded);
  if (loaded.length) {
    out.push(
      "",
      "| records | window (20 s) | `GET /api/incidents?limit=50`: requests (failed) | p50 / p99 / max | arrival drift p50 / p99 / max | rounds late (medic's histogram) p99 | event-loop delay p99 / max | CPU (cores) |",
      "|---|---|---|---|---|---|---|---|",
    );
    for (const r of loaded)
      for (const w of [r.quiet, r.single, r.loaded].filter(Boolean))
        out.push(
          `| ${n(r.records)} | ${w.clients ? `${w.clients} client${w.clients > 1 ? "s" : ""}` : "no clients"} | ${w.requests} (${w.errors}) | ${w.clients ? `${fmt(w.apiP50Ms, "")} / ${fmt(w.apiP99Ms, "")} / ${fmt(w.apiMaxMs, "")} ms` : "—"} | ${fmt(w.driftP50Ms, "")} / ${fmt(w.driftP99Ms, "")} / ${fmt(w.driftMaxMs, "")} ms | ≤ ${fmt(w.lateP99Ms)} | ${fmt(w.loopP99Ms, "")} / ${fmt(w.loopMaxMs, "")} ms | ${fmt(w.cpuCores, "")} |`,
        );
  }
  return out.join("\n");
}
