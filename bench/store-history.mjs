#!/usr/bin/env node
// The file store with a long history (issue 15, "Figures to reach"): a journal of N records in the
// single-file format of the medic before segments is migrated on a first start, then the store is
// opened again as on any later start, and `medic incidents` reads it.
//
//   npm run build && node bench/store-history.mjs --records 1000000 [--days 80] [--keep]
//
// The history is a flapping fleet: 10 records per incident (opening, a playbook run with its step,
// verification, resolve, two notifications sent), incidents evenly over the last `--days` days
// (80 by default: inside the 90-day retention, so nothing is pruned and the index is as large as
// it gets), 20 of them still open, over 10,000 targets. Each figure comes from its own process.
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { writeLegacyJournal } from "../dist/store/file/legacy-kit.js";
import { runTimed as timed } from "./lib/proc.mjs";

const { values: o } = parseArgs({
  options: { records: { type: "string", default: "1000000" }, days: { type: "string", default: "80" }, keep: { type: "boolean" } },
});
const records = Number(o.records);
const days = Number(o.days);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MEDIC = join(ROOT, "dist/cli/main.js");
const log = (line) => process.stdout.write(line + "\n");

const base = mkdtempSync(join(tmpdir(), "medic-bench-store-"));
const stateDir = join(base, "state");
const mb = (bytes) => (bytes / 1024 / 1024).toFixed(0);
try {
  const now = Date.now();
  const incidents = Math.round(records / 10);
  const span = days * 24 * 3600_000;
  let t = performance.now();
  const written = writeLegacyJournal(stateDir, { incidents, startAt: now - span, everyMs: span / incidents, open: 20, targets: 10_000 });
  log(
    `bench: wrote ${written} records (${incidents} incidents over ${days} days) in the single-file format: ${mb(statSync(join(stateDir, "journal.jsonl")).size)} MB, ${Math.round(performance.now() - t)} ms`,
  );

  // 1. The first start of the new medic: the migration (once), in its own process.
  const migration = await timed(process.execPath, [join(ROOT, "bench/lib/store-open.mjs"), stateDir]);
  const migrated = JSON.parse(migration.stdout.trim().split("\n").at(-1));
  log(
    `bench: first start (migration + open): ${Math.round(migrated.openMs)} ms; peak RSS ${migration.peakMB.toFixed(0)} MB; live ${migrated.live}, seq ${migrated.seq}`,
  );
  const dir = join(stateDir, "journal");
  const files = readdirSync(dir);
  const size = (re) => files.filter((f) => re.test(f)).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  log(
    `bench: on disk: ${files.filter((f) => /^\d{8}\.jsonl$/.test(f)).length} segments ${mb(size(/^\d{8}\.jsonl$/))} MB, index ${mb(size(/index/))} MB, snapshot ${mb(size(/snapshot/))} MB`,
  );

  // 2. Any later start: the snapshot and its (empty) tail.
  const second = await timed(process.execPath, [join(ROOT, "bench/lib/store-open.mjs"), stateDir]);
  const opened = JSON.parse(second.stdout.trim().split("\n").at(-1));
  log(
    `bench: start: store open ${Math.round(opened.openMs)} ms; RSS after start ${opened.rssAfterOpenMB.toFixed(0)} MB (heap ${opened.heapAfterOpenMB.toFixed(0)} MB), peak ${second.peakMB.toFixed(0)} MB; live ${opened.live}`,
  );
  for (const [name, s] of Object.entries(opened.history))
    log(`bench: history ${name}: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms`);

  // 3. The CLI, a process of its own each time, wall clock from spawn to exit.
  for (const args of [["--since", "24h"], ["--since", "24h", "--all", "--json"], [], ["show", "00000001"]]) {
    const cli = await timed(process.execPath, [MEDIC, "incidents", ...args, "--state-dir", stateDir]);
    if (cli.code !== 0) throw new Error(`medic incidents ${args.join(" ")} exited ${cli.code}: ${cli.stderr}`);
    log(
      `bench: medic incidents ${args.join(" ")}: ${Math.round(cli.ms)} ms (${cli.stdout.split("\n").length - 1} lines), peak RSS ${cli.peakMB.toFixed(0)} MB`,
    );
  }
  // A bare node process, for scale: what medic's process holds before the store.
  const bare = await timed(process.execPath, ["-e", "setTimeout(() => console.log(process.memoryUsage().rss / 1048576), 200)"]);
  log(`bench: a bare node process: RSS ${Number(bare.stdout).toFixed(0)} MB`);
} finally {
  if (o.keep) log(`bench: kept ${base}`);
  else rmSync(base, { recursive: true, force: true });
}
