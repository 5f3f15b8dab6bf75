import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { JournalRecord } from "../src/incidents/types.js";
import { parseJournal } from "../src/incidents/journal-read.js";
import { isAlive, readPidFile } from "../src/lib/proc.js";

/** The built CLI and demo service (npm test builds before it runs the suite). */
export const ROOT = resolve(import.meta.dirname, "..");
export const MEDIC = join(ROOT, "dist/cli/main.js");
export const SERVICE = join(ROOT, "dist/demo/service.js");
export const SHIPPED_PLAYBOOKS = join(ROOT, "playbooks");

/** A temp dir removed by `cleanup()`. */
export function tempDir(prefix = "medic-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const cleanups: (() => void | Promise<void>)[] = [];
/** Runs `fn` at cleanup(), before what was registered earlier. */
export function onCleanup(fn: () => void | Promise<void>): void {
  cleanups.push(fn);
}
/** Undo everything this file's tests started; call in afterEach. */
export async function cleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn();
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer().once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

/** A running `medic` child process with its output collected. */
export interface MedicProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/**
 * Starts `node dist/cli/main.js ...args`; killed with SIGKILL by cleanup() if still running. `run`
 * gets `--api-listen 127.0.0.1:0` unless it says otherwise, so concurrent medics never share a port
 * (the "api listening" log line says which one it got: apiUrl()).
 */
export function startMedic(args: string[], env: Record<string, string> = {}): MedicProcess {
  const argv =
    args[0] === "run" && !args.some((a) => a === "--api-listen" || a.startsWith("--api-listen="))
      ? [...args, "--api-listen", "127.0.0.1:0"]
      : args;
  const child = spawn(process.execPath, [MEDIC, ...argv], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((ok) => child.once("exit", (code) => ok(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** The base URL of a running medic's API, from its "api listening" log line (waits for it). */
export async function apiUrl(p: MedicProcess, timeoutMs = 10_000): Promise<string> {
  return waitUntil(
    () => {
      if (p.child.exitCode !== null)
        throw new Error(`medic exited (${p.child.exitCode}) before its API listened: ${p.stderr()}${p.stdout().slice(-1000)}`);
      return /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"api listening"/.exec(p.stdout())?.[1];
    },
    timeoutMs,
    "medic's api listening line",
  );
}

/** Runs medic to completion. */
export async function medic(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = startMedic(args, env);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** Starts the demo HTTP service on `port`, detached and tracked by `pidFile`, as medic's process service would. */
export async function startService(dir: string, port: number, pidFile: string): Promise<number> {
  const child = spawn(process.execPath, [SERVICE, String(port), dir], { detached: true, stdio: "ignore" });
  child.unref();
  writeFileSync(pidFile, `${child.pid}\n`);
  killOnCleanup(pidFile);
  await waitUntil(
    async () =>
      await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.ok,
        () => false,
      ),
    10_000,
    "the service to answer",
  );
  return child.pid!;
}

/** Kills whatever the pid file names at cleanup (the service medic restarted, say). */
export function killOnCleanup(pidFile: string): void {
  cleanups.push(async () => {
    const pid = await readPidFile(pidFile);
    if (pid && (await isAlive(pid))) process.kill(-pid, "SIGKILL");
  });
}

/** Polls until `fn` is truthy; throws naming `what` after `timeoutMs`. */
export async function waitUntil<T>(fn: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The journal files of a state dir, oldest first, whatever its layout: the segments of the file
 * store (journal/00000001.jsonl, ...), and a single-file journal.jsonl an older medic wrote that
 * is not migrated yet (it comes last: a store that finds one migrates it at its next start).
 */
export function journalFiles(stateDir: string): string[] {
  const dir = join(stateDir, "journal");
  let segments: string[] = [];
  try {
    segments = readdirSync(dir)
      .filter((n) => /^\d{8}\.jsonl$/.test(n))
      .sort()
      .map((n) => join(dir, n));
  } catch {
    // No segments yet.
  }
  const legacy = join(stateDir, "journal.jsonl");
  return existsSync(legacy) ? [...segments, legacy] : segments;
}

/** The journal's text in a state dir, its files one after the other ("" when there is none). */
export function journalText(stateDir: string): string {
  return journalFiles(stateDir)
    .map((f) => {
      try {
        return readFileSync(f, "utf8");
      } catch {
        return "";
      }
    })
    .join("");
}

/** The journal's records in a state dir, oldest first (empty when there is none). */
export function journal(stateDir: string): JournalRecord[] {
  return parseJournal(journalText(stateDir)).records;
}

/** Appends raw text to the journal file being written (a crash's half line, say). */
export function appendToJournal(stateDir: string, text: string): void {
  const last = journalFiles(stateDir).at(-1);
  if (!last) throw new Error(`no journal in ${stateDir}`);
  appendFileSync(last, text);
}

/** A shell command that prints a state dir's journal, whatever its layout (for tests that read it inside a container). */
export function catJournal(stateDir: string): string {
  return `cat ${stateDir}/journal/????????.jsonl ${stateDir}/journal.jsonl 2>/dev/null || true`;
}

/** A medic.yaml for one target watching the demo service with a process service. */
export function serviceConfig(dir: string, port: number, extra: { playbooks?: string; interval?: string } = {}): string {
  return `stateDir: ${JSON.stringify(join(dir, "state"))}
playbooks: [${JSON.stringify(extra.playbooks ?? SHIPPED_PLAYBOOKS)}]
defaults: { interval: ${extra.interval ?? "200ms"}, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
targets:
  - name: api
    probe: { http: { url: "http://127.0.0.1:${port}/health" } }
    service:
      process:
        start: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SERVICE)}, "${port}", ${JSON.stringify(dir)}]
        pidFile: api.pid
        stopTimeout: 2s
`;
}

/** A health target the test breaks and heals by hand: `set` its status and JSON body (UP below 400, DOWN from 400 unless given). */
export async function switchableTarget(): Promise<{ url: string; set(status: number, body?: unknown): void }> {
  let status = 200;
  let body: unknown = { status: "UP" };
  const server = createHttpServer((_req, res) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body)));
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  onCleanup(() => new Promise<void>((ok) => server.close(() => ok())));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/health`,
    set(s, b = { status: s < 400 ? "UP" : "DOWN" }) {
      status = s;
      body = b;
    },
  };
}
