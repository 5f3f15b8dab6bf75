import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFarm } from "../lib/farmctl.mjs";
import { startMedic } from "../lib/medic.mjs";
import { startMonit } from "../lib/monit.mjs";
import { toolOrder } from "../lib/recovery.mjs";
import { cpuSeconds, memory, now, sleep, stopChild } from "../lib/proc.mjs";

/** Requests the farm has received so far, all targets together. */
async function arrived(farm) {
  return (await farm.stats()).reduce((s, a) => s + a.length, 0);
}

/**
 * One tool checking n healthy HTTP targets of the farm every second (Monit: `set daemon 1`, one
 * `check host` per target; medic: interval 1s) for windowMs after a warm-up: its CPU time divided by
 * the requests the farm received meanwhile. Both tools see the same targets at the same rate.
 */
async function measure(tool, n, windowMs, warmupMs) {
  const dir = mkdtempSync(join(tmpdir(), `medic-bench-per-check-${tool}-`));
  const farm = await startFarm(n, 0);
  let watcher;
  try {
    if (tool === "medic") {
      const lines = [
        `stateDir: ${JSON.stringify(join(dir, "state"))}`,
        "playbooks: []",
        "defaults: { interval: 1s, timeout: 1s, failureThreshold: 1, successThreshold: 1 }",
        "targets:",
      ];
      for (let i = 0; i < n; i++) lines.push(`  - { name: t${i}, probe: { http: { url: "${farm.url(i)}" } } }`);
      watcher = await startMedic(dir, lines.join("\n") + "\n");
    } else {
      const checks = Array.from(
        { length: n },
        (_, i) =>
          `check host t${i} with address 127.0.0.1\n  if failed port ${farm.port} protocol http request "/t/${i}" with timeout 1 seconds then alert`,
      );
      watcher = startMonit(dir, checks.join("\n"));
      watcher.pid = watcher.child.pid;
    }
    await sleep(warmupMs);
    const [c0, r0, t0] = [cpuSeconds(watcher.pid), await arrived(farm), now()];
    await sleep(windowMs);
    const [c1, r1, t1] = [cpuSeconds(watcher.pid), await arrived(farm), now()];
    const checks = r1 - r0;
    return {
      scenario: "per-check",
      tool,
      targets: n,
      windowMs: Math.round(t1 - t0),
      checks,
      checksPerS: checks / ((t1 - t0) / 1000),
      cpuS: c1 - c0,
      usPerCheck: ((c1 - c0) / checks) * 1e6,
      rssMB: memory(watcher.pid).rssMB,
    };
  } finally {
    await stopChild(watcher?.child, 10_000);
    await stopChild(farm.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * CPU per healthy HTTP check, medic against Monit on the same targets at the same rate, `reps`
 * times each, alternating which goes first. Monit checks its targets one after another each cycle.
 */
export async function perCheck({ targets = 200, reps = 5, windowMs = 30_000, warmupMs = 5000, log }) {
  const rows = [];
  for (let rep = 1; rep <= reps; rep++)
    for (const tool of toolOrder(rep)) {
      const row = { ...(await measure(tool, targets, windowMs, warmupMs)), rep };
      rows.push(row);
      log(
        `  per-check ${tool} rep ${rep}: ${row.checks} checks (${row.checksPerS.toFixed(0)}/s), ${row.cpuS.toFixed(2)} s CPU, ${row.usPerCheck.toFixed(0)} µs per check`,
      );
    }
  return rows;
}
