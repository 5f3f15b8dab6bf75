#!/usr/bin/env node
// `npm run bench`: medic against Monit on this machine. Options:
//   --only process,process-child,container,postgres,postgres-child,scale,monit-scale,idle,per-check,node-floor,history,cluster,soak   (default: all but soak)
//   --reps N (default 20: repetitions per scenario and break, each one medic and one Monit, alternating which goes first)
//   --process-breaks kill,hang (default both)   --sizes 500,2000,10000,25000   --monit-sizes 500,2000   --idle-ms 120000   --scale-ms 45000
//   --per-check-targets 200   --per-check-reps 5   (CPU per healthy check, medic and Monit on the same targets at 1 s)
//   --history-records 1000000   --history-big 5000000 (0 skips it)   --soak-ms 1800000
//   --cluster-reps 20 (kill -9 failovers)   --cluster-stall-reps 5 (SIGSTOP failovers)   --cluster-load-ms 120000   --cluster-drift-ms 60000
//   (the cluster's store against the file store uses --reps kills)
// Environment: BENCH_TOOLS=medic|monit runs one side of part 1 only; BENCH_KEEP=1 keeps its temp dirs (logs, journals).
// Writes bench/results/<stamp>.json and its charts, bench/results/<stamp>/*.svg (bench/lib/charts.mjs names them).
// `node bench/report.mjs FILE…` prints the tables of saved results together; `node bench/charts.mjs FILE… --out DIR` draws their charts.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { monitVersion } from "./lib/monit.mjs";
import { run } from "./lib/proc.mjs";
import { writeCharts } from "./lib/charts.mjs";
import { measureRecovery } from "./lib/recovery.mjs";
import { clusterTable, historyTable, recoveryTable, scaleTable, soakTable } from "./lib/report.mjs";
import { clusterMedic } from "./scenarios/cluster.mjs";
import { containerSubject } from "./scenarios/container.mjs";
import { postgresChildSubject, postgresSubject } from "./scenarios/postgres.mjs";
import { processChildSubject, processSubject } from "./scenarios/process.mjs";
import { historyMedic } from "./scenarios/history.mjs";
import { idleMedic, scaleMedic, scaleMonit } from "./scenarios/scale.mjs";
import { soakMedic } from "./scenarios/soak.mjs";
import { perCheck } from "./scenarios/per-check.mjs";
import { nodeFloor } from "./scenarios/node-floor.mjs";

const { values: o } = parseArgs({
  options: {
    only: {
      type: "string",
      default: "process,process-child,container,postgres,postgres-child,scale,monit-scale,idle,per-check,node-floor,history,cluster",
    },
    reps: { type: "string", default: "20" },
    "process-breaks": { type: "string", default: "kill,hang" },
    sizes: { type: "string", default: "500,2000,10000,25000" },
    "monit-sizes": { type: "string", default: "500,2000" },
    "idle-ms": { type: "string", default: "120000" },
    "scale-ms": { type: "string", default: "45000" },
    "history-records": { type: "string", default: "1000000" },
    "history-big": { type: "string", default: "5000000" },
    "soak-ms": { type: "string", default: "1800000" },
    "per-check-targets": { type: "string", default: "200" },
    "per-check-reps": { type: "string", default: "5" },
    "cluster-reps": { type: "string", default: "20" },
    "cluster-stall-reps": { type: "string", default: "5" },
    "cluster-load-ms": { type: "string", default: "120000" },
    "cluster-drift-ms": { type: "string", default: "60000" },
  },
});
const only = new Set(o.only.split(","));
const reps = Number(o.reps);
const log = (line) => process.stdout.write(line + "\n");
const started = new Date();

const needsMonit =
  ["process", "process-child", "container", "postgres", "postgres-child", "monit-scale", "per-check"].some((s) => only.has(s)) &&
  process.env.BENCH_TOOLS !== "medic";
