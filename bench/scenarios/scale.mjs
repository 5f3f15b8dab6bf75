import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFarm, drifts } from "../lib/farmctl.mjs";
import { get } from "../lib/http.mjs";
import { readJournal, startMedic } from "../lib/medic.mjs";
import { startMonit } from "../lib/monit.mjs";
import { cpuSeconds, memory, now, sleep, stopChild } from "../lib/proc.mjs";
import { percentile } from "../lib/stats.mjs";

const INTERVAL_MS = 10_000;

/** medic's config: n HTTP targets on the farm at a 10 s interval, 1 s timeout, no playbooks. */
function scaleConfig(dir, farm, n, intervalMs) {
  const lines = [
    `stateDir: ${JSON.stringify(join(dir, "state"))}`,
    "playbooks: []",
    `defaults: { interval: ${intervalMs}ms, timeout: 1s, failureThreshold: 1, successThreshold: 1 }`,
    "targets:",
  ];
  for (let i = 0; i < n; i++) lines.push(`  - { name: t${i}, probe: { http: { url: "${farm.url(i)}" } } }`);
  return lines.join("\n") + "\n";
}

/**
 * One scrape of medic's /metrics: its event-loop delay (ms) since the previous scrape (p50, p99,
 * max), and the cumulative buckets of how late its probe rounds started (le in seconds -> count).
 */
