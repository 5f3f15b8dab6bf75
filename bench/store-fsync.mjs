#!/usr/bin/env node
// The event-loop cost of making records durable (issue 15: "measure the event-loop cost of fsync
// per record at 10,000 targets with 10 % flapping"). The same stream of records is written two
// ways, each in a fresh state dir:
//   each   the single-file journal of the medic before segments: write + fdatasync per record,
//          on the event loop (JournalStore in src/incidents/journal.ts, deleted since: its write
//          path is reproduced below, without its in-memory fold of the records)
//   group  the file store: write per record, fdatasync batched in libuv's pool; every action
//          (a step starting, a notification sent) first awaits flushed(), as the action gate will
//
//   npm run build && node bench/store-fsync.mjs [--seconds 20] [--burst]
//
// The fleet: 10,000 targets, 1,000 of them flapping. A flapping target fails once a minute: its
// incident opens, a playbook runs (start, step, verify), it resolves 3 s later, and Slack is told
// twice (queued, then sent): 11 records a flap, about 180 records a second across the fleet, spread
// evenly (or, with --burst, every flapping target failing in the same second, as when a shared
// dependency breaks). The other 9,000 targets are healthy and write nothing. Measured: event-loop
// delay (monitorEventLoopDelay, 1 ms resolution), event-loop utilisation, the time spent inside
// append, and how long an action waited for its records to be durable.
import { mkdirSync, mkdtempSync, rmSync, writeSync, openSync, fdatasyncSync, fstatSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { AppendFile } from "../dist/store/file/append-file.js";
import { openFileStore } from "../dist/store/file/open.js";
import { percentile } from "./lib/stats.mjs";

const { values: o } = parseArgs({ options: { seconds: { type: "string", default: "20" }, burst: { type: "boolean" } } });
const SECONDS = Number(o.seconds);
const FLAPPING = 1000;
const PERIOD_MS = 60_000;
const log = (line) => process.stdout.write(line + "\n");

const base = mkdtempSync(join(tmpdir(), "medic-bench-fsync-"));
try {
  log(`bench: ${diskSync(base)}`);
  const results = {};
  for (const mode of ["each", "group"]) results[mode] = await fleet(mode, join(base, mode));
  for (const [mode, r] of Object.entries(results)) {
    log(
      `bench: ${mode.padEnd(5)} ${r.records} records in ${r.seconds.toFixed(1)} s (${Math.round(r.records / r.seconds)}/s), ${r.syncs} fdatasyncs; ` +
        `event-loop delay p50 ${r.delay.p50.toFixed(1)} ms, p99 ${r.delay.p99.toFixed(1)} ms, max ${r.delay.max.toFixed(1)} ms; ` +
        `event loop busy ${(r.elu * 100).toFixed(1)} %; inside append ${(r.appendMs / r.seconds / 10).toFixed(2)} % of the time ` +
        `(p99 ${r.append.p99.toFixed(3)} ms); an action waited for durability p50 ${r.durable.p50.toFixed(2)} ms, p99 ${r.durable.p99.toFixed(2)} ms`,
    );
  }
} finally {
  rmSync(base, { recursive: true, force: true });
}

// What one write + fdatasync costs on this disk, on its own.
function diskSync(dir) {
  const fd = openSync(join(dir, "probe"), "a");
  const line = Buffer.alloc(300, "x");
  const ms = [];
  for (let i = 0; i < 300; i++) {
    const t = performance.now();
    writeSync(fd, line);
    fdatasyncSync(fd);
    ms.push(performance.now() - t);
  }
  closeSync(fd);
  return `one 300-byte write + fdatasync on this disk: p50 ${percentile(ms, 50).toFixed(3)} ms, p99 ${percentile(ms, 99).toFixed(3)} ms`;
}

async function fleet(mode, stateDir) {
  let syncs = 0;
  const store =
    mode === "each" ? legacy(stateDir, () => syncs++) : await openFileStore({ stateDir, recentMs: 3600_000, maintainEveryMs: 5000 });
  if (mode === "group") {
    const sync = AppendFile.prototype.sync;
    AppendFile.prototype.sync = function () {
      syncs++;
      return sync.call(this);
    };
  }
  const appendMs = [];
  const durableMs = [];
  let records = 0;
  const append = (id, event) => {
    const t = performance.now();
    store.append(id, event, Date.now());
    appendMs.push(performance.now() - t);
    records++;
  };
  // The action gate: nothing acts before its records are durable.
  const gate = async () => {
    const t = performance.now();
    await store.flushed();
    durableMs.push(performance.now() - t);
  };
  const flap = async (target, n) => {
    const id = `${target}-${n}`;
    const run = `${id}-1`;
    append(id, { type: "opened", target, kind: "server_down", severity: "P1", evidence: "connect ECONNREFUSED 127.0.0.1:8080" });
    append(id, { type: "notification_queued", notification: note(id, target, "trigger") });
    append(id, {
      type: "playbook_started",
      runId: run,
      playbook: "restart",
      steps: [{ name: "restart", kind: "service.restart", description: `restart ${target}` }],
    });
    await gate();
    append(id, { type: "step_started", runId: run, index: 0 });
    await gate();
    await sleep(300);
    append(id, { type: "notification_sent", id: `${id}-trigger`, channel: "slack" });
    await sleep(700);
    append(id, { type: "step_finished", runId: run, index: 0, outcome: "ok", detail: "restarted", durationMs: 1000 });
    append(id, { type: "verifying", runId: run, withinMs: 30_000 });
    await sleep(2000);
    append(id, { type: "resolved", reason: "verified: healthy for 2 rounds" });
    append(id, { type: "notification_queued", notification: note(id, target, "resolve") });
    await gate();
    await sleep(300);
    append(id, { type: "notification_sent", id: `${id}-resolve`, channel: "slack" });
  };
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const elu0 = performance.eventLoopUtilization();
  delay.enable();
  const t0 = performance.now();
  const flaps = [];
  const timers = [];
  for (let i = 0; i < FLAPPING; i++) {
    const offset = o.burst ? 0 : (i / FLAPPING) * PERIOD_MS;
    for (let n = 0; offset + n * PERIOD_MS < SECONDS * 1000; n++)
      timers.push(setTimeout(() => flaps.push(flap(`svc-${i}`, n)), offset + n * PERIOD_MS));
  }
  await sleep(SECONDS * 1000);
  await Promise.all(flaps);
  const seconds = (performance.now() - t0) / 1000;
  delay.disable();
  const elu = performance.eventLoopUtilization(elu0).utilization;
  await store.close();
  return {
    records,
    seconds,
    syncs,
    elu,
    appendMs: appendMs.reduce((a, b) => a + b, 0),
    append: { p99: percentile(appendMs, 99) },
    durable: { p50: percentile(durableMs, 50), p99: percentile(durableMs, 99) },
    delay: { p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
  };
}

// The old journal's write path behind the interface this bench drives: per record, a check that the
// file is still linked, JSON.stringify, writeSync and fdatasyncSync on an append fd, all on the event loop.
function legacy(stateDir, counted) {
  mkdirSync(stateDir, { recursive: true });
  const fd = openSync(join(stateDir, "journal.jsonl"), "a+");
  return {
    append(incident, event, at) {
      if (fstatSync(fd).nlink === 0) throw new Error("journal.jsonl was deleted");
      const line = Buffer.from(JSON.stringify({ ...event, at, incident }) + "\n");
      for (let done = 0; done < line.length;) done += writeSync(fd, line, done, line.length - done);
      fdatasyncSync(fd);
      counted();
    },
    flushed: () => Promise.resolve(),
    close: async () => closeSync(fd),
  };
}

function note(incident, target, event) {
  return { id: `${incident}-${event}`, incident, channel: "slack", event, severity: "P1", target, kind: "server_down", reason: event };
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