if (needsMonit && !(await monitVersion())) {
  log("bench: monit is not installed (apt-get install monit; `npm run bench` does it when root)");
  process.exit(1);
}
const machine = {
  cpus: `${cpus().length} × ${cpus()[0]?.model}`,
  kernel: release(),
  node: process.version,
  monit: (await monitVersion()) ?? "not installed",
  docker: (await run("docker", ["version", "--format", "{{.Server.Version}}"])).stdout.trim(),
  postgres: (await run("/usr/lib/postgresql/15/bin/postgres", ["--version"])).stdout.trim(),
};
log(`bench: ${JSON.stringify(machine)}`);

const rows = [];
const runs = [];
const step = async (name, fn) => {
  if (!only.has(name)) return;
  const t0 = Date.now();
  log(`bench: ${name}…`);
  try {
    const r = await fn();
    rows.push(...(Array.isArray(r) ? r : [r]));
    runs.push({ name, ok: true, seconds: (Date.now() - t0) / 1000 });
  } catch (err) {
    log(`bench: ${name} failed: ${err?.stack ?? err}`);
    runs.push({ name, ok: false, error: String(err), seconds: (Date.now() - t0) / 1000 });
  }
};

await step("process", () => measureRecovery({ subject: processSubject, breaks: o["process-breaks"].split(","), reps, log }));
// The service down at first: the tool starts it (medic's child), then the bench kills it.
await step("process-child", () => measureRecovery({ subject: processChildSubject, breaks: ["kill"], reps, log }));
await step("container", () => measureRecovery({ subject: containerSubject, breaks: ["kill"], reps, log }));
await step("postgres", () => measureRecovery({ subject: postgresSubject, breaks: ["stop-immediate"], reps, log }));
await step("postgres-child", () => measureRecovery({ subject: postgresChildSubject, breaks: ["stop-immediate"], reps, log }));
for (const n of o.sizes.split(",").map(Number)) await step("scale", () => scaleMedic(n, { durationMs: Number(o["scale-ms"]), log }));
for (const n of o["monit-sizes"].split(",").map(Number))
  await step("monit-scale", () => scaleMonit(n, { maxMs: n * 0.1 * 1000 * 1.15 + 20_000, log }));
await step("idle", () => idleMedic({ durationMs: Number(o["idle-ms"]), log }));
await step("per-check", () => perCheck({ targets: Number(o["per-check-targets"]), reps: Number(o["per-check-reps"]), log }));
await step("node-floor", () => nodeFloor({ log }));
await step("history", () => historyMedic({ records: Number(o["history-records"]), big: Number(o["history-big"]), log }));
await step("cluster", () =>
  clusterMedic({
    killReps: Number(o["cluster-reps"]),
    stallReps: Number(o["cluster-stall-reps"]),
    loadMs: Number(o["cluster-load-ms"]),
    driftMs: Number(o["cluster-drift-ms"]),
    reps,
    log,
  }),
);
await step("soak", () => soakMedic({ durationMs: Number(o["soak-ms"]), log }));

const tables = [
  recoveryTable(rows.filter((r) => r.break)),
  scaleTable(rows.filter((r) => !r.break)),
  clusterTable(rows.filter((r) => r.scenario === "cluster")),
  historyTable(rows.filter((r) => r.scenario === "history")),
  soakTable(rows.filter((r) => r.scenario === "soak")),
]
  .filter((t) => t.split("\n").length > 2)
  .join("\n\n");
log("\n" + tables + "\n");
const dir = fileURLToPath(new URL("./results/", import.meta.url));
mkdirSync(dir, { recursive: true });
const stamp = started.toISOString().replace(/[:.]/g, "-");
const file = `${dir}${stamp}.json`;
writeFileSync(
  file,
  JSON.stringify({ started: started.toISOString(), argv: process.argv.slice(2), machine, runs, rows, tables }, null, 2) + "\n",
);
log(`bench: wrote ${file}`);
// The charts go beside the JSON, in a directory of the same name; `node bench/charts.mjs FILE…` draws them again, or several runs together.
try {
  for (const path of writeCharts(rows, `${dir}${stamp}`)) log(`bench: wrote ${path}`);
} catch (err) {
  log(`bench: the charts failed (${err?.stack ?? err}); the results are saved: node bench/charts.mjs ${file}`);
}
