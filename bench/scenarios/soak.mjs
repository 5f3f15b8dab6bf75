import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startFarm } from "../lib/farmctl.mjs";
import { lastSeq, OPEN_GUARDS, startMedic } from "../lib/medic.mjs";
import { cpuSeconds, memory, now, sleep, stopChild } from "../lib/proc.mjs";
import { percentile } from "../lib/stats.mjs";
import { scrape } from "./scale.mjs";

const median = (values) => percentile(values, 50);

const HEAP_PROBE = fileURLToPath(new URL("../lib/heap-probe.cjs", import.meta.url));

/**
 * medic's config for the soak and the history scenarios: n HTTP targets on the farm at intervalMs, the
 * first `flapping` named flap-<i> (the even ones have a playbook: a 1 s wait, then verification; the
 * odd ones none, so they escalate), Slack pointed at the farm's stand-in webhook, the guards opened wide.
 */
export function flapConfig(dir, farm, { targets, flapping, intervalMs = 1000 }) {
  const books = join(dir, "playbooks");
  mkdirSync(books, { recursive: true });
  writeFileSync(
    join(books, "soak.yaml"),
    `name: wait-and-verify
description: a harmless step, then verification (the bench's flapping targets mend themselves)
on: [server_down]
labels: { fix: wait }
steps:
  - wait: 1s
verify: { within: 30s }
onFailure: escalate
`,
  );
  const lines = [
    `stateDir: ${JSON.stringify(join(dir, "state"))}`,
    `playbooks: [${JSON.stringify(books)}]`,
    `notify: { slack: { webhookUrl: "${farm.hookUrl}" } }`,
    "escalation: { P1: [ { after: 0s, notify: [slack] } ] }",
    `defaults: { interval: ${intervalMs}ms, timeout: 1s, failureThreshold: 1, successThreshold: 1 }`,
    OPEN_GUARDS.trimEnd(),
    "targets:",
  ];
  for (let i = 0; i < targets; i++)
    lines.push(
      i < flapping
        ? `  - { name: flap-${i}, labels: { fix: ${i % 2 === 0 ? "wait" : "none"} }, probe: { http: { url: "${farm.url(i)}" } } }`
        : `  - { name: t${i}, probe: { http: { url: "${farm.url(i)}" } } }`,
    );
  return lines.join("\n") + "\n";
}

/** Breaks and mends farm target i until stop(): healthy 10–20 s, broken 8–12 s. Resolves the number of breaks. */
async function flap(farm, i, stopped) {
  let breaks = 0;
  await sleep(Math.random() * 20_000); // spread the targets' phases
  while (!stopped()) {
    await farm.breakTarget(i);
    breaks++;
    await sleep(8000 + Math.random() * 4000);
    await farm.mendTarget(i);
    if (!stopped()) await sleep(10_000 + Math.random() * 10_000);
  }
  return breaks;
}

/** The newest line the heap probe wrote ({at, rss, heapUsed, heapTotal, external}), or undefined. */
function heapNow(file) {
  if (!existsSync(file)) return undefined;
  const line = readFileSync(file, "utf8").trimEnd().split("\n").at(-1);
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? NaN : sxy / sxx;
}

/**
 * A long run: medic watching `targets` HTTP targets at 1 s, `flapping` of them breaking and mending every
 * 20–30 s, for durationMs. Every sampleMs: RSS (/proc), V8's heap (the preloaded heap probe) and the
 * records written so far (the newest seq in the segments). RSS should not climb with the records.
 */
