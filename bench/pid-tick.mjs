#!/usr/bin/env node
// The cost of watching pids medic did not start (issue 19, part 2): every such pid shares one ticker
// (src/services/pid-ticker.ts), and each tick reads the pid's kept /proc/PID/stat descriptor.
//
//   npm run build && node bench/pid-tick.mjs [--idle-ms 15000]
//
// Two figures per count of `sleep` processes watched:
//   hot    CPU per pid per tick, ticks run back to back (the code path alone, caches warm);
//   idle   the whole process's CPU over --idle-ms with the real ticker at its own period, against the
//          same process watching nothing: what a quiet medic pays, wake-ups and cold caches included.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { adaptivePeriodMs, PidTicker } from "../dist/services/pid-ticker.js";
import { watchPidFile } from "../dist/services/process-watch.js";

const { values: o } = parseArgs({ options: { "idle-ms": { type: "string", default: "15000" } } });
const idleMs = Number(o["idle-ms"]);
const dir = mkdtempSync(join(tmpdir(), "medic-pid-tick-"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuMs = (c) => (c.user + c.system) / 1000;

async function idlePercent(ms) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(ms);
  return (cpuMs(process.cpuUsage(c0)) / (performance.now() - t0)) * 100;
}

const keepAlive = setInterval(() => {}, 1 << 30);
const baseline = await idlePercent(idleMs);
console.log(`watching nothing: ${baseline.toFixed(3)} % of a core`);
for (const n of [1, 20, 200]) {
  const kids = Array.from({ length: n }, () => spawn("sleep", ["3600"], { stdio: "ignore" }));
  await sleep(300);
  const watch = (ticker) =>
    kids.map((k, i) => {
      const file = join(dir, `${n}-${i}.pid`);
      writeFileSync(file, `${k.pid}\n`);
      return watchPidFile(file, () => console.log(`unexpected: pid ${k.pid} reported dead`), ticker);
    });
  // Hot: a ticker that never fires by itself, stepped by hand.
  const manual = new PidTicker(() => 3_600_000);
  let stops = watch(manual);
  const rounds = Math.max(200, Math.round(100_000 / n));
  for (let i = 0; i < 100; i++) manual.tick();
  const c0 = process.cpuUsage();
  for (let i = 0; i < rounds; i++) manual.tick();
  const hotUs = (cpuMs(process.cpuUsage(c0)) * 1000) / rounds / n;
  stops.forEach((stop) => stop());
  // Idle: the real period.
  stops = watch(new PidTicker());
  const idle = await idlePercent(idleMs);
  stops.forEach((stop) => stop());
  kids.forEach((k) => k.kill("SIGKILL"));
  const period = adaptivePeriodMs(n);
  console.log(
    `${n} pids: period ${period} ms (${Math.round((n * 1000) / period)} reads/s); hot ${hotUs.toFixed(2)} µs a pid a tick; ` +
      `idle ${idle.toFixed(3)} % of a core (${(idle - baseline).toFixed(3)} over watching nothing)`,
  );
}
clearInterval(keepAlive);
rmSync(dir, { recursive: true, force: true });
