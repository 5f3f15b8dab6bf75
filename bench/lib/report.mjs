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
      ["eventMs", "medic: the event heard (die, exit)"],
      ["detectMs", "detect"],
      ["hangDetectMs", "detect after the probe that hung started"],
      ["healthyMs", "break → healthy"],
    ]) {
      if (!rows.some((r) => Number.isFinite(r[metric]) && r.scenario === scenario && r.break === brk)) continue;
      const ratios = medic.map((m) => m[metric] / (monit.find((x) => x.rep === m.rep)?.[metric] ?? NaN)).filter(Number.isFinite);
      out.push(
        `| ${scenario} | ${brk} | ${label} | ${cell(summary(medic.map((r) => r[metric])))} | ${cell(summary(monit.map((r) => r[metric])))} | ${fmt(percentile(ratios, 50), "x")}, ${fmt(percentile(ratios, 100), "x")} | ${medic.length}+${monit.length} |`,
      );
    }
    // The floor: the service's own start to answering, as the bench started it for each repetition (both tools' reps).
    const up = summary([...medic, ...monit].map((r) => r.upMs));
    if (up.n) {
      const floorRatio = (tool) =>
        fmt(
          percentile(
            tool.map((r) => r.healthyMs),
            50,
          ) / up.median,
          "x",
        );
      out.push(
        `| ${scenario} | ${brk} | floor: the service's own start → answering | ${cell(up)} | medic ${floorRatio(medic)} the floor, Monit ${floorRatio(monit)} (medians) | — | ${up.n} |`,
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
      "| targets (10 % hang) | interval | rounds started late (medic's histogram) p50 / p99 | arrival drift p50 | arrival drift p99 | arrival drift max | arrival drift p99 incl. first interval | arrival drift p99 / max from the third interval | detect (broken mid-run) | event-loop delay p50 / p99 / max | API /healthz p50 / p99 | CPU (cores) | CPU per check | peak RSS | start-up |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    );
    for (const r of medic)
      out.push(
        `| ${r.targets} | ${r.intervalMs / 1000} s | ≤ ${fmt(r.lateP50Ms)} / ≤ ${fmt(r.lateP99Ms)} | ${fmt(r.driftP50Ms)} | ${fmt(r.driftP99Ms)} | ${fmt(r.driftMaxMs)} | ${fmt(r.driftAllP99Ms)} | ${fmt(r.driftSettledP99Ms)} / ${fmt(r.driftSettledMaxMs)} | ${fmt(r.detectMs)} | ${fmt(r.loopP50Ms)} / ${fmt(r.loopP99Ms)} / ${fmt(r.loopMaxMs)} | ${fmt(r.apiP50Ms)} / ${fmt(r.apiP99Ms)} | ${fmt(r.cpuCores, "")} | ${Math.round((r.cpuCores / (r.targets / (r.intervalMs / 1000))) * 1e6)} µs | ${fmt(r.peakRssMB, "MB")} | ${fmt(r.startupMs)} |`,
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
  const perCheck = rows.filter((r) => r.scenario === "per-check");
  if (perCheck.length) {
    const of = (tool) => summary(perCheck.filter((r) => r.tool === tool).map((r) => r.usPerCheck));
    const [m, n] = [of("medic"), of("monit")];
    const ratios = perCheck
      .filter((r) => r.tool === "medic")
      .map((r) => r.usPerCheck / (perCheck.find((x) => x.tool === "monit" && x.rep === r.rep)?.usPerCheck ?? NaN))
      .filter(Number.isFinite);
    out.push(
      "",
      `| CPU per healthy HTTP check, ${perCheck[0].targets} targets at 1 s (median / min / max) | medic | Monit | medic ÷ Monit per pair (median, max) | n |`,
      "|---|---|---|---|---|",
      `| µs of CPU per check | ${Math.round(m.median)} / ${Math.round(m.min)} / ${Math.round(m.max)} | ${Math.round(n.median)} / ${Math.round(n.min)} / ${Math.round(n.max)} | ${fmt(percentile(ratios, 50), "x")}, ${fmt(percentile(ratios, 100), "x")} | ${m.n}+${n.n} |`,
      `| checks per second done | ${Math.round(
        percentile(
          perCheck.filter((r) => r.tool === "medic").map((r) => r.checksPerS),
          50,
        ),
      )} | ${Math.round(
        percentile(
          perCheck.filter((r) => r.tool === "monit").map((r) => r.checksPerS),
          50,
        ),
      )} | — | |`,
    );
  }
  const floor = rows.filter((r) => r.scenario === "node-floor");
  if (floor.length) {
    out.push(
      "",
      "| a bare Node process, fresh connection per check | rate | started | CPU per check (user + system) |",
      "|---|---|---|---|",
    );
    for (const r of floor)
      out.push(
        `| ${r.client === "http" ? "node:http" : "raw socket"} (${r.node}) | ${r.ratePerS}/s | ${r.beatMs === 1 ? "one by one" : `in batches every ${r.beatMs} ms`} | ${Math.round(r.usPerCheck)} µs (${Math.round(r.userUs)} + ${Math.round(r.systemUs)}) |`,
      );
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
      `soak: ${r.targets} targets at 1 s, ${r.flapping} flapping (${r.breaks} breaks), ${fmt(r.durationMs)}: ${r.records} records written (${r.recordsSecondHalf} in the second half); RSS ${fmt(r.rssStartMB, "MB")} → ${fmt(r.rssEndMB, "MB")}, peak ${fmt(r.peakRssMB, "MB")}; second half: RSS slope ${fmt(r.rssSlopeMBPer10Min, "")} MB / 10 min, ${fmt(r.rssSlopeMBPer10kRecords, "")} MB / 10,000 records; heap used slope ${fmt(r.heapSlopeMBPer10Min, "")} MB / 10 min; event-loop delay p99 (per sample, median) first half ${fmt(r.loopP99FirstHalfMs, "")} ms, second half ${fmt(r.loopP99SecondHalfMs, "")} ms, slope ${fmt(r.loopP99SlopeMsPer10Min, "")} ms / 10 min; CPU median ${fmt(r.cpuCoresMedian * 100, "%")}`,
      "",
      "| minute | RSS | heap used / total | event-loop delay p99 | CPU | records written |",
      "|---|---|---|---|---|---|",
    );
    const marks = r.samples.filter((s, i) => i === 0 || i === r.samples.length - 1 || Math.round(s.tMs / 30_000) % 10 === 0);
    for (const s of marks)
      out.push(
        `| ${(s.tMs / 60_000).toFixed(1)} | ${fmt(s.rssMB, "MB")} | ${fmt(s.heapUsedMB, "MB")} / ${fmt(s.heapTotalMB, "MB")} | ${fmt(s.loopP99Ms, "")} ms | ${fmt(s.cpuCores * 100, "%")} | ${s.records} |`,
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

/** Markdown tables of the cluster rows: failover after kill -9 and SIGSTOP, database load at rest, one node per store. */
export function clusterTable(rows) {
  const out = [];
  const fo = rows.filter((r) => r.part === "failover");
  if (fo.length) {
    out.push(
      "| leader | n | kill/SIGSTOP → new leader elected (median / p95 / min / max) | → new leader's first action | → its first step started | target | met? |",
      "|---|---|---|---|---|---|---|",
    );
    for (const kind of ["kill", "stall"]) {
      const r = fo.filter((x) => x.kind === kind);
      if (!r.length) continue;
      const first = summary(r.map((x) => x.firstActionMs));
      const targetMs = kind === "kill" ? 2000 : r[0].ttlMs + 2000;
      out.push(
        `| ${kind === "kill" ? "kill -9" : "SIGSTOP"} | ${r.length} | ${cell(summary(r.map((x) => x.electedMs)))} | ${cell(first)} | ${cell(summary(r.map((x) => x.firstStepMs)))} | ≤ ${fmt(targetMs)} | ${r.every((x) => x.firstActionMs <= targetMs) ? "met" : `**missed** in ${r.filter((x) => !(x.firstActionMs <= targetMs)).length} of ${r.length}`} |`,
      );
    }
    const sum = (k, r = fo) => r.reduce((s, x) => s + (x[k] ?? 0), 0);
    const stalls = fo.filter((x) => x.kind === "stall");
    out.push(
      "",
      `Safety over the ${fo.length} runs: incidents resolved ${fo.filter((x) => x.outcome === "resolved").length}/${fo.length}; step one run once ${fo.filter((x) => x.oneRuns === 1).length}/${fo.length}, step three run once ${fo.filter((x) => x.threeRuns === 1).length}/${fo.length} (by the new leader ${sum("threeByNewLeader")}); victim started once ${fo.filter((x) => x.victimStarts === 1).length}/${fo.length}; actions by the old leader after the kill/SIGSTOP: ${sum("oldLeaderActionsAfter")}; old-epoch records after the new epoch's first: ${sum("oldEpochWritesAfterNew")}` +
        (stalls.length ? `; woken leaders back as followers ${stalls.filter((x) => x.rejoinedAsFollower).length}/${stalls.length}` : ""),
    );
  }
  for (const r of rows.filter((x) => x.part === "load")) {
    const n = r.nodes;
    const apps = Object.entries(r.statementsPerSecByApp)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([a, v]) => `${a}: ${v.toFixed(1)}`)
      .join("; ");
    const tables = Object.entries(r.perTable)
      .map(([t, d]) => `${t} +${Math.round(d.insertedPerHour)} ins / ${Math.round(d.updatedPerHour)} upd`)
      .join("; ");
    out.push(
      "",
      `| at rest: nodes × targets (interval) | window | transactions/s: cluster / per node (÷ ${n}) | rows written/h: cluster / per node (÷ ${n}) | of which inserted / updated / deleted per hour | by table (per hour) | statements/s by application_name (server log) | CPU per node (cores) |`,
      "|---|---|---|---|---|---|---|---|",
      `| ${n} × ${r.targets} (${r.intervalMs / 1000} s) | ${fmt(r.windowMs)} | ${fmt(r.xactPerSec, "")} / ${fmt(r.xactPerSec / n, "")} | ${Math.round(r.writtenPerHour).toLocaleString("en")} / ${Math.round(r.writtenPerHour / n).toLocaleString("en")} | ${Math.round(r.insertedPerHour)} / ${Math.round(r.updatedPerHour)} / ${Math.round(r.deletedPerHour)} | ${tables} | ${apps} | ${Object.entries(
        r.cpuCoresByNode,
      )
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(", ")} |`,
    );
  }
  const drift = rows.filter((x) => x.part === "single-drift");
  if (drift.length) {
    out.push(
      "",
      "| one node, store | targets (interval) | arrival drift p50 / p99 / max | rounds late (medic's histogram) p50 / p99 | kill -9 → healthy (median / p95 / min / max) | detect | first step started | verified resolved | n | CPU (cores) |",
      "|---|---|---|---|---|---|---|---|---|---|",
    );
    for (const d of drift) {
      const rec = rows.filter((x) => x.part === "single-recovery" && x.store === d.store);
      out.push(
        `| ${d.store === "file" ? "file (state dir)" : "PostgreSQL (cluster of one)"} | ${d.targets - 1} at ${d.intervalMs / 1000} s + 1 process at 1 s | ${fmt(d.driftP50Ms)} / ${fmt(d.driftP99Ms)} / ${fmt(d.driftMaxMs)} | ≤ ${fmt(d.lateP50Ms)} / ≤ ${fmt(d.lateP99Ms)} | ${cell(summary(rec.map((x) => x.healthyMs)))} | ${cell(summary(rec.map((x) => x.detectMs)))} | ${cell(summary(rec.map((x) => x.actionMs)))} | ${cell(summary(rec.map((x) => x.verifiedMs)))} | ${rec.length} | ${fmt(d.cpuCores, "")} |`,
      );
    }
  }
  return out.join("\n");
}
