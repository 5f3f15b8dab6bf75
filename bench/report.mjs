#!/usr/bin/env node
// Prints the tables of one or more result files together: node bench/report.mjs bench/results/A.json [B.json…]
import { readFileSync } from "node:fs";
import { clusterTable, recoveryTable, scaleTable } from "./lib/report.mjs";

const rows = process.argv.slice(2).flatMap((f) => JSON.parse(readFileSync(f, "utf8")).rows);
const recovery = rows.filter((r) => r.break);
if (recovery.length) process.stdout.write(recoveryTable(recovery) + "\n\n");
const rest = rows.filter((r) => !r.break && r.scenario !== "cluster");
if (rest.length) process.stdout.write(scaleTable(rest) + "\n");
const cluster = rows.filter((r) => r.scenario === "cluster");
if (cluster.length) process.stdout.write("\n" + clusterTable(cluster) + "\n");
