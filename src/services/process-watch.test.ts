import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { childExitListenerCount } from "../lib/children.js";
import { spawnDetached, type DetachedProcess } from "../lib/exec.js";
import { identityNow, writeIdentity } from "../lib/process-identity.js";
import type { WatchEvent } from "../probes/types.js";
import { adaptivePeriodMs, PID_READS_PER_SECOND, PID_TICK_MIN_MS, PidTicker } from "./pid-ticker.js";
import { watchPidFile } from "./process-watch.js";

const children: ChildProcess[] = [];
const detached: number[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  for (const pid of detached.splice(0)) kill(pid);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** A process this medic did not start through spawnDetached: no exit of it is ever told to the watch. */
function sleeper(): ChildProcess {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  children.push(child);
  return child;
}

/** A process medic started, as the process service starts one. */
async function medicChild(): Promise<DetachedProcess> {
  const child = await spawnDetached("sleep", ["60"], {});
  detached.push(child.pid);
  return child;
}

/** A process started by another parent that has exited since: what a service is to a medic restarted after starting it. */
async function orphan(): Promise<number> {
  const parent = spawn(process.execPath, [
    "-e",
    `const c = require("node:child_process").spawn("sleep", ["60"], { detached: true, stdio: "ignore" }); c.unref(); console.log(c.pid);`,
  ]);
  let out = "";
  parent.stdout.on("data", (d: Buffer) => (out += d.toString()));
  await once(parent, "close");
  const pid = Number(out.trim());
  detached.push(pid);
  return pid;
}

function pidFile(pid: number | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), "medic-pidwatch-"));
  dirs.push(dir);
  const file = join(dir, "svc.pid");
  if (pid !== undefined) writeFileSync(file, `${pid}\n`);
  return file;
}

/** Events as they come, and a promise for the next one. */
function recorder() {
  const events: WatchEvent[] = [];
  let wake = (): void => {};
  return {
    events,
    onEvent: (e: WatchEvent) => {
      events.push(e);
      wake();
    },
    next: () => new Promise<void>((ok) => (wake = ok)),
  };
}

const exited = (child: ChildProcess) => new Promise((ok) => child.once("exit", ok));
const exitedOf = (pid: number, file: string): WatchEvent => ({ what: `pid ${pid} (from ${file}) exited`, confirmsFailure: true });
/** A ticker that never ticks in a test's lifetime: what arrives came from a child's exit. */
const hourTicker = () => new PidTicker(() => 3_600_000);