export async function soakMedic({ durationMs = 1_800_000, targets = 200, flapping = 20, sampleMs = 30_000, log }) {
  const dir = mkdtempSync(join(tmpdir(), "medic-bench-soak-"));
  const farm = await startFarm(targets, 0);
  const heapFile = join(dir, "heap.jsonl");
  let medic;
  let stop = false;
  try {
    medic = await startMedic(dir, flapConfig(dir, farm, { targets, flapping }), {
      nodeArgs: ["--require", HEAP_PROBE],
      env: { MEDIC_BENCH_HEAP_FILE: heapFile, MEDIC_BENCH_HEAP_EVERY_MS: String(Math.min(10_000, sampleMs)) },
    });
    const journal = join(dir, "state", "journal");
    const t0 = now();
    const flappers = Array.from({ length: flapping }, (_, i) => flap(farm, i, () => stop));
    const samples = [];
    let cpuAt = [now(), cpuSeconds(medic.pid)];
    await scrape(medic.port); // opens medic's event-loop window
    const sample = async () => {
      const mem = memory(medic.pid);
      const heap = heapNow(heapFile);
      const { loop } = await scrape(medic.port); // the event loop's delay since the previous sample
      const cpuNow = [now(), cpuSeconds(medic.pid)];
      const cpuCores = (cpuNow[1] - cpuAt[1]) / ((cpuNow[0] - cpuAt[0]) / 1000);
      cpuAt = cpuNow;
      const s = {
        tMs: Math.round(now() - t0),
        loopP50Ms: loop.p50,
        loopP99Ms: loop.p99,
        loopMaxMs: loop.max,
        cpuCores,
        rssMB: mem.rssMB,
        peakMB: mem.peakMB,
        heapUsedMB: heap ? heap.heapUsed / 1048576 : NaN,
        heapTotalMB: heap ? heap.heapTotal / 1048576 : NaN,
        records: lastSeq(journal),
      };
      samples.push(s);
      log(
        `  soak ${(s.tMs / 60_000).toFixed(1)} min: RSS ${s.rssMB.toFixed(1)} MB (peak ${s.peakMB.toFixed(1)}), heap used ${s.heapUsedMB.toFixed(1)} MB of ${s.heapTotalMB.toFixed(1)}, loop p99 ${s.loopP99Ms.toFixed(1)} ms, CPU ${(s.cpuCores * 100).toFixed(2)} %, records ${s.records}`,
      );
    };
    await sleep(2000); // past start-up, the heap probe's first line
    await sample();
    while (now() - t0 < durationMs) {
      await sleep(Math.min(sampleMs, durationMs - (now() - t0)));
      if (medic.child.exitCode !== null) throw new Error(`medic exited (${medic.child.exitCode}) during the soak`);
      await sample();
    }
    stop = true;
    const breaks = (await Promise.all(flappers)).reduce((a, b) => a + b, 0);
    const second = samples.filter((s) => s.tMs >= durationMs / 2);
    const first = samples[0],
      last = samples.at(-1);
    const row = {
      scenario: "soak",
      tool: "medic",
      targets,
      flapping,
      durationMs,
      breaks,
      hooks: await farm.hooks(),
      records: last.records - first.records,
      recordsSecondHalf: second.length ? last.records - second[0].records : NaN,
      rssStartMB: first.rssMB,
      rssEndMB: last.rssMB,
      peakRssMB: last.peakMB,
      // Per 10 minutes over the second half, and per 10,000 records written in it.
      rssSlopeMBPer10Min: slope(second.map((s) => [s.tMs / 600_000, s.rssMB])),
      heapSlopeMBPer10Min: slope(second.map((s) => [s.tMs / 600_000, s.heapUsedMB])),
      rssSlopeMBPer10kRecords: slope(second.map((s) => [s.records / 10_000, s.rssMB])),
      // The event loop's delay p99 per sample: its slope over the second half, and the first and second halves' medians.
      loopP99SlopeMsPer10Min: slope(second.map((s) => [s.tMs / 600_000, s.loopP99Ms])),
      loopP99FirstHalfMs: median(samples.filter((s) => s.tMs < durationMs / 2).map((s) => s.loopP99Ms)),
      loopP99SecondHalfMs: median(second.map((s) => s.loopP99Ms)),
      cpuCoresMedian: median(samples.slice(1).map((s) => s.cpuCores)),
      samples,
    };
    log(
      `  soak: ${row.records} records in ${(durationMs / 60_000).toFixed(0)} min (${breaks} breaks), RSS ${row.rssStartMB.toFixed(0)} → ${row.rssEndMB.toFixed(0)} MB, second half slope ${row.rssSlopeMBPer10Min.toFixed(2)} MB / 10 min (heap ${row.heapSlopeMBPer10Min.toFixed(2)}), loop p99 median ${row.loopP99FirstHalfMs.toFixed(1)} → ${row.loopP99SecondHalfMs.toFixed(1)} ms`,
    );
    return row;
  } finally {
    stop = true;
    await stopChild(medic?.child, 15_000);
    await stopChild(farm.child);
    if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}
