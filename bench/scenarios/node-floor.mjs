import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startFarm } from "../lib/farmctl.mjs";
import { stopChild } from "../lib/proc.mjs";

const CLIENT = fileURLToPath(new URL("../lib/floor-client.mjs", import.meta.url));

/**
 * What a bare Node.js process pays per HTTP check with a fresh connection, medic or not: a client
 * that does nothing else (bench/lib/floor-client.mjs), with node:http as medic's probe uses it and
 * with a raw socket, at medic's rates: 1,000 checks/s (10,000 targets at 10 s) started one by one (a
 * timer a millisecond) and in 50 ms beats, and 4 checks/s (20 targets at 5 s, the idle case). The
 * floor under medic's own figures.
 */
export async function nodeFloor({ seconds = 20, log }) {
  const farm = await startFarm(2000, 0);
  const rows = [];
  try {
    for (const [ratePerS, beatMs] of [
      [1000, 1],
      [1000, 50],
      [4, 250],
    ])
      for (const client of ["http", "net"]) {
        const child = spawn(process.execPath, [CLIENT, client, String(farm.port), String(ratePerS), String(beatMs), String(seconds)], {
          stdio: ["ignore", "pipe", "inherit"],
        });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        await new Promise((resolve) => child.on("exit", resolve));
        const r = JSON.parse(out);
        rows.push({ scenario: "node-floor", client, ratePerS, beatMs, node: process.version, ...r });
        log(
          `  node floor ${client} at ${ratePerS}/s: ${r.checks} checks, ${r.usPerCheck.toFixed(0)} µs CPU per check (user ${r.userUs.toFixed(0)}, system ${r.systemUs.toFixed(0)})`,
        );
      }
  } finally {
    await stopChild(farm.child);
  }
  return rows;
}
