import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { get } from "./http.mjs";
import { waitFor } from "./proc.mjs";

const FARM = fileURLToPath(new URL("./farm.mjs", import.meta.url));

/** Starts the many-target server; resolves {child, port, url(i), hookUrl, stats(), breakTarget(i), mendTarget(i), hooks()}. */
export async function startFarm(n, hang) {
  const child = spawn(process.execPath, ["--max-old-space-size=2048", FARM, String(n), String(hang)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const port = Number(await waitFor("the target farm to listen", () => /listening (\d+)/.exec(out)?.[1], 10_000, 20));
  const base = `http://127.0.0.1:${port}`;
  return {
    child,
    port,
    url: (i) => `${base}/t/${i}`,
    hookUrl: `${base}/_hook`,
    async stats() {
      const r = await get(`${base}/_stats`, 30_000);
      return JSON.parse(r.body).arrivals;
    },
    async breakTarget(i) {
      const r = await get(`${base}/_break/${i}`, 5000);
      return Number(r.body);
    },
    async mendTarget(i) {
      const r = await get(`${base}/_mend/${i}`, 5000);
      return Number(r.body);
    },
    /** Posts the stand-in webhook has answered. */
    async hooks() {
      const r = await get(`${base}/_hooks`, 5000);
      return Number(r.body);
    },
  };
}

/**
 * Schedule drift from request arrivals. medic runs each target at a fixed rate (phase + k * interval),
 * so a target's rounds line up once the phase is known; the phase is taken from its most punctual
 * round (min over k of arrival - k * interval), and drift is each round's lateness against it.
 * Rounds arriving before `from` (start-up) are left out.
 */
export function drifts(arrivals, intervalMs, from = 0) {
  const out = [];
  for (const a of arrivals) {
    if (a.length < 2) continue;
    const phase = Math.min(...a.map((x, k) => x - k * intervalMs));
    for (let k = 0; k < a.length; k++) if (a[k] >= from) out.push(a[k] - (phase + k * intervalMs));
  }
  return out;
}
