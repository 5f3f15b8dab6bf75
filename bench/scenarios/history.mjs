import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeLegacyJournal } from "../../dist/store/file/legacy-kit.js";
import { startFarm } from "../lib/farmctl.mjs";
import { get } from "../lib/http.mjs";
import { lastSeq, MEDIC_MAIN, startMedic } from "../lib/medic.mjs";
import { cpuSeconds, memory, now, runTimed, sleep, stopChild, waitFor } from "../lib/proc.mjs";
import { percentile } from "../lib/stats.mjs";
import { lateQuantile, scrape } from "./scale.mjs";
import { flapConfig } from "./soak.mjs";

const HEAP_PROBE = fileURLToPath(new URL("../lib/heap-probe.cjs", import.meta.url));
const INTERVAL_MS = 1000;
const TARGETS = 200;
const CLIENTS = 8;
const WINDOW_MS = 20_000;
const DAY_MS = 24 * 3600_000;

/**
 * medic (the real daemon, `medic run`) on a long history: a journal of `records` records in the single-file
 * format of the medic before segments, migrated on the first start; then a second start on the migrated state
 * dir, watching 200 HTTP targets at 1 s: start-up, RSS, 8 clients on GET /api/incidents?limit=50 against one
 * client and a quiet window of the same length (probe drift in each), `medic incidents`, and an incident opened and resolved
 * on top of the history. Then `big` records (0 skips it): migration, start-up, RSS, one incident.
 */
export async function historyMedic({ records = 1_000_000, big = 5_000_000, log }) {
  const farm = await startFarm(TARGETS, 0);
  try {
    const rows = [await longHistory(farm, records, { full: true, log })];
    if (big > 0) rows.push(await longHistory(farm, big, { full: false, log }));
    return rows;
  } finally {
    await stopChild(farm.child);
  }
}