export async function scrape(apiPort) {
  const r = await get(`http://127.0.0.1:${apiPort}/metrics`, 10_000);
  const text = r.body ?? "";
  const stat = (name) =>
    1000 * Number(text.match(new RegExp(`^medic_event_loop_delay_seconds\\{stat="${name}"\\} (\\S+)$`, "m"))?.[1] ?? NaN);
  const late = [...text.matchAll(/^medic_probe_schedule_delay_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((m) => [
    Number(m[1]),
    Number(m[2]),
  ]);
  return { loop: { p50: stat("p50"), p99: stat("p99"), max: stat("max") }, late };
}

/** The q-th percentile of the rounds counted between two scrapes, as the upper bound (ms) of its bucket. */
export function lateQuantile(before, after, q) {
  const counts = after.map(([le, n], i) => [le, n - (before[i]?.[1] ?? 0)]);
  const total = counts.at(-1)?.[1] ?? 0;
  const hit = counts.find(([, n]) => n >= total * (q / 100));
  return total === 0 || !hit ? NaN : hit[0] * 1000;
}

/** Samples medic from outside while it runs: CPU, RSS, and how long GET /healthz takes (its event loop's responsiveness). */
async function observe(pid, apiPort, untilMs, onTick) {
  const api = [],
    rss = [];
  while (now() < untilMs) {
    const r = await get(`http://127.0.0.1:${apiPort}/healthz`, 5000);
    api.push(r.ms);
    try {
      rss.push(memory(pid).rssMB);
    } catch {
      /* exited */
    }
    await onTick?.();
    await sleep(200);
  }
  return { api, rss };
}

/**
 * medic watching n targets (10 % hang) at 10 s for durationMs: schedule drift from the farm's
 * arrival times, detection latency of a target broken mid-run, API latency p99, CPU, RSS.
 */
export async function scaleMedic(n, { durationMs = 45_000, log }) {
  const dir = mkdtempSync(join(tmpdir(), "medic-bench-scale-"));
  const farm = await startFarm(n, Math.round(n / 10));
  let medic;
  try {
    const t0 = now();
    medic = await startMedic(dir, scaleConfig(dir, farm, n, INTERVAL_MS));
    const startupMs = now() - t0;
    const first = await scrape(medic.port); // starts medic's event-loop window with the measured one
    const cpu0 = cpuSeconds(medic.pid),
      w0 = now();
    const victim = Math.round(n / 10); // the first target that answers
    let brokeAt;
    const breakAfter = w0 + Math.min(20_000, durationMs / 2);
    const seen = await observe(medic.pid, medic.port, w0 + durationMs, async () => {
      if (brokeAt === undefined && now() >= breakAfter) brokeAt = await farm.breakTarget(victim);
    });
    const cpu = (cpuSeconds(medic.pid) - cpu0) / ((now() - w0) / 1000);
    const last = await scrape(medic.port);
    const loop = last.loop;
    const mem = memory(medic.pid);
    const opened = readJournal(medic.journal).find((r) => r.type === "opened" && r.target === `t${victim}` && r.at >= brokeAt);
    const arrivals = await farm.stats();
    // Steady state: rounds from one interval after start-up (the first interval holds every target's
    // first round and the 10 % hanging ones opening their incidents); and everything, for comparison.
    const d = drifts(arrivals, INTERVAL_MS, w0 + INTERVAL_MS);
    // Settled: from the third interval, once the first interval's incidents (10 % hanging at once) are opened and paged.
    const settled = drifts(arrivals, INTERVAL_MS, w0 + 2 * INTERVAL_MS);
    const all = drifts(arrivals, INTERVAL_MS);
    const row = {
      scenario: "scale",
      tool: "medic",
      targets: n,
      hanging: Math.round(n / 10),
      intervalMs: INTERVAL_MS,
      durationMs,
      startupMs,
      rounds: arrivals.reduce((s, a) => s + a.length, 0),
      driftP50Ms: percentile(d, 50),
      driftP99Ms: percentile(d, 99),
      driftMaxMs: percentile(d, 100),
      driftAllP99Ms: percentile(all, 99),
      driftSettledP99Ms: percentile(settled, 99),
      driftSettledMaxMs: percentile(settled, 100),
      detectMs: opened ? opened.at - brokeAt : NaN,
      apiP50Ms: percentile(seen.api, 50),
      apiP99Ms: percentile(seen.api, 99),
      loopP50Ms: loop.p50,
      loopP99Ms: loop.p99,
      loopMaxMs: loop.max,
      lateP50Ms: lateQuantile(first.late, last.late, 50),
      lateP99Ms: lateQuantile(first.late, last.late, 99),
      lateRounds: (last.late.at(-1)?.[1] ?? 0) - (first.late.at(-1)?.[1] ?? 0),
      cpuCores: cpu,
      rssMaxSampledMB: Math.max(...seen.rss),
      peakRssMB: mem.peakMB,
    };
    log(
      `  scale medic ${n}: rounds late (medic) p50 <= ${row.lateP50Ms} p99 <= ${row.lateP99Ms} ms; arrival drift p50 ${row.driftP50Ms?.toFixed(1)} p99 ${row.driftP99Ms?.toFixed(1)} ms, detect ${Math.round(row.detectMs)} ms, api p99 ${row.apiP99Ms.toFixed(1)} ms, event loop p99 ${row.loopP99Ms.toFixed(1)} ms, cpu ${row.cpuCores.toFixed(2)} cores, peak RSS ${row.peakRssMB.toFixed(0)} MB`,
    );
    return row;
  } finally {
    await stopChild(medic?.child, 10_000);
    await stopChild(farm.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Monit checking the same n targets (10 % hang) sequentially: its real cycle length. */
export async function scaleMonit(n, { maxMs = 150_000, log }) {
  const dir = mkdtempSync(join(tmpdir(), "medic-bench-monit-scale-"));
  const farm = await startFarm(n, Math.round(n / 10));
  let monit;
  try {
    const checks = [];
    for (let i = 0; i < n; i++)
      checks.push(
        `check host t${i} with address 127.0.0.1\n  if failed port ${farm.port} protocol http request "/t/${i}" with timeout 1 seconds then alert`,
      );
    const t0 = now();
    monit = startMonit(dir, checks.join("\n"));
    let arrivals;
    // Until target 0 has been checked twice (one whole cycle), or the time cap.
    while (now() - t0 < maxMs) {
      await sleep(2000);
      arrivals = await farm.stats();
      if (arrivals[0].length >= 2) break;
    }
    arrivals = await farm.stats();
    const firsts = arrivals.map((a) => a[0]).filter(Number.isFinite);
    const cycles = arrivals.flatMap((a) => a.slice(1).map((x, k) => x - a[k]));
    const row = {
      scenario: "scale",
      tool: "monit",
      targets: n,
      hanging: Math.round(n / 10),
      daemonS: 1,
      checkedOnce: firsts.length,
      passMs: firsts.length === n ? Math.max(...firsts) - Math.min(...firsts) : NaN,
      cycleMedianMs: percentile(cycles, 50),
      cycleMaxMs: percentile(cycles, 100),
      cyclesSeen: cycles.length,
      observedMs: now() - t0,
    };
    log(
      `  scale monit ${n}: checked ${row.checkedOnce}/${n}, one pass ${Math.round(row.passMs)} ms, cycle median ${Math.round(row.cycleMedianMs)} ms`,
    );
    return row;
  } finally {
    await stopChild(monit?.child, 10_000);
    await stopChild(farm.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** medic watching 20 healthy targets at 5 s for durationMs: CPU and RSS when nothing happens. */
export async function idleMedic({ durationMs = 120_000, log }) {
  const dir = mkdtempSync(join(tmpdir(), "medic-bench-idle-"));
  const farm = await startFarm(20, 0);
  let medic;
  try {
    medic = await startMedic(dir, scaleConfig(dir, farm, 20, 5000));
    await sleep(5000); // past start-up
    const cpu0 = cpuSeconds(medic.pid),
      w0 = now();
    const rss = [];
    while (now() - w0 < durationMs) {
      rss.push(memory(medic.pid).rssMB);
      await sleep(1000);
    }
    const row = {
      scenario: "idle",
      tool: "medic",
      targets: 20,
      intervalMs: 5000,
      durationMs,
      cpuPercent: ((cpuSeconds(medic.pid) - cpu0) / ((now() - w0) / 1000)) * 100,
      rssMedianMB: percentile(rss, 50),
      rssMaxMB: Math.max(...rss),
      peakRssMB: memory(medic.pid).peakMB,
    };
    log(`  idle medic: cpu ${row.cpuPercent.toFixed(2)} %, RSS ${row.rssMaxMB.toFixed(0)} MB (peak ${row.peakRssMB.toFixed(0)} MB)`);
    return row;
  } finally {
    await stopChild(medic?.child, 10_000);
    await stopChild(farm.child);
    rmSync(dir, { recursive: true, force: true });
  }
}
