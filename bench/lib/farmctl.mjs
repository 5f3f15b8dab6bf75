import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { get } from "./http.mjs";
import { waitFor } from "./proc.mjs";

const FARM = fileURLToPath(new URL("./farm.mjs", import.meta.url));

/** Starts the many-target server; resolves {child, port, url(i), stats(), breakTarget(i)}. */
export async function startFarm(n, hang) {
  const child = spawn(process.execPath, ["--max-old-space-size=2048", FARM, String(n), String(hang)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const port = Number(await waitFor("the target farm to listen", () => /listening (\d+)/.exec(out)?.[1], 10_000, 20));
  const base = `http://127.0.0.1:${port}`;
  return {
    child,
    port,
    url: (i) => `${base}/t/${i}`,
    async stats() {
      const r = await get(`${base}/_stats`, 30_000);
      return JSON.parse(r.body).arrivals;
    },
    async breakTarget(i) {
      const r = await get(`${base}/_break/${i}`, 5000);
      return Number(r.body);
    },
  };
}

/**
 * Schedule drift from request arrivals: for each target, round k should start at
 * first + k * interval (fixed rate); drift is the actual arrival minus that, for k >= 1.
 */
export function drifts(arrivals, intervalMs, from = 0, to = Infinity) {
  const out = [];
  for (const a of arrivals) {
    for (let k = 1; k < a.length; k++) {
      if (a[k] < from || a[k] > to) continue;
      out.push(a[k] - (a[0] + k * intervalMs));
    }
  }
  return out;
}
