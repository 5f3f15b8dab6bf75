import { request } from "node:http";
import { createServer } from "node:net";
import { now } from "./proc.mjs";

/** One GET; resolves {status, ms} or {status: 0} on error or timeout. */
export function get(url, timeoutMs = 500) {
  return new Promise((resolve) => {
    const t0 = now();
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, ms: now() - t0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve({ status: 0, ms: now() - t0 }));
    req.end();
  });
}

/** A port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Polls url every everyMs until it answers 200; resolves the wall-clock time of that answer. */
export async function firstHealthy(url, { timeoutMs = 60_000, everyMs = 20, probeTimeoutMs = 300 } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await get(url, probeTimeoutMs);
    if (r.status === 200) return now();
    await new Promise((res) => setTimeout(res, everyMs));
  }
  return NaN;
}
