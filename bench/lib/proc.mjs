import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

const TICKS = 100; // USER_HZ on Linux

/** Wall-clock milliseconds since the epoch, sub-millisecond. */
export const now = () => performance.timeOrigin + performance.now();

/** Resolves after ms. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / TICKS;
}

/** Current and peak resident memory of a process, in MB. */
export function memory(pid) {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? NaN);
  return { rssMB: kb("VmRSS") / 1024, peakMB: kb("VmHWM") / 1024 };
}

/** Polls until fn returns a truthy value, or throws after timeoutMs. */
export async function waitFor(what, fn, timeoutMs, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Runs a command to its end; resolves {code, stdout, stderr}. */
export function run(file, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", (err) => resolve({ code: -1, stdout, stderr: String(err) }));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Stops a child we started: SIGTERM, then SIGKILL after graceMs; resolves when it has exited. */
export async function stopChild(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(t);
}

/** Kills a pid if it is alive (used for processes a tool started for us, by their pid file). */
export function killPid(pid, signal = "SIGKILL") {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** True while pid exists and is not a zombie. */
export function alive(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    return !/^State:\s+Z/m.test(s);
  } catch {
    return false;
  }
}

/** Reads a pid file; undefined when missing or empty. */
export function readPid(file) {
  try {
    const n = Number.parseInt(readFileSync(file, "utf8").trim().split("\n")[0], 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Runs a process to its end: wall-clock ms from spawn to exit, its output, and its peak RSS (VmHWM, sampled every 20 ms). */
export function runTimed(file, args) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let peakMB = 0;
    const timer = setInterval(() => {
      try {
        const { peakMB: now } = memory(child.pid);
        if (Number.isFinite(now)) peakMB = Math.max(peakMB, now);
      } catch {
        // It has exited.
      }
    }, 20);
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => {
      clearInterval(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0, peakMB });
    });
  });
}