describe("watchPidFile", () => {
  it("reports once when the process it saw alive is killed", async () => {
    const child = sleeper();
    const file = pidFile(child.pid);
    const ticker = new PidTicker(() => 3_600_000);
    const rec = recorder();
    const stop = watchPidFile(file, rec.onEvent, ticker);
    try {
      ticker.tick();
      expect(rec.events).toEqual([]);
      child.kill("SIGKILL");
      await exited(child);
      ticker.tick();
      ticker.tick();
      expect(rec.events).toEqual([exitedOf(child.pid!, file)]);
    } finally {
      stop();
    }
  });

  it("says nothing when the pid file moves to another live process or goes away, and nothing after unwatch", async () => {
    const [a, b, c] = [sleeper(), sleeper(), sleeper()];
    const file = pidFile(a.pid);
    const ticker = hourTicker();
    const rec = recorder();
    const stop = watchPidFile(file, rec.onEvent, ticker);
    ticker.tick();
    // Restarted by someone else: the pid file names the new process before the old one is gone.
    writeFileSync(file, `${b.pid}\n`);
    a.kill("SIGKILL");
    await exited(a);
    ticker.tick();
    // Stopped on purpose: the pid file is removed with the process.
    rmSync(file);
    b.kill("SIGKILL");
    await exited(b);
    ticker.tick();
    expect(rec.events).toEqual([]);
    writeFileSync(file, `${c.pid}\n`);
    ticker.tick();
    stop();
    expect(ticker.size).toBe(0);
    c.kill("SIGKILL");
    await exited(c);
    ticker.tick();
    expect(rec.events).toEqual([]);
  });

  it("knows a child medic started is dead from its exit, with no tick (the ticker's period is an hour)", async () => {
    const child = await medicChild();
    const file = pidFile(child.pid);
    const ticker = hourTicker();
    const rec = recorder();
    const stop = watchPidFile(file, rec.onEvent, ticker);
    try {
      // A child is not polled at all.
      expect(ticker.size).toBe(0);
      expect(ticker.armed).toBe(false);
      process.kill(child.pid, "SIGKILL");
      await child.exit;
      // The exit was emitted, and with it the event: no tick ran, none was due for an hour.
      expect(rec.events).toEqual([exitedOf(child.pid, file)]);
      // Then the pid file names a dead pid: the watch waits on the ticker for the next one to appear.
      expect(ticker.size).toBe(1);
    } finally {
      stop();
    }
    expect(ticker.armed).toBe(false);
  });

  it("finds a process medic did not start on the shared ticker: one timer for every watch, looking every tick", async () => {
    const [a, b] = [sleeper(), sleeper()];
    const [fileA, fileB] = [pidFile(a.pid), pidFile(b.pid)];
    const ticker = new PidTicker(() => 10);
    const [recA, recB] = [recorder(), recorder()];
    const stops = [watchPidFile(fileA, recA.onEvent, ticker), watchPidFile(fileB, recB.onEvent, ticker)];
    try {
      expect(ticker.size).toBe(2);
      expect(ticker.armed).toBe(true);
      const nextA = recA.next();
      a.kill("SIGKILL");
      await nextA;
      expect(recA.events).toEqual([exitedOf(a.pid!, fileA)]);
      expect(recB.events).toEqual([]);
      const nextB = recB.next();
      b.kill("SIGKILL");
      await nextB;
      expect(recB.events).toEqual([exitedOf(b.pid!, fileB)]);
    } finally {
      stops.forEach((stop) => stop());
    }
    expect(ticker.size).toBe(0);
    expect(ticker.armed).toBe(false);
  });

  it("after a restart of medic (the service is not its child), its watch finds the death on the ticker", async () => {
    const pid = await orphan();
    const file = pidFile(pid);
    // What the earlier medic recorded when it started the service.
    await writeIdentity(file, identityNow(pid, "sleep", true)!);
    const ticker = new PidTicker(() => 10);
    const rec = recorder();
    const stop = watchPidFile(file, rec.onEvent, ticker);
    try {
      expect(ticker.size).toBe(1);
      const next = rec.next();
      process.kill(pid, "SIGKILL");
      await next;
      expect(rec.events).toEqual([exitedOf(pid, file)]);
    } finally {
      stop();
    }
  });

  it("never takes a pid its identity record says is another process for the watched one", async () => {
    const other = sleeper();
    const file = pidFile(other.pid);
    // medic's record is for this pid with another start time: the pid was reused since medic's process died.
    const record = identityNow(other.pid!, "sleep", true)!;
    await writeIdentity(file, { ...record, startTicks: record.startTicks - 1 });
    const ticker = hourTicker();
    const rec = recorder();
    const stop = watchPidFile(file, rec.onEvent, ticker);
    try {
      ticker.tick();
      other.kill("SIGKILL");
      await exited(other);
      ticker.tick();
      expect(rec.events).toEqual([]);
      // The same watch does report the process its record names (so the silence above is the record's doing).
      const mine = sleeper();
      await writeIdentity(file, identityNow(mine.pid!, "sleep", true)!);
      writeFileSync(file, `${mine.pid}\n`);
      ticker.tick();
      mine.kill("SIGKILL");
      await exited(mine);
      ticker.tick();
      expect(rec.events).toEqual([exitedOf(mine.pid!, file)]);
    } finally {
      stop();
    }
  });

  it("unwatching a child leaves no listener on its exit and no timer, and its death says nothing", async () => {
    const before = childExitListenerCount();
    const child = await medicChild();
    const file = pidFile(child.pid);
    const ticker = hourTicker();
    const rec = recorder();
    const stop = watchPidFile(file, rec.onEvent, ticker);
    expect(childExitListenerCount()).toBe(before + 1);
    stop();
    expect(childExitListenerCount()).toBe(before);
    expect(ticker.armed).toBe(false);
    process.kill(child.pid, "SIGKILL");
    await child.exit;
    expect(rec.events).toEqual([]);
  });
});

describe("adaptivePeriodMs", () => {
  it("looks every PID_TICK_MIN_MS at a few pids and bounds the reads a second at many", () => {
    expect(adaptivePeriodMs(1)).toBe(PID_TICK_MIN_MS);
    expect(adaptivePeriodMs(20)).toBe(PID_TICK_MIN_MS);
    for (const n of [100, 500, 5000]) expect((n * 1000) / adaptivePeriodMs(n)).toBeLessThanOrEqual(PID_READS_PER_SECOND);
    expect(adaptivePeriodMs(5000)).toBe(5000);
  });
});
