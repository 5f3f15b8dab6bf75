#!/usr/bin/env node
// Draws the bench's charts (bench/lib/charts.mjs) from saved results, several runs' rows together:
//   node bench/charts.mjs bench/results/A.json [B.json…] [--out DIR]
// One file: the charts go to the directory named after it (A.json → A/), where `npm run bench` puts them. Several files
// need --out. Rows of a kind that none of the files holds yield no chart.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { writeCharts } from "./lib/charts.mjs";

const { values: o, positionals: files } = parseArgs({ options: { out: { type: "string" } }, allowPositionals: true });
const fail = (message) => {
  process.stderr.write(`charts: ${message}\n`);
  process.exit(2);
};
if (!files.length) fail("no result files (usage: node bench/charts.mjs bench/results/A.json [B.json…] [--out DIR])");
if (files.length > 1 && !o.out) fail(`${files.length} result files: say where their charts go with --out DIR`);
const out = o.out ?? files[0].replace(/\.json$/, "");
if (out === files[0]) fail(`${files[0]} does not end in .json: say where its charts go with --out DIR`);

const rows = files.flatMap((file, source) => {
  let rows;
  try {
    rows = JSON.parse(readFileSync(file, "utf8")).rows;
  } catch (err) {
    fail(`${file}: ${err.message} (hint: pass the JSON files that bench/run.mjs writes to bench/results/)`);
  }
  if (!Array.isArray(rows)) fail(`${file}: no "rows" array (hint: pass the JSON files that bench/run.mjs writes to bench/results/)`);
  // Repetitions pair up within one run only: rep 3 of one file is not rep 3 of another.
  return rows.map((r) => ({ ...r, source }));
});
const written = writeCharts(rows, out);
process.stdout.write(written.length ? written.map((p) => `charts: wrote ${p}\n`).join("") : "charts: the files hold no rows to chart\n");