async function longHistory(farm, n, { full, log }) {
  const dir = mkdtempSync(join(tmpdir(), "medic-bench-history-"));
  const stateDir = join(dir, "state");
  const journal = join(stateDir, "journal");
  const config = flapConfig(dir, farm, { targets: TARGETS, flapping: 2, intervalMs: INTERVAL_MS });
  const row = { scenario: "history", tool: "medic", records: n, targets: TARGETS, intervalMs: INTERVAL_MS };
  const say = (line) => log(`  history ${n.toLocaleString("en")}: ${line}`);
  let medic;
  try {
    // The same history as bench/store-history.mjs: a flapping fleet of 10,000 targets over 80 days, 10 records an incident.
    const incidents = Math.round(n / 10);
    const span = 80 * DAY_MS;
    let t = now();
    row.written = writeLegacyJournal(stateDir, {
      incidents,
      startAt: Date.now() - span,
      everyMs: span / incidents,
      open: 20,
      targets: 10_000,
    });
    row.legacyMB = statSync(join(stateDir, "journal.jsonl")).size / 1048576;
    say(`wrote ${row.written} records in the old format (${row.legacyMB.toFixed(0)} MB) in ${Math.round(now() - t)} ms`);

    // a. The first start: the migration, until the API listens.
    medic = await startMedic(dir, config, { listenTimeoutMs: 3_600_000 });
    row.migrationMs = medic.startupMs;
    row.migrationPeakMB = memory(medic.pid).peakMB;
    row.migratedKept = readdirSync(stateDir).some((f) => f.startsWith("journal.jsonl.migrated-"));
    row.legacyLeft = existsSync(join(stateDir, "journal.jsonl"));
    row.seqAfterMigration = lastSeq(journal);
    t = now();
    await stopChild(medic.child, 30_000);
    row.firstStopMs = now() - t;
    const files = readdirSync(journal);
    const size = (re) => files.filter((f) => re.test(f)).reduce((sum, f) => sum + statSync(join(journal, f)).size, 0) / 1048576;
    Object.assign(row, {
      segments: files.filter((f) => /^\d{8}\.jsonl$/.test(f)).length,
      segmentsMB: size(/^\d{8}\.jsonl$/),
      indexMB: size(/^\d{8}\.index\.jsonl$/),
      snapshotMB: size(/^snapshot\.json$/),
    });
    say(
      `first start (migration) ${Math.round(row.migrationMs)} ms to API listening, peak RSS ${row.migrationPeakMB.toFixed(0)} MB; seq ${row.seqAfterMigration}; old file kept: ${row.migratedKept}, left in place: ${row.legacyLeft}; stopped in ${Math.round(row.firstStopMs)} ms; ${row.segments} segments ${row.segmentsMB.toFixed(0)} MB, index ${row.indexMB.toFixed(1)} MB, snapshot ${row.snapshotMB.toFixed(2)} MB`,
    );

    // b. Any later start, on the migrated state dir.
    const heapFile = join(dir, "heap.jsonl");
    medic = await startMedic(dir, config, {
      nodeArgs: ["--require", HEAP_PROBE],
      env: { MEDIC_BENCH_HEAP_FILE: heapFile, MEDIC_BENCH_HEAP_EVERY_MS: "1000" },
    });
    const startedAt = now();
    row.startupMs = medic.startupMs;
    await sleep(2000);
    const mem = memory(medic.pid);
    const heap = JSON.parse(readFileSync(heapFile, "utf8").trimEnd().split("\n").at(-1));
    Object.assign(row, { rssAfterStartMB: mem.rssMB, peakAfterStartMB: mem.peakMB, heapAfterStartMB: heap.heapUsed / 1048576 });
    say(
      `start-up ${Math.round(row.startupMs)} ms (spawn to API listening); 2 s later RSS ${row.rssAfterStartMB.toFixed(0)} MB (heap used ${row.heapAfterStartMB.toFixed(0)} MB), peak ${row.peakAfterStartMB.toFixed(0)} MB`,
    );

    if (full) {
      // c. The newest page of incidents under load, and the probes meanwhile, against a quiet window.
      const page = JSON.parse((await get(`http://127.0.0.1:${medic.port}/api/incidents?limit=50`, 10_000)).body);
      row.pageSize = page.incidents.length;
      await sleep(3000); // the first rounds of every target (and their phases) well behind
      row.quiet = await measureWindow(medic, farm, startedAt, 0);
      row.single = await measureWindow(medic, farm, startedAt, 1); // one request at a time: what one costs, without queueing
      row.loaded = await measureWindow(medic, farm, startedAt, CLIENTS);
      for (const [name, w] of [
        ["quiet", row.quiet],
        ["1 client", row.single],
        ["8 clients", row.loaded],
      ])
        say(
          `${name}: ${w.requests} requests (${w.errors} failed) p50 ${w.apiP50Ms.toFixed(1)} p99 ${w.apiP99Ms.toFixed(1)} max ${w.apiMaxMs.toFixed(1)} ms; arrival drift p50 ${w.driftP50Ms.toFixed(1)} p99 ${w.driftP99Ms.toFixed(1)} max ${w.driftMaxMs.toFixed(1)} ms; rounds late p99 <= ${w.lateP99Ms} ms (${w.lateRounds} rounds); event loop p99 ${w.loopP99Ms.toFixed(1)} max ${w.loopMaxMs.toFixed(1)} ms; cpu ${w.cpuCores.toFixed(2)} cores`,
        );
    }

    // d. The CLI against the running daemon's state dir (read-only, no lock), a process of its own each time.
    row.cli = [];
    for (const args of full ? [["--since", "24h"], []] : [["--since", "24h"]]) {
      const r = await runTimed(process.execPath, [MEDIC_MAIN, "incidents", ...args, "--state-dir", stateDir]);
      if (r.code !== 0) throw new Error(`medic incidents ${args.join(" ")} exited ${r.code}: ${r.stderr.slice(-2000)}`);
      const c = { args: args.join(" "), ms: r.ms, peakMB: r.peakMB, lines: r.stdout.split("\n").length - 1 };
      row.cli.push(c);
      say(`medic incidents ${c.args}: ${Math.round(c.ms)} ms, ${c.lines} lines, peak RSS ${c.peakMB.toFixed(0)} MB`);
    }

    row.byTargetMs = await byTarget(medic);
    say(
      `GET /api/incidents?target=T&limit=50, 3 in a row: svc-1 (100 in the history) ${row.byTargetMs["svc-1"].map(Math.round).join(", ")} ms; flap-1 (none) ${row.byTargetMs["flap-1"].map(Math.round).join(", ")} ms`,
    );

    // e. It still works on top of the history: a target breaks, its incident opens, runs its playbook and resolves.
    row.incident = await breakAndMend(medic, farm, 0);
    row.rssEndMB = memory(medic.pid).rssMB;
    say(
      `flap-0 broken: incident ${row.incident.id} opened ${Math.round(row.incident.openedMs)} ms after the break, ${row.incident.runs} playbook run, ${row.incident.state} ${Math.round(row.incident.resolvedMs)} ms after the mend; RSS now ${row.rssEndMB.toFixed(0)} MB`,
    );
    t = now();
    await stopChild(medic.child, 30_000);
    row.stopMs = now() - t;
    return row;
  } finally {
    await stopChild(medic?.child, 30_000);
    if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * WINDOW_MS of medic running, with `clients` concurrent clients (each on its own keep-alive connection, one
 * request at a time) on GET /api/incidents?limit=50, or none: request latency, the farm's arrival drift
 * over the window, medic's histogram of late rounds and its event-loop delay (scraped before and after), CPU.
 */
async function measureWindow(medic, farm, startedAt, clients) {
  const before = await scrape(medic.port);
  const cpu0 = cpuSeconds(medic.pid);
  const w0 = now();
  const until = w0 + WINDOW_MS;
  const ms = [];
  let errors = 0;
  const client = async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    while (now() < until) {
      const r = await timedGet(agent, `http://127.0.0.1:${medic.port}/api/incidents?limit=50`);
      if (r.status === 200 && r.count === 50) ms.push(r.ms);
      else errors++;
    }
    agent.destroy();
  };
  if (clients > 0) await Promise.all(Array.from({ length: clients }, client));
  else await sleep(WINDOW_MS);
  const w1 = now();
  const cpuCores = (cpuSeconds(medic.pid) - cpu0) / ((w1 - w0) / 1000);
  const after = await scrape(medic.port);
  const d = driftsIn((await farm.stats()).slice(0, TARGETS), INTERVAL_MS, startedAt + INTERVAL_MS, w0, w1);
  return {
    clients,
    requests: ms.length,
    errors,
    rps: ms.length / ((w1 - w0) / 1000),
    apiP50Ms: percentile(ms, 50),
    apiP99Ms: percentile(ms, 99),
    apiMaxMs: percentile(ms, 100),
    driftP50Ms: percentile(d, 50),
    driftP99Ms: percentile(d, 99),
    driftMaxMs: percentile(d, 100),
    driftRounds: d.length,
    lateP50Ms: lateQuantile(before.late, after.late, 50),
    lateP99Ms: lateQuantile(before.late, after.late, 99),
    lateRounds: (after.late.at(-1)?.[1] ?? 0) - (before.late.at(-1)?.[1] ?? 0),
    loopP99Ms: after.loop.p99,
    loopMaxMs: after.loop.max,
    cpuCores,
  };
}

/** One GET on a keep-alive agent: {status, ms, count} (count: the incidents in the page). */
function timedGet(agent, url) {
  return new Promise((resolve) => {
    const t0 = now();
    const req = request(url, { agent, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        const ms = now() - t0;
        let count = -1;
        try {
          count = JSON.parse(body).incidents.length;
        } catch {
          // counted as an error
        }
        resolve({ status: res.statusCode, ms, count });
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve({ status: 0, ms: now() - t0, count: -1 }));
    req.end();
  });
}

/**
 * Arrival drift of the rounds that arrived in [w0, w1], as in bench/lib/farmctl.mjs drifts(): each target's
 * phase from its most punctual round since `from` (this medic process's start-up), each round's lateness against it.
 */
function driftsIn(arrivals, intervalMs, from, w0, w1) {
  const out = [];
  for (const all of arrivals) {
    const a = all.filter((x) => x >= from);
    if (a.length < 2) continue;
    const phase = Math.min(...a.map((x, k) => x - k * intervalMs));
    for (let k = 0; k < a.length; k++) if (a[k] >= w0 && a[k] < w1) out.push(a[k] - (phase + k * intervalMs));
  }
  return out;
}

/**
 * Breaks farm target i (flap-<i>, whose playbook waits 1 s and verifies), waits for its incident through the API,
 * mends the target once the incident is open, and waits for it to resolve.
 */
async function breakAndMend(medic, farm, i) {
  // Polled with queries the live view answers (unresolved, or one id): a ?target= query reads the index.
  const api = `http://127.0.0.1:${medic.port}/api/incidents`;
  const brokeAt = await farm.breakTarget(i);
  const opened = await waitFor(
    `an incident on flap-${i}`,
    async () => {
      const r = await get(`${api}?state=unresolved&limit=100`, 10_000);
      return (
        r.status === 200 && JSON.parse(r.body).incidents.find((x) => x.target === `flap-${i}` && Date.parse(x.openedAt) >= brokeAt - 5)
      );
    },
    30_000,
    50,
  );
  const mendedAt = await farm.mendTarget(i);
  const done = await waitFor(
    `incident ${opened.id} to resolve`,
    async () => {
      const r = await get(`${api}/${opened.id}`, 10_000);
      const x = r.status === 200 && JSON.parse(r.body);
      return x && (x.state === "resolved" || x.state === "escalated") && x;
    },
    90_000,
    100,
  );
  return {
    id: opened.id,
    openedMs: Date.parse(opened.openedAt) - brokeAt,
    state: done.state,
    runs: Array.isArray(done.runs) ? done.runs.length : done.runs,
    resolvedMs: Date.parse(done.resolvedAt ?? done.updatedAt) - mendedAt,
  };
}

/**
 * GET /api/incidents?target=T&limit=50, three times one after the other: for a target with 100 incidents spread over
 * the history (svc-1), and for a watched target with none in it (flap-1), whose page never fills, so the whole index is read.
 */
async function byTarget(medic) {
  const out = {};
  for (const target of ["svc-1", "flap-1"]) {
    const ms = [];
    for (let k = 0; k < 3; k++) {
      const r = await get(`http://127.0.0.1:${medic.port}/api/incidents?target=${target}&limit=50`, 120_000);
      if (r.status !== 200) throw new Error(`GET /api/incidents?target=${target} answered ${r.status}`);
      ms.push(r.ms);
    }
    out[target] = ms;
  }
  return out;
}
